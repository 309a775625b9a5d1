/* fuzz_router.c - routing (router.c), the query string and %-decoding (request.c), and
 * the error replies a path that matches no route gets, on any request line.
 *
 * The input reads like a request line: METHOD, a space, the path, and optionally "?"
 * and the query ("GET /sessions/abc?x=1"). The route table has api.c's patterns, plus
 * patterns with several placeholders, so that every way the matcher walks is used.
 * Checked: a found route has the request's method and one decoded, non-empty,
 * NUL-free parameter per placeholder, equal to the %-decoding of that path segment;
 * a path that matches with another method yields a non-empty Allow list; a bad or
 * unknown path is answered by a JSON error reply in valid UTF-8 (the path is quoted
 * in it). %-decoding makes no NUL from an escape, never grows the text, and undoes
 * %-encoding exactly; a query value found is within its limit and free of NUL. */
#include "fuzz.h"

#include <json-c/json.h>

#include "buf.h"
#include "conn.h"
#include "request.h"
#include "response.h"
#include "router.h"

#define FUZZ_ALLOW_MAX 128	/* as api.c */
#define FUZZ_VALUE_MAX 64

static void handler(struct request *r)
{
	(void)r;
}

static const struct route routes[] = {
	/* api.c's table */
	{ "GET", "/health", handler },
	{ "GET", "/models", handler },
	{ "POST", "/sessions", handler },
	{ "GET", "/sessions", handler },
	{ "GET", "/sessions/{id}", handler },
	{ "PATCH", "/sessions/{id}", handler },
	{ "DELETE", "/sessions/{id}", handler },
	{ "POST", "/chat/{id}/stream", handler },
	{ "GET", "/chat/{id}/stream", handler },
	{ "GET", "/documents", handler },
	{ "POST", "/documents", handler },
	{ "GET", "/documents/{id}", handler },
	{ "DELETE", "/documents/{id}", handler },
	{ "GET", "/search", handler },
	/* more shapes: several placeholders, one at the end, adjacent ones */
	{ "GET", "/a/{x}/b/{y}", handler },
	{ "PUT", "/a/{x}/b/{y}/{z}", handler },
	{ "GET", "/{w}/{x}/{y}/{z}", handler },
};

#define NROUTES (sizeof routes / sizeof routes[0])

static size_t placeholders(const char *pattern)
{
	size_t n = 0;

	for (const char *p = pattern; (p = strchr(p, '{')) != NULL; p++)
		n++;
	return n;
}

/* Segment k (from 0) of path under pattern: where pattern's k-th placeholder sits. */
static void segment_of(const char *pattern, const char *path, size_t k, const char **seg,
		       size_t *len)
{
	const char *p = pattern, *s = path;
	size_t seen = 0;

	for (;;) {
		if (*p == '{') {
			size_t n = strcspn(s, "/");

			if (seen++ == k) {
				*seg = s;
				*len = n;
				return;
			}
			p = strchr(p, '}') + 1;
			s += n;
			continue;
		}
		FUZZ_CHECK(*p == *s && *p);
		p++;
		s++;
	}
}

/* A JSON error reply to the request, as api.c sends for what no route takes. */
static void check_error_reply(struct request *r, int status, const char *fmt)
{
	struct conn *c = r->conn;
	char *out = NULL;
	size_t outlen = 0;
	const char *body;
	json_tokener *tok;
	json_object *o;

	c->out = open_memstream(&out, &outlen);
	FUZZ_CHECK(c->out != NULL);
	r->headers_sent = 0;
	response_error(r, status, fmt, r->path);
	fflush(c->out);
	body = strstr(out, "\r\n\r\n");
	FUZZ_CHECK(body != NULL);
	body += 4;
	FUZZ_CHECK(fuzz_utf8_valid(body, outlen - (size_t)(body - out)));
	tok = json_tokener_new();
	FUZZ_CHECK(tok != NULL);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, body, (int)(outlen - (size_t)(body - out)));
	FUZZ_CHECK(o != NULL && json_object_is_type(o, json_type_object));
	json_object_put(o);
	json_tokener_free(tok);
	fclose(c->out);
	c->out = NULL;
	free(out);
}

