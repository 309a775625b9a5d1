/* log.h - log lines on stderr, which every web server puts in its error log.
 *
 * One line per request (method, path, status, duration, user, model, tokens, error) and a few
 * start-up and shutdown messages. Each line is written with a single write(2), so lines
 * from different threads never interleave. Callers never pass secrets: messages built
 * from upstream errors are already free of keys (backend.h). */
#ifndef DC_LOG_H
#define DC_LOG_H

/* A free-form line: "docchat[pid]: <message>". */
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define LOG_USER_MAX 128	/* longest user name shown (auth.h's AUTH_USER_MAX) */

struct log_request {
	const char *method;
	const char *path;
	int status;
	long duration_ms;
	const char *model;	/* or NULL */
	long tokens;		/* completion tokens, -1 if none */
	const char *error;	/* or NULL */
	const char *user;	/* who asked; NULL or "" for nobody or the local user */
};

/* The per-request line. */
void log_request(const struct log_request *r);

#endif
