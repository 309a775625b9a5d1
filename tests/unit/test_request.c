/* test_request.c - the request boundary: CGI parameters, body size limits, JSON body
 * validation, query strings and %-decoding. */
#include <stdlib.h>
#include "buf.h"
#include "check.h"
#include "config.h"
#include "conn.h"
#include "request.h"
#include "response.h"
#include "utf8.h"

static struct config cfg;

/* A CGI-style conn reading body from memory. */
static void make_conn(struct conn *c, char **env, const char *body, size_t len)
{
	memset(c, 0, sizeof *c);
	c->env = env;
	c->in = fmemopen((void *)body, len ? len : 1, "r");
	c->out = tmpfile();
}

static void close_conn(struct conn *c)
{
	fclose(c->in);
	fclose(c->out);
}

static enum dc_err parse_body(const char *body, const char *cl, json_object **out, char *err)
{
	char clbuf[64];
	char m[] = "REQUEST_METHOD=POST", pi[] = "PATH_INFO=/x";
	char *env[] = { m, pi, clbuf, NULL };
	struct conn c;
	struct request r;
	enum dc_err rc;

	snprintf(clbuf, sizeof clbuf, "CONTENT_LENGTH=%s", cl);
	make_conn(&c, env, body, strlen(body));
	request_init(&r, &c, &cfg, NULL);
	rc = request_json_body(&r, 0, out, err, DC_ERRMAX);
	request_free(&r);
	close_conn(&c);
	return rc;
}

static void test_params(void)
{
	char m[] = "REQUEST_METHOD=GET", q[] = "QUERY_STRING=a=1", x[] = "PATH_INFOX=no";
	char *env[] = { m, q, x, NULL };
	struct conn c;
	struct request r;

	make_conn(&c, env, "", 0);
	request_init(&r, &c, &cfg, NULL);
	CHECK_STR(r.method, "GET");
	CHECK_STR(r.path, "/");		/* no PATH_INFO: the root */
	CHECK_STR(r.query, "a=1");
	request_free(&r);
	close_conn(&c);
}

static void test_json_body(void)
{
	char err[DC_ERRMAX];
	json_object *o = NULL;

	CHECK_INT(parse_body("{\"question\":\"hi\"}", "17", &o, err), DC_OK);
	CHECK(o && json_object_is_type(o, json_type_object));
	json_object_put(o);
	CHECK_INT(parse_body("[1,2]", "5", &o, err), DC_BADREQ);
	CHECK_STR(err, "request body must be a JSON object");
	CHECK_INT(parse_body("{\"a\":", "5", &o, err), DC_BADREQ);
	CHECK_STR(err, "request body is not valid JSON: unexpected end");
	CHECK_INT(parse_body("{} x", "4", &o, err), DC_BADREQ);
	CHECK(strncmp(err, "request body is not valid JSON: ", 32) == 0);
	CHECK_INT(parse_body("{\"q\":\"\xc3\x28\"}", "9", &o, err), DC_BADREQ);
	CHECK(strncmp(err, "request body is not valid JSON", 30) == 0);
	CHECK_INT(parse_body("", "", &o, err), DC_BADREQ);
	CHECK_STR(err, "request body is empty; expected a JSON object");
}

static void test_body_limits(void)
{
	char err[DC_ERRMAX];
	json_object *o = NULL;

	CHECK_INT(parse_body("{}", "999999", &o, err), DC_TOOBIG);
	CHECK_STR(err, "request body of 999999 bytes exceeds the limit of 1024 bytes");
	CHECK_INT(parse_body("{}", "-1", &o, err), DC_BADREQ);
	CHECK_STR(err, "invalid Content-Length");
	CHECK_INT(parse_body("{}", "10", &o, err), DC_BADREQ);
	CHECK_STR(err, "request body ended after 2 of 10 bytes");
}

static void test_query(void)
{
	struct buf v;

	buf_init(&v, 100);
	CHECK_INT(request_query_get("a=1&question=hello+w%C3%B6rld%21&b=", "question", &v), 1);
	CHECK_STR(buf_str(&v), "hello w\xc3\xb6rld!");
	buf_reset(&v);
	CHECK_INT(request_query_get("a=1&b=", "b", &v), 1);
	CHECK_STR(buf_str(&v), "");
	CHECK_INT(request_query_get("ab=1", "a", &v), 0);
	CHECK_INT(request_query_get("", "a", &v), 0);
	CHECK_INT(request_query_get("a=%zz", "a", &v), -1);
	buf_reset(&v);
	CHECK_INT(request_query_get("a=%4", "a", &v), -1);
	buf_reset(&v);
	CHECK_INT(request_query_get("a=x%00y", "a", &v), -1);
	buf_free(&v);
}

