/* dc.c - names for docchat's error codes and the helper that fills an error buffer. */
#include <stdarg.h>
#include <stdio.h>

#include "dc.h"

const char *dc_strerror(enum dc_err e)
{
	switch (e) {
	case DC_OK: return "ok";
	case DC_NOMEM: return "out of memory";
	case DC_SYSTEM: return "system error";
	case DC_HUP: return "client went away";
	case DC_UPSTREAM: return "model server error";
	case DC_TIMEOUT: return "model server timed out";
	case DC_BADREQ: return "bad request";
	case DC_NOTFOUND: return "not found";
	case DC_TOOBIG: return "too large";
	case DC_DB: return "database error";
	case DC_ABORT: return "aborted";
	}
	return "unknown error";
}

enum dc_err dc_fail(char *err, size_t errlen, enum dc_err code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		if (vsnprintf(err, errlen, fmt, ap) < 0)
			err[0] = '\0';
		va_end(ap);
	}
	return code;
}
