/* fuzz_request.c - a chat request as a client sends it: the JSON body (request.c) and
 * the checks of POST|GET /chat/{id}/stream (api_chat_check_input), on any bytes.
 *
 * Each input is tried three ways through a CGI-style conn (body from memory, reply
 * into memory): as the body of a POST, as the query string of the GET form (up to a
 * first NUL, as a CGI variable would end there), and as a body read by
 * request_json_body with an empty body allowed (sessions). Checked: an accepted
 * request got no reply yet (the stream would start) and, as a POST, has a question
 * that is a non-blank string in valid UTF-8 within the limit; a refused one got
 * exactly one 400 or 413 reply whose body is a JSON object {"error": "..."} in valid
 * UTF-8, and the error is recorded for the log line; request_json_body gives an
 * object or an error with a cause, never both. */
#include "fuzz.h"

#include <json-c/json.h>

#include "api.h"
#include "config.h"
#include "conn.h"
#include "request.h"

#define FUZZ_MAX_QUESTION "256"	/* small, so that the limit is reached too */

static struct config cfg;
static int ready;

static void setup(void)
{
	char err[DC_ERRMAX];

	unsetenv("DOCCHAT_CONFIG");
	if (config_load(&cfg, err, sizeof err) != DC_OK ||
	    config_set(&cfg, "DOCCHAT_MAX_QUESTION", FUZZ_MAX_QUESTION, err,
		       sizeof err) != DC_OK) {
		fprintf(stderr, "fuzz_request: %s\n", err);
		abort();
	}
	ready = 1;
}

struct exchange {
	struct conn conn;
	struct request r;
	char *out;		/* what docchat wrote back */
	size_t outlen;
	char *env[6];
	char method[32], cl[64], query[16384 + 16];
};

/* A request with the given method, query (may be NULL) and body. */
static void start(struct exchange *x, const char *method, const char *query,
		  const char *body, size_t len)
{
	static char path[] = "PATH_INFO=/chat/00000000-0000-4000-8000-000000000000/stream";
	static char ctype[] = "CONTENT_TYPE=application/json";
	size_t k = 0;

	memset(x, 0, sizeof *x);
	snprintf(x->method, sizeof x->method, "REQUEST_METHOD=%s", method);
	snprintf(x->cl, sizeof x->cl, "CONTENT_LENGTH=%zu", len);
	x->env[k++] = x->method;
	x->env[k++] = path;
	x->env[k++] = ctype;
	x->env[k++] = x->cl;
	if (query) {
		snprintf(x->query, sizeof x->query, "QUERY_STRING=%s", query);
		x->env[k++] = x->query;
	}
	x->env[k] = NULL;
	x->conn.env = x->env;
	x->conn.in = fmemopen((void *)(len ? body : "-"), len ? len : 1, "r");
	x->conn.out = open_memstream(&x->out, &x->outlen);
	if (!x->conn.in || !x->conn.out)
		abort();
	request_init(&x->r, &x->conn, &cfg, NULL);
}

static void finish(struct exchange *x)
{
	request_free(&x->r);
	fclose(x->conn.in);
	fclose(x->conn.out);
	free(x->out);
}

/* The reply to a refused request: one 4xx with a JSON error body. */
static void check_refusal(struct exchange *x)
{
	const char *body;
	json_tokener *tok;
	json_object *o, *e;

	fflush(x->conn.out);
	FUZZ_CHECK(x->r.headers_sent);
	FUZZ_CHECK(x->r.status == 400 || x->r.status == 413);
	FUZZ_CHECK(x->r.error[0] != '\0');
	FUZZ_CHECK(x->outlen > 12 && strncmp(x->out, "Status: 4", 9) == 0);
	body = strstr(x->out, "\r\n\r\n");
	FUZZ_CHECK(body != NULL);
	body += 4;
	FUZZ_CHECK(fuzz_utf8_valid(body, x->outlen - (size_t)(body - x->out)));
	tok = json_tokener_new();
	FUZZ_CHECK(tok != NULL);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, body, (int)(x->outlen - (size_t)(body - x->out)));
	FUZZ_CHECK(o != NULL && json_object_is_type(o, json_type_object));
	FUZZ_CHECK(json_object_object_get_ex(o, "error", &e) &&
		   json_object_is_type(e, json_type_string) && json_object_get_string_len(e) > 0);
	FUZZ_CHECK(json_object_object_length(o) == 1);
	json_object_put(o);
	json_tokener_free(tok);
}

/* An accepted POST body has the question the checks promise. */
static void check_question(const char *body)
{
	json_object *o = json_tokener_parse(body), *q;
	const char *s;
	size_t n;

	FUZZ_CHECK(o != NULL && json_object_object_get_ex(o, "question", &q));
	FUZZ_CHECK(json_object_is_type(q, json_type_string));
	s = json_object_get_string(q);
	n = (size_t)json_object_get_string_len(q);
	FUZZ_CHECK(n > 0 && n <= cfg.max_question && fuzz_is_cstring(s, n));
	FUZZ_CHECK(strspn(s, " \t\r\n") < n);
	FUZZ_CHECK(fuzz_utf8_valid(s, n));
	json_object_put(o);
}

static void check_chat(const char *method, const char *query, const char *body, size_t len)
{
	struct exchange x;

	start(&x, method, query, body, len);
	if (api_chat_check_input(&x.r)) {
		fflush(x.conn.out);
		FUZZ_CHECK(!x.r.headers_sent && x.r.status == 0 && x.outlen == 0);
		if (!query)
			check_question(body);
	} else {
		check_refusal(&x);
	}
	finish(&x);
}

static void check_json_body(const char *body, size_t len)
{
	struct exchange x;
	json_object *o = NULL;
	char err[DC_ERRMAX] = "";
	enum dc_err rc;

	start(&x, "POST", NULL, body, len);
	rc = request_json_body(&x.r, 1, &o, err, sizeof err);
	if (rc == DC_OK) {
		FUZZ_CHECK(o != NULL && json_object_is_type(o, json_type_object));
		FUZZ_CHECK(x.r.body_len == len);
	} else {
		FUZZ_CHECK(o == NULL);
		FUZZ_CHECK(rc == DC_BADREQ || rc == DC_TOOBIG);
		FUZZ_CHECK(err[0] != '\0' && fuzz_utf8_valid(err, strlen(err)));
	}
	json_object_put(o);
	finish(&x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (!ready)
		setup();
	s = fuzz_dup(data, size);
	check_chat("POST", NULL, s, size);
	if (strlen(s) < 16384)
		check_chat("GET", s, "", 0);
	check_json_body(s, size);
	free(s);
	return 0;
}
