/* request.h - one HTTP request as the web server hands it over: CGI parameters, the
 * body read within a limit, the query string, path parameters, and what the request
 * log line will say about it. Response writing lives in response.h.
 *
 * Validation at this boundary: the method and path must be present, the body must fit
 * DOCCHAT_MAX_BODY or a route's own limit such as DOCCHAT_MAX_UPLOAD (413 otherwise)
 * and, where a handler asks for JSON, parse as a JSON object (400 otherwise). Handlers
 * get trusted, typed values. */
#ifndef DC_REQUEST_H
#define DC_REQUEST_H

#include <stddef.h>
#include <time.h>
#include <json-c/json.h>
#include "dc.h"

struct conn;
struct config;
struct store;
struct buf;

#define REQUEST_MAX_PARAMS 4
#define REQUEST_PARAM_MAX 128
#define REQUEST_USER_MAX 128		/* a user name's longest length (AUTH_USER_MAX) */

struct request {
	struct conn *conn;
	const struct config *cfg;
	struct store *store;		/* this thread's database connection, or NULL */
	const char *db_error;		/* why store is NULL */
	const char *method;		/* REQUEST_METHOD */
	const char *path;		/* PATH_INFO, "/" when empty */
	const char *query;		/* QUERY_STRING, "" when unset */
	const char *user;		/* who is asking (api.c's admit, auth.h): "" for the
					 * single local user */
	char user_buf[REQUEST_USER_MAX + 1];	/* holds user once it is known */
	const char *cors_origin;	/* an allowed Origin to name in the response headers
					 * (cors.h), or NULL */
	int cors_vary;			/* responses vary by Origin (an allowlist is set) */
	char params[REQUEST_MAX_PARAMS][REQUEST_PARAM_MAX];	/* decoded path parameters */
	size_t nparams;
	char *body;			/* NUL-terminated, owned; NULL until read */
	size_t body_len;
	struct timespec start;		/* CLOCK_MONOTONIC at arrival */
	/* what happened, for the log line */
	int status;			/* status sent, 0 until then */
	int headers_sent;
	int handed_off;			/* the stream went to relay.c, which ends the request
					 * and writes its log line */
	int after;			/* enum api_after: work for after the response */
	char model[128];
	long tokens;
	char error[DC_ERRMAX];
};

/* Set up r for the request on conn; reads only the parameters. */
void request_init(struct request *r, struct conn *conn, const struct config *cfg,
		  struct store *st);
void request_free(struct request *r);

/* Read the whole body into r->body. DC_TOOBIG when CONTENT_LENGTH (or the bytes sent)
 * exceed cfg->max_body; DC_BADREQ when CONTENT_LENGTH is malformed or the body is
 * shorter than announced. err says which. */
enum dc_err request_read_body(struct request *r, char *err, size_t errlen);

/* Read the whole body like request_read_body, within max bytes instead of
 * cfg->max_body, for routes with a limit of their own (uploads: cfg->max_upload). The
 * DC_TOOBIG cause names setting (e.g. "DOCCHAT_MAX_UPLOAD"; NULL: "the limit") and
 * max; it is decided from CONTENT_LENGTH before any byte is read. */
enum dc_err request_read_body_max(struct request *r, size_t max, const char *setting,
				  char *err, size_t errlen);

/* Read the body and parse it as a JSON object; *out is owned by the caller (put it).
 * An empty body is an empty object when empty_ok, else DC_BADREQ. Invalid UTF-8, a NUL
 * byte, or a string anywhere holding \u0000 is DC_BADREQ, so strings in *out may be
 * used as C strings. */
enum dc_err request_json_body(struct request *r, int empty_ok, json_object **out,
			      char *err, size_t errlen);

/* Find name in an application/x-www-form-urlencoded query and append its decoded value
 * to out. Returns 1 if found, 0 if not, -1 if the value is malformed (bad %-escape,
 * NUL byte) or too long for out. */
int request_query_get(const char *query, const char *name, struct buf *out);

/* Decode %XX and '+' (when plus_is_space) from s[0..n) into out; -1 on a malformed or
 * NUL-producing escape, 0 on success. */
int request_url_decode(const char *s, size_t n, int plus_is_space, struct buf *out);

/* Milliseconds since the request arrived. */
long request_elapsed_ms(const struct request *r);

#endif
