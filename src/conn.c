/* conn.c - FastCGI or CGI byte pipe for one request (see conn.h).
 *
 * Two libfcgi traps are handled here and nowhere else: FCGX_FFlush returns -1 only on the
 * call whose write failed, so the failure is latched in c->gone and FCGX_GetError is
 * checked after every write; and libfcgi never tells the application that the web
 * server closed the connection while nothing is being written, so conn_client_gone
 * peeks at the request's socket, which the libfcgi header marks private. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"

void conn_init_fcgi(struct conn *c, FCGX_Request *fr)
{
	memset(c, 0, sizeof *c);
	c->fr = fr;
	c->env = fr->envp;
}

void conn_init_cgi(struct conn *c, char **env)
{
	memset(c, 0, sizeof *c);
	c->in = stdin;
	c->out = stdout;
	c->env = env;
}

const char *conn_param(const struct conn *c, const char *name)
{
	size_t n = strlen(name);

	if (!c->env)
		return NULL;
	for (char **e = c->env; *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

enum dc_err conn_read(struct conn *c, char *p, size_t n, size_t *got)
{
	int r;

	*got = 0;
	if (c->detached)
		return DC_HUP;
	if (n == 0)
		return DC_OK;
	if (c->fr) {
		r = FCGX_GetStr(p, n > 1 << 30 ? 1 << 30 : (int)n, c->fr->in);
		if (r < 0)
			return DC_SYSTEM;
		*got = (size_t)r;
		return DC_OK;
	}
	*got = fread(p, 1, n, c->in);
	return ferror(c->in) ? DC_SYSTEM : DC_OK;
}

static int fcgi_failed(struct conn *c)
{
	return FCGX_GetError(c->fr->out) != 0;
}

enum dc_err conn_write(struct conn *c, const void *p, size_t n)
{
	const char *s = p;

	if (c->gone)
		return DC_HUP;
	while (n > 0) {
		int chunk = n > 1 << 20 ? 1 << 20 : (int)n;

		if (c->fr) {
			if (FCGX_PutStr(s, chunk, c->fr->out) != chunk || fcgi_failed(c))
				c->gone = 1;
		} else if (fwrite(s, 1, (size_t)chunk, c->out) != (size_t)chunk) {
			c->gone = 1;
		}
		if (c->gone)
			return DC_HUP;
		s += chunk;
		n -= (size_t)chunk;
	}
	return DC_OK;
}

enum dc_err conn_flush(struct conn *c)
{
	if (c->gone)
		return DC_HUP;
	if (c->fr) {
		if (FCGX_FFlush(c->fr->out) != 0 || fcgi_failed(c))
			c->gone = 1;
	} else if (fflush(c->out) != 0) {
		c->gone = 1;
	}
	return c->gone ? DC_HUP : DC_OK;
}

enum dc_err conn_detach(struct conn *c, int *fd, int *request_id)
{
	FCGX_Request *fr = c->fr;

	if (!fr || fr->keepConnection || fr->ipcFd < 0 || c->detached)
		return DC_BADREQ;
	if (conn_flush(c) != DC_OK)
		return DC_HUP;
	*fd = fr->ipcFd;
	*request_id = fr->requestId;
	/* Free libfcgi's streams and parameters but keep the socket; with no socket left,
	 * the worker's next accept finishes nothing and accepts a new connection. */
	FCGX_Free(fr, 0);
	fr->ipcFd = -1;
	c->env = NULL;
	c->detached = 1;
	c->gone = 1;
	return DC_OK;
}

/* The web server closed the FastCGI connection: readable with nothing to read, or a
 * hang-up flag. Data waiting (a stray record) is not a close. */
static int socket_closed(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };
	char byte;
	ssize_t r;

	if (poll(&pfd, 1, 0) <= 0)
		return 0;
	if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))
		return 1;
	if (!(pfd.revents & (POLLIN | POLLRDHUP)))
		return 0;
	r = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* CGI: the web server reads our stdout through a pipe or socket; when it is gone the
 * descriptor reports an error or hang-up for writing. */
static int output_broken(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	if (poll(&pfd, 1, 0) <= 0)
		return 0;
	return (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
}

int conn_client_gone(struct conn *c)
{
	if (c->gone)
		return 1;
	if (c->fr) {
		if (c->fr->ipcFd >= 0 && socket_closed(c->fr->ipcFd))
			c->gone = 1;
	} else if (output_broken(fileno(c->out))) {
		c->gone = 1;
	}
	return c->gone;
}
