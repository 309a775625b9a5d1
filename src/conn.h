/* conn.h - the byte pipe between docchat and the web server for one request.
 *
 * Under FastCGI it wraps a libfcgi FCGX_Request; run as plain CGI it wraps stdin,
 * stdout and the environment. Either way callers get the CGI parameters, the request
 * body, writes that report a vanished client every time (libfcgi reports a failed
 * flush only once, so the failure is remembered here), and a cheap check whether the
 * client has gone while nothing is being written. Knows nothing of HTTP semantics. */
#ifndef DC_CONN_H
#define DC_CONN_H

#include <stddef.h>
#include <stdio.h>
#include <fcgiapp.h>
#include "dc.h"

struct conn {
	FCGX_Request *fr;	/* FastCGI request, or NULL for CGI */
	FILE *in, *out;		/* CGI: stdin and stdout */
	char **env;		/* CGI parameters, NULL-terminated "NAME=value" */
	int gone;		/* a write or flush failed: the client left */
	int detached;		/* handed over with conn_detach */
};

/* Wrap an accepted FastCGI request (not owned). */
void conn_init_fcgi(struct conn *c, FCGX_Request *fr);
/* Wrap this process's CGI environment, stdin and stdout. */
void conn_init_cgi(struct conn *c, char **env);

/* A CGI parameter, or NULL if unset. Valid for the request's lifetime. */
const char *conn_param(const struct conn *c, const char *name);

/* Read up to n body bytes; *got = 0 at the end of the body. */
enum dc_err conn_read(struct conn *c, char *p, size_t n, size_t *got);

/* Write (buffered) / flush to the web server. DC_HUP once the client is gone, and for
 * every call after that. */
enum dc_err conn_write(struct conn *c, const void *p, size_t n);
enum dc_err conn_flush(struct conn *c);

/* Hand the FastCGI connection over to another owner (relay.c): what libfcgi holds is
 * flushed, its streams and parameters are freed (so nothing from conn_param may be used
 * after this) and the socket is no longer libfcgi's: *fd and *request_id are the
 * caller's, who must end the request (FCGI_END_REQUEST) and close fd. DC_BADREQ when
 * the request cannot be handed over (plain CGI, or the web server keeps the connection
 * for more requests), DC_HUP when the client has gone. Afterwards c reads and writes
 * nothing (DC_HUP). */
enum dc_err conn_detach(struct conn *c, int *fd, int *request_id);

/* Has the client gone away? Checks the connection without blocking (FastCGI: the web
 * server closed the socket; CGI: the pipe to the server is broken). */
int conn_client_gone(struct conn *c);

#endif
