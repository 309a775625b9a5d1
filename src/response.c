/* response.c - status, headers and JSON replies (see response.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "conn.h"
#include "request.h"
#include "response.h"

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
	size_t len;
	const char *s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	enum dc_err rc;

	if (!s)
		return DC_NOMEM;
	rc = response_headers(r, status, "application/json", "Cache-Control: no-store\r\n");
	if (rc == DC_OK)
		rc = conn_write(r->conn, s, len);
	if (rc == DC_OK)
		rc = conn_write(r->conn, "\n", 1);
	if (rc == DC_OK)
		rc = conn_flush(r->conn);
	return rc;
}

enum dc_err response_error(struct request *r, int status, const char *fmt, ...)
{
	char msg[DC_ERRMAX];
	json_object *obj;
	va_list ap;
	enum dc_err rc;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	snprintf(r->error, sizeof r->error, "%s", msg);
	obj = json_object_new_object();
	if (!obj)
		return DC_NOMEM;
	json_object_object_add(obj, "error", json_object_new_string(msg));
	rc = response_json(r, status, obj);
	json_object_put(obj);
	return rc;
}

enum dc_err response_empty(struct request *r, int status, const char *extra)
{
	enum dc_err rc = response_headers(r, status, NULL, extra);

	return rc == DC_OK ? conn_flush(r->conn) : rc;
}
