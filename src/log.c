/* log.c - log lines on stderr (see log.h). Nothing here buffers: stderr may be a pipe
 * that the web server reads, and a crash must not lose the line before it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 2048

static void log_write(char *line, int n)
{
	size_t len;
	ssize_t w;

	if (n < 0)
		return;
	len = (size_t)n < LOG_LINE_MAX - 1 ? (size_t)n : LOG_LINE_MAX - 2;
	line[len++] = '\n';
	while (len > 0) {
		w = write(STDERR_FILENO, line, len);
		if (w <= 0)
			return;
		line += w;
		len -= (size_t)w;
	}
}

/* Replace control characters (a path or an upstream message could carry a newline
 * that would forge a log line) with '?'. */
static void log_sanitize(char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i]; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = '?';
}

void log_msg(const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;
	int n, m;

	n = snprintf(line, sizeof line, "docchat[%ld]: ", (long)getpid());
	if (n < 0 || (size_t)n >= sizeof line)
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	log_sanitize(line + n, sizeof line - (size_t)n);
	n += m;
	if ((size_t)n >= sizeof line - 1)
		n = (int)sizeof line - 2;
	log_write(line, n);
}

/* The user as the log line names them: "-" for none or the local user, else the name in
 * double quotes with " and \ escaped (names may hold spaces, never control characters). */
static void quote_user(const char *user, char *out, size_t outlen)
{
	size_t o = 0;

	if (!user || !*user || outlen < 8) {
		snprintf(out, outlen, "-");
		return;
	}
	out[o++] = '"';
	for (const char *c = user; *c && o + 4 < outlen; c++) {
		if (*c == '"' || *c == '\\')
			out[o++] = '\\';
		out[o++] = *c;
	}
	out[o++] = '"';
	out[o] = '\0';
}

void log_request(const struct log_request *r)
{
	char user[2 * LOG_USER_MAX + 4];

	quote_user(r->user, user, sizeof user);
	log_msg("%s %s %d %ldms user=%s model=%s tokens=%ld%s%s",
		r->method ? r->method : "-", r->path ? r->path : "-", r->status,
		r->duration_ms, user, r->model ? r->model : "-", r->tokens,
		r->error ? " error=" : "", r->error ? r->error : "");
}