/* Issue #5 (found by tests/fuzz/fuzz_router): an error reply that quotes a path which is
 * not UTF-8 (web servers pass %FF decoded in PATH_INFO), or that is cut inside a
 * character at DC_ERRMAX, is still valid UTF-8 and so valid JSON text: each byte that
 * starts no character becomes '?'. */
static void test_issue5_error_reply_is_utf8(void)
{
	char m[] = "REQUEST_METHOD=GET", pi[] = "PATH_INFO=/\xff\xc3" "ax\xe2\x82";
	char *env[] = { m, pi, NULL };
	char out[2048], *body;
	struct conn c;
	struct request r;
	struct buf longpath;
	size_t n;

	make_conn(&c, env, "", 0);
	request_init(&r, &c, &cfg, NULL);
	response_error(&r, 404, "no such resource: %s", r.path);
	fflush(c.out);
	rewind(c.out);
	n = fread(out, 1, sizeof out - 1, c.out);
	out[n] = '\0';
	CHECK(strstr(out, "\r\n\r\n{\"error\":\"no such resource: /??ax??\"}") != NULL);
	CHECK_STR(r.error, "no such resource: /??ax??");
	request_free(&r);
	close_conn(&c);

	buf_init(&longpath, 4096);
	CHECK_INT(buf_appends(&longpath, "/a"), DC_OK);
	for (int i = 0; i < 600; i++)
		CHECK_INT(buf_appends(&longpath, "\xc3\xa9"), DC_OK);
	make_conn(&c, env, "", 0);
	request_init(&r, &c, &cfg, NULL);
	response_error(&r, 404, "no such resource: %s", buf_str(&longpath));
	fflush(c.out);
	rewind(c.out);
	n = fread(out, 1, sizeof out - 1, c.out);
	out[n] = '\0';
	body = strstr(out, "\r\n\r\n");
	CHECK(body && utf8_valid(body, strlen(body)));
	CHECK(body && strstr(body, "\xc3\xa9?\"}") != NULL);	/* the cut character */
	request_free(&r);
	close_conn(&c);
	buf_free(&longpath);
}

/* Issue #5: a JSON string holding \u0000 reached handlers that use C strings, so a title
 * or a model name was silently cut short there ("openai:fake\u0000x" asked for
 * "openai:fake"); and json-c's UTF-8 check let overlong forms and encoded surrogates
 * through into the database. Both are DC_BADREQ now, anywhere in the body. */
static void test_issue5_json_strings(void)
{
	char err[DC_ERRMAX];
	char len[24];
	json_object *o = NULL, *v = NULL;
	static const char *const nul[] = {
		"{\"title\":\"a\\u0000b\"}",
		"{\"model\":\"openai:fake\\u0000x\"}",
		"{\"a\":[1,{\"b\":[\"ok\",\"x\\u0000\"]}]}",
	};
	static const char *const bad[] = {
		"{\"q\":\"\xc0\xaf\"}",		/* overlong "/" */
		"{\"q\":\"\xed\xa0\x80\"}",		/* an encoded surrogate */
		"{\"q\":\"\xf4\x90\x80\x80\"}",	/* past U+10FFFF */
	};

	for (size_t i = 0; i < sizeof nul / sizeof nul[0]; i++) {
		snprintf(len, sizeof len, "%zu", strlen(nul[i]));
		CHECK_INT(parse_body(nul[i], len, &o, err), DC_BADREQ);
		CHECK_STR(err, "request body: a string contains \\u0000 (NUL)");
		CHECK(o == NULL);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(len, sizeof len, "%zu", strlen(bad[i]));
		CHECK_INT(parse_body(bad[i], len, &o, err), DC_BADREQ);
		CHECK_STR(err, "request body is not valid JSON: invalid UTF-8 at byte 6");
	}
	/* An unpaired surrogate escape is valid JSON; json-c gives U+FFFD, valid UTF-8. */
	CHECK_INT(parse_body("{\"q\":\"a\\ud800b\"}", "16", &o, err), DC_OK);
	CHECK(o && json_object_object_get_ex(o, "q", &v));
	CHECK_STR(json_object_get_string(v), "a\xef\xbf\xbd" "b");
	json_object_put(o);
}

int main(void)
{
	cfg.max_body = 1024;
	RUN(test_params);
	RUN(test_json_body);
	RUN(test_body_limits);
	RUN(test_query);
	RUN(test_issue5_error_reply_is_utf8);
	RUN(test_issue5_json_strings);
	return check_summary();
}
