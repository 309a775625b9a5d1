/* dc.h - the one error type shared by every docchat module.
 *
 * Fallible functions return an enum dc_err and, where the caller passed one, write a
 * human-readable cause into an error buffer of DC_ERRMAX bytes. The cause is what reaches
 * the user (an HTTP error body or an SSE `error` event), so it says what went wrong in
 * the user's terms: "ollama: model 'x' not found", not "request failed". */
#ifndef DC_H
#define DC_H

#include <stddef.h>

#define DC_ERRMAX 512

enum dc_err {
	DC_OK = 0,
	DC_NOMEM,	/* allocation failed */
	DC_SYSTEM,	/* a system call failed; errno-based cause in the buffer */
	DC_HUP,		/* the client went away mid-stream */
	DC_UPSTREAM,	/* the model server failed or sent something unusable */
	DC_TIMEOUT,	/* the model server was silent too long */
	DC_BADREQ,	/* the request (or a file, or a config line) is invalid */
	DC_NOTFOUND,	/* the thing asked for does not exist */
	DC_TOOBIG,	/* a size limit was hit */
	DC_DB,		/* the database failed */
	DC_ABORT	/* the caller asked to stop (shutdown) */
};

/* A short fixed name for an error code ("out of memory", ...). Never NULL. */
const char *dc_strerror(enum dc_err e);

/* Write a formatted cause into err (size errlen, may be NULL/0) and return code.
 * Lets a failing path read `return dc_fail(err, errlen, DC_BADREQ, "...", ...);`. */
enum dc_err dc_fail(char *err, size_t errlen, enum dc_err code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
