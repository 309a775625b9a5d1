/* response.c - status, headers and JSON replies (see response.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "conn.h"
#include "cors.h"
#include "request.h"
#include "response.h"
#include "utf8.h"

#define HEADER_MAX 4096

const char *response_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	}
	return "Unknown";
}

int response_status_for(enum dc_err e)
{
	switch (e) {
	case DC_BADREQ: return 400;
	case DC_NOTFOUND: return 404;
	case DC_TOOBIG: return 413;
	case DC_DB: return 503;
	default: return 500;
	}
}

enum dc_err response_headers(struct request *r, int status, const char *content_type,
			     const char *extra)
{
	struct buf h;
	enum dc_err rc;

	if (r->headers_sent)
		return DC_OK;
	buf_init(&h, HEADER_MAX);
	rc = buf_printf(&h, "Status: %d %s\r\nX-Content-Type-Options: nosniff\r\n", status,
			response_reason(status));
	if (rc == DC_OK && (r->cors_origin || r->cors_vary))
		rc = cors_response_headers(r->cors_origin, r->cors_vary, &h);
	if (rc == DC_OK && content_type)
		rc = buf_printf(&h, "Content-Type: %s\r\n", content_type);
	if (rc == DC_OK && extra)
		rc = buf_appends(&h, extra);
	if (rc == DC_OK)
		rc = buf_appends(&h, "\r\n");
	if (rc == DC_OK)
		rc = conn_write(r->conn, h.data, h.len);
	buf_free(&h);
	r->headers_sent = 1;
	r->status = status;
	return rc;
}

enum dc_err response_json(struct request *r, int status, json_object *obj)
{
	return response_json_with(r, status, obj, NULL);
}

enum dc_err response_json_with(struct request *r, int status, json_object *obj,
			       const char *extra)
{
	size_t len;
	const char *s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	struct buf h;
	enum dc_err rc;

	if (!s)
		return DC_NOMEM;
	buf_init(&h, HEADER_MAX);
	rc = buf_appends(&h, "Cache-Control: no-store\r\n");
	if (rc == DC_OK && extra)
		rc = buf_appends(&h, extra);
	if (rc == DC_OK)
		rc = response_headers(r, status, "application/json", buf_str(&h));
	buf_free(&h);
	if (rc == DC_OK)
		rc = conn_write(r->conn, s, len);
	if (rc == DC_OK)
		rc = conn_write(r->conn, "\n", 1);
	if (rc == DC_OK)
		rc = conn_flush(r->conn);
	return rc;
}

/* Make s valid UTF-8 in place: a byte that starts no well-formed character becomes '?'.
 * An error message may quote what the client sent (a path that is not UTF-8) or be cut
 * inside a character at DC_ERRMAX, and the reply must still be valid JSON text. */
static void scrub_utf8(char *s)
{
	size_t n = strlen(s), i = 0, k;
	unsigned long cp;

	while (i < n) {
		k = utf8_decode(s + i, n - i, &cp);
		if (k == 0) {
			s[i] = '?';
			k = 1;
		}
		i += k;
	}
}

static enum dc_err error_reply(struct request *r, int status, const char *extra,
			       const char *fmt, va_list ap)
{
	char msg[DC_ERRMAX];
	json_object *obj;
	enum dc_err rc;

	if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
		msg[0] = '\0';
	scrub_utf8(msg);
	snprintf(r->error, sizeof r->error, "%s", msg);
	obj = json_object_new_object();
	if (!obj)
		return DC_NOMEM;
	json_object_object_add(obj, "error", json_object_new_string(msg));
	rc = response_json_with(r, status, obj, extra);
	json_object_put(obj);
	return rc;
}

enum dc_err response_error(struct request *r, int status, const char *fmt, ...)
{
	va_list ap;
	enum dc_err rc;

	va_start(ap, fmt);
	rc = error_reply(r, status, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

enum dc_err response_error_with(struct request *r, int status, const char *extra,
				const char *fmt, ...)
{
	va_list ap;
	enum dc_err rc;

	va_start(ap, fmt);
	rc = error_reply(r, status, extra, fmt, ap);
	va_end(ap);
	return rc;
}

enum dc_err response_empty(struct request *r, int status, const char *extra)
{
	enum dc_err rc = response_headers(r, status, NULL, extra);

	return rc == DC_OK ? conn_flush(r->conn) : rc;
}
