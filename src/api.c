/* api.c - the routing table and the life of one request: route, run the handler,
 * answer 404/405 for what no route takes, and write the request's log line. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "buf.h"
#include "conn.h"
#include "log.h"
#include "request.h"
#include "response.h"

static const struct route routes[] = {
	{ "GET", "/health", api_health },
	{ "GET", "/models", api_models },
	{ "POST", "/sessions", api_session_create },
	{ "GET", "/sessions", api_session_list },
	{ "GET", "/sessions/{id}", api_session_get },
	{ "PATCH", "/sessions/{id}", api_session_rename },
	{ "DELETE", "/sessions/{id}", api_session_delete },
	{ "POST", "/chat/{id}/stream", api_chat_stream },
	{ "GET", "/chat/{id}/stream", api_chat_stream },
	{ "GET", "/documents", api_document_list },
	{ "POST", "/documents", api_document_upload },
	{ "GET", "/documents/{id}", api_document_get },
	{ "DELETE", "/documents/{id}", api_document_delete },
	{ "GET", "/search", api_search },
};

#define ALLOW_MAX 128

int api_need_store(struct request *r)
{
	if (r->store)
		return 0;
	response_error(r, 503, "database unavailable: %s",
		       r->db_error && *r->db_error ? r->db_error : "not open");
	return 1;
}

static void dispatch(struct request *r)
{
	const struct route *route;
	struct buf allow, extra;

	buf_init(&allow, ALLOW_MAX);
	buf_init(&extra, ALLOW_MAX + 16);
	switch (router_match(routes, sizeof routes / sizeof routes[0], r, &route, &allow)) {
	case ROUTE_FOUND:
		route->handler(r);
		break;
	case ROUTE_BAD_METHOD:
		if (buf_printf(&extra, "Allow: %s\r\n", buf_str(&allow)) == DC_OK) {
			response_headers(r, 405, "application/json", buf_str(&extra));
			snprintf(r->error, sizeof r->error, "method %s not allowed", r->method);
			conn_write(r->conn, "{\"error\":\"method not allowed\"}\n", 31);
			conn_flush(r->conn);
		}
		break;
	case ROUTE_BAD_PARAM:
		response_error(r, 400, "malformed path parameter in %s", r->path);
		break;
	case ROUTE_NOT_FOUND:
		response_error(r, 404, "no such resource: %s", r->path);
		break;
	}
	buf_free(&allow);
	buf_free(&extra);
}

/* Checks every request passes before it is routed, in order; each step that refuses a
 * request has answered it (401, 429, a CORS preflight, ...) and returns 0. */
static int admit(struct request *r)
{
	(void)r;
	/* identity and CORS: */
	/* limits: */
	return 1;
}

void api_handle(struct conn *conn, const struct config *cfg, struct store *st,
		const char *dberr)
{
	struct request r;
	struct log_request line;

	request_init(&r, conn, cfg, st);
	r.db_error = dberr;
	if (!*r.method)
		response_error(&r, 400, "no REQUEST_METHOD: docchat must be run by a web server");
	else if (admit(&r))
		dispatch(&r);
	if (!r.headers_sent)
		response_error(&r, 500, "the request produced no response");
	conn_flush(conn);
	memset(&line, 0, sizeof line);
	line.method = r.method;
	line.path = r.path;
	line.status = r.status;
	line.duration_ms = request_elapsed_ms(&r);
	line.model = r.model[0] ? r.model : NULL;
	line.tokens = r.tokens;
	line.error = r.error[0] ? r.error : NULL;
	log_request(&line);
	request_free(&r);
}