static void check_route(struct request *r)
{
	const struct route *found = NULL;
	struct buf allow, v;
	enum route_match m;

	buf_init(&allow, FUZZ_ALLOW_MAX);
	m = router_match(routes, NROUTES, r, &found, &allow);
	switch (m) {
	case ROUTE_FOUND:
		FUZZ_CHECK(found != NULL && strcmp(found->method, r->method) == 0);
		FUZZ_CHECK(r->nparams == placeholders(found->pattern));
		for (size_t k = 0; k < r->nparams; k++) {
			const char *seg;
			size_t seglen, plen = strnlen(r->params[k], REQUEST_PARAM_MAX);

			FUZZ_CHECK(plen > 0 && plen < REQUEST_PARAM_MAX);
			segment_of(found->pattern, r->path, k, &seg, &seglen);
			buf_init(&v, REQUEST_PARAM_MAX);
			FUZZ_CHECK(request_url_decode(seg, seglen, 0, &v) == 0);
			FUZZ_CHECK(v.len == plen && memcmp(v.data, r->params[k], plen) == 0);
			buf_free(&v);
		}
		break;
	case ROUTE_BAD_METHOD:
		FUZZ_CHECK(found == NULL && allow.len > 0);
		break;
	case ROUTE_BAD_PARAM:
		FUZZ_CHECK(found == NULL);
		check_error_reply(r, 400, "malformed path parameter in %s");
		break;
	case ROUTE_NOT_FOUND:
		FUZZ_CHECK(found == NULL);
		check_error_reply(r, 404, "no such resource: %s");
		break;
	}
	buf_free(&allow);
}

/* %-decoding: no NUL out, never longer, and %-encoding every byte comes back. */
static void check_decode(const uint8_t *data, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf out, enc;
	size_t i;

	buf_init(&out, size + 1);
	if (request_url_decode((const char *)data, size, 1, &out) == 0) {
		FUZZ_CHECK(out.len <= size);
		/* No escape makes a NUL (a raw one cannot reach it: CGI values are strings). */
		if (!memchr(data, '\0', size))
			FUZZ_CHECK(memchr(buf_str(&out), '\0', out.len) == NULL);
	}
	buf_free(&out);

	buf_init(&enc, 3 * size + 1);
	for (i = 0; i < size; i++) {
		char e[3] = { '%', hex[data[i] >> 4], hex[data[i] & 15] };

		if (data[i])
			FUZZ_CHECK(buf_append(&enc, e, 3) == DC_OK);
	}
	buf_init(&out, size + 1);
	FUZZ_CHECK(request_url_decode(buf_str(&enc), enc.len, 0, &out) == 0);
	for (i = 0; i < size && data[i]; i++)
		;
	if (i == size)
		FUZZ_CHECK(out.len == size && memcmp(buf_str(&out), data, size) == 0);
	buf_free(&out);
	buf_free(&enc);
}

static void check_query(const char *query)
{
	static const char *const names[] = { "q", "question", "top_k", "document_ids",
					     "mode", "model", "", "a=b" };

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		struct buf v;
		int found;

		buf_init(&v, FUZZ_VALUE_MAX);
		found = request_query_get(query, names[i], &v);
		FUZZ_CHECK(found >= -1 && found <= 1);
		if (found == 1) {
			FUZZ_CHECK(v.len <= FUZZ_VALUE_MAX);
			FUZZ_CHECK(memchr(buf_str(&v), '\0', v.len) == NULL);
		}
		buf_free(&v);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = fuzz_dup(data, size);	/* CGI variables are C strings */
	char *sp = strchr(line, ' '), *q;
	struct conn conn;
	struct request r;

	memset(&conn, 0, sizeof conn);
	memset(&r, 0, sizeof r);
	r.conn = &conn;
	r.user = "";
	r.query = "";
	if (sp) {
		*sp = '\0';
		r.method = line;
		r.path = sp + 1;
	} else {
		r.method = "GET";
		r.path = line;
	}
	q = strchr(r.path, '?');
	if (q) {
		*q = '\0';
		r.query = q + 1;
	}
	if (!*r.path)
		r.path = "/";	/* as request_init does for an empty PATH_INFO */
	check_route(&r);
	check_query(r.query);
	check_decode(data, size);
	free(line);
	return 0;
}
