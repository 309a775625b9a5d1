/* api.c - the routing table and the life of one request: admit it (CORS, who is
 * asking, limits), route, run the handler, answer 404/405 for what no route takes, and
 * write the request's log line. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "buf.h"
#include "config.h"
#include "conn.h"
#include "cors.h"
#include "limit.h"
#include "log.h"
#include "request.h"
#include "response.h"
#include "vectors.h"

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

/* Routes open to anyone, without saying who is asking (monitoring must not need a
 * token). A wrong method on them is answered 405 as usual. */
static const struct route open_routes[] = {
	{ "GET", "/health", api_health },
};

_Static_assert(REQUEST_USER_MAX == AUTH_USER_MAX, "request.h holds any user name");
_Static_assert(LOG_USER_MAX >= AUTH_USER_MAX, "the log line shows any user name");

static int open_route(struct request *r)
{
	const struct route *route;
	enum route_match m = router_match(open_routes, sizeof open_routes / sizeof open_routes[0],
					  r, &route, NULL);

	return m == ROUTE_FOUND || m == ROUTE_BAD_METHOD;
}

#define PREFLIGHT_HEADERS_MAX 512
#define ORIGIN_SHOWN_MAX 200		/* bytes of a refused Origin quoted in the error */

/* CORS (cors.h): answer preflights, refuse cross-site writes from origins not on the
 * allowlist, and note an allowed origin so that every response, errors included,
 * carries its CORS headers. Runs before identity: preflights carry no credentials. */
static int admit_cors(struct request *r)
{
	struct cors_request q;
	struct buf extra;
	const char *list = r->cfg->cors_origins;

	q.method = r->method;
	q.origin = conn_param(r->conn, "HTTP_ORIGIN");
	q.request_method = conn_param(r->conn, "HTTP_ACCESS_CONTROL_REQUEST_METHOD");
	q.fetch_site = conn_param(r->conn, "HTTP_SEC_FETCH_SITE");
	r->cors_vary = cors_enabled(list);
	switch (cors_decide(list, &q)) {
	case CORS_PASS:
		return 1;
	case CORS_ALLOW:
		r->cors_origin = q.origin;
		return 1;
	case CORS_PREFLIGHT_OK:
		r->cors_origin = q.origin;
		buf_init(&extra, PREFLIGHT_HEADERS_MAX);
		if (cors_preflight_headers(&extra) == DC_OK)
			response_empty(r, 204, buf_str(&extra));
		else
			response_error(r, 500, "out of memory");
		buf_free(&extra);
		return 0;
	case CORS_PREFLIGHT_DENIED:
		response_error(r, 403, "origin %.*s may not call docchat (it is not in "
			       "DOCCHAT_CORS_ORIGINS)", ORIGIN_SHOWN_MAX, q.origin);
		return 0;
	case CORS_CROSS_SITE_DENIED:
		response_error(r, 403, "a %s request from another site (origin %.*s) is refused: "
			       "that origin is not in DOCCHAT_CORS_ORIGINS", r->method,
			       ORIGIN_SHOWN_MAX, q.origin && *q.origin ? q.origin : "not sent");
		return 0;
	}
	return 1;
}

/* Who is asking (auth.h): sets r->user, or answers 401/403/503. */
static int admit_identity(struct request *r)
{
	static const char challenge[] = "WWW-Authenticate: Bearer realm=\"" AUTH_REALM "\"\r\n";
	static const char invalid[] = "WWW-Authenticate: Bearer realm=\"" AUTH_REALM "\", "
				      "error=\"invalid_token\"\r\n";
	struct auth_credentials c;
	struct auth_identity who;
	char err[DC_ERRMAX];

	if (open_route(r))
		return 1;
	c.remote_user = conn_param(r->conn, "REMOTE_USER");
	c.auth_type = conn_param(r->conn, "AUTH_TYPE");
	c.authorization = conn_param(r->conn, "HTTP_AUTHORIZATION");
	switch (auth_identify(r->store, strcmp(r->cfg->auth, "required") == 0, &c, &who, err,
			      sizeof err)) {
	case AUTH_OK:
		memcpy(r->user_buf, who.user, sizeof r->user_buf);
		r->user = r->user_buf;
		return 1;
	case AUTH_MISSING:
		response_error_with(r, 401, challenge, "authentication required: sign in through "
				    "the web server, or send Authorization: Bearer <token>");
		snprintf(r->error, sizeof r->error, "%s", err);	/* the detail, for the log */
		return 0;
	case AUTH_INVALID:
		response_error_with(r, 401, invalid, "%s", err);
		return 0;
	case AUTH_BAD_USER:
		response_error(r, 403, "%s", err);
		return 0;
	case AUTH_UNAVAILABLE:
		response_error(r, 503, "%s", err);
		return 0;
	}
	return 0;
}

/* Checks every request passes before it is routed, in order; each step that refuses a
 * request has answered it (401, 429, a CORS preflight, ...) and returns 0. */
static int admit(struct request *r)
{
	/* identity and CORS: */
	if (!admit_cors(r) || !admit_identity(r))
		return 0;
	/* limits: */
	if (!limit_admit(r))
		return 0;
	return 1;
}

int api_handle(struct conn *conn, const struct config *cfg, struct store *st,
	       const char *dberr)
{
	struct request r;
	struct log_request line;
	int after;

	request_init(&r, conn, cfg, st);
	r.db_error = dberr;
	if (!*r.method)
		response_error(&r, 400, "no REQUEST_METHOD: docchat must be run by a web server");
	else if (admit(&r))
		dispatch(&r);
	if (r.handed_off) {
		request_free(&r);
		return API_AFTER_NOTHING;
	}
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
	line.user = r.user;
	log_request(&line);
	after = r.after;
	request_free(&r);
	return after;
}

void api_after_run(int after, const struct config *cfg, struct store *st)
{
	char err[DC_ERRMAX];

	/* Embeddings make an upload's chunks reachable by vector search; they are found by
	 * keyword meanwhile, and a failure is logged (the next upload or `docchat ingest`
	 * tries again). */
	if ((after & API_AFTER_EMBED) && st &&
	    vectors_embed_pending(st, cfg, NULL, err, sizeof err) != DC_OK)
		log_msg("embeddings after upload: %s", err);
}
