/* response.h - status lines, headers and JSON replies for one request.
 *
 * Every reply goes out as CGI-style headers ("Status: 404 Not Found") that FastCGI and
 * CGI share, always with `X-Content-Type-Options: nosniff` and with the CORS headers
 * the request earned (request.h's cors_origin and cors_vary, see cors.h). JSON bodies
 * are built with json-c by the caller and serialized here. Errors are
 * `{"error": "<message>"}`. The status and message are recorded in the request for the
 * log line. */
#ifndef DC_RESPONSE_H
#define DC_RESPONSE_H

#include <json-c/json.h>
#include "dc.h"

struct request;

/* Reason phrase for a status code ("Not Found"). */
const char *response_reason(int status);

/* Send the status and headers. content_type may be NULL (no body follows). extra is
 * NULL or more header lines, each ending in "\r\n". */
enum dc_err response_headers(struct request *r, int status, const char *content_type,
			     const char *extra);

/* A complete JSON reply; obj is not consumed. */
enum dc_err response_json(struct request *r, int status, json_object *obj);
/* The same with more header lines (extra: NULL or lines each ending in "\r\n"). */
enum dc_err response_json_with(struct request *r, int status, json_object *obj,
			       const char *extra);

/* A complete JSON error reply {"error": message}. */
enum dc_err response_error(struct request *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same with more header lines, e.g. WWW-Authenticate on a 401. */
enum dc_err response_error_with(struct request *r, int status, const char *extra,
				const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A reply with no body (204, or 405 with an Allow header in extra). */
enum dc_err response_empty(struct request *r, int status, const char *extra);

/* The HTTP status for an error code: DC_BADREQ 400, DC_NOTFOUND 404, DC_TOOBIG 413,
 * DC_DB 503, everything else 500. */
int response_status_for(enum dc_err e);

#endif
