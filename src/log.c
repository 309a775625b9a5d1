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

void log_request(const struct log_request *r)
{
	log_msg("%s %s %d %ldms model=%s tokens=%ld%s%s",
		r->method ? r->method : "-", r->path ? r->path : "-", r->status,
		r->duration_ms, r->model ? r->model : "-", r->tokens,
		r->error ? " error=" : "", r->error ? r->error : "");
}
