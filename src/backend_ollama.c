/* backend_ollama.c - the Ollama backend: /api/chat streamed as NDJSON.
 *
 * Each line of the reply is one JSON object: {"message":{"content":"..."},"done":false}
 * while the answer grows, then one with "done":true, "done_reason" and the token
 * counts; {"error":"..."} reports a failure, before or during the answer. Blank lines
 * are skipped and nothing after the done line counts. Everything from the wire is
 * checked here: JSON shape, UTF-8 of the text, line length. HTTP itself is
 * http_stream.c's business; what happens to the text is the token callback's. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "backend_ollama.h"
#include "config.h"
#include "http_stream.h"
#include "utf8.h"

#define OLLAMA_EXCERPT_MAX 100		/* bytes of a bad line quoted in an error */
#define OLLAMA_MESSAGE_MAX 400		/* bytes of the server's error message kept */
#define OLLAMA_URL_MAX 8192
#define OLLAMA_BODY_MAX (64 * 1024 * 1024)
#define OLLAMA_LIST_MAX (16 * 1024 * 1024)
#define OLLAMA_LIST_EXTRA_S 10		/* listing: total limit past the connect timeout */
#define OLLAMA_CONNECT_DEFAULT_S 10	/* when the config leaves it unset */

void ollama_parser_init(struct ollama_parser *p, const struct backend_cb *cb,
			struct backend_result *res)
{
	lines_init(&p->lines, OLLAMA_LINE_MAX);
	p->done = 0;
	p->failed = 0;
	p->cb = cb;
	p->res = res;
	p->err = NULL;
	p->errlen = 0;
	res->finish_reason[0] = '\0';
	res->prompt_tokens = -1;
	res->completion_tokens = -1;
}

void ollama_parser_free(struct ollama_parser *p)
{
	lines_free(&p->lines);
}

/* Record that a handler wrote err, and pass its code on. */
static enum dc_err parser_fail(struct ollama_parser *p, enum dc_err rc)
{
	p->failed = 1;
	return rc;
}

static enum dc_err malformed(struct ollama_parser *p, const char *d, size_t n)
{
	char ex[OLLAMA_EXCERPT_MAX + 1];

	http_stream_quote(d, n, OLLAMA_EXCERPT_MAX, ex, sizeof(ex));
	return parser_fail(p, dc_fail(p->err, p->errlen, DC_UPSTREAM,
				      "ollama: malformed data from the model server: %s", ex));
}

/* {"error":"..."}: the message is the string; anything else is quoted whole. */
static enum dc_err upstream_error(struct ollama_parser *p, struct json_object *e,
				  const char *d, size_t n)
{
	char msg[OLLAMA_MESSAGE_MAX + 1];

	if (json_object_is_type(e, json_type_string))
		http_stream_quote(json_object_get_string(e), (size_t)json_object_get_string_len(e),
				  OLLAMA_MESSAGE_MAX, msg, sizeof(msg));
	else
		http_stream_quote(d, n, OLLAMA_MESSAGE_MAX, msg, sizeof(msg));
	return parser_fail(p, dc_fail(p->err, p->errlen, DC_UPSTREAM, "ollama: %s",
				      msg[0] ? msg : "the model server reported an error"));
}

static enum dc_err emit_token(struct ollama_parser *p, const char *s, size_t len)
{
	enum dc_err rc;

	if (!utf8_valid(s, len))
		return parser_fail(p, dc_fail(p->err, p->errlen, DC_UPSTREAM,
			"ollama: the model server sent text that is not valid UTF-8"));
	rc = p->cb->token(p->cb->ud, s, len);
	if (rc != DC_OK)
		return parser_fail(p, dc_fail(p->err, p->errlen, rc, "ollama: stopped: %s",
					      dc_strerror(rc)));
	return DC_OK;
}

/* A non-negative integer member of o into *out; anything else leaves *out alone. */
static void read_count(struct json_object *o, const char *key, long *out)
{
	struct json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return;
	n = json_object_get_int64(v);
	if (n >= 0 && n <= (int64_t)0x7fffffff)
		*out = (long)n;
}

/* message.content of one line, if any. */
static enum dc_err handle_message(struct ollama_parser *p, struct json_object *root,
				  const char *d, size_t n)
{
	struct json_object *msg, *content;
	size_t len;

	if (!json_object_object_get_ex(root, "message", &msg) ||
	    json_object_is_type(msg, json_type_null))
		return DC_OK;
	if (!json_object_is_type(msg, json_type_object))
		return malformed(p, d, n);
	if (!json_object_object_get_ex(msg, "content", &content) ||
	    json_object_is_type(content, json_type_null))
		return DC_OK;
	if (!json_object_is_type(content, json_type_string))
		return malformed(p, d, n);
	len = (size_t)json_object_get_string_len(content);
	if (len == 0)
		return DC_OK;
	return emit_token(p, json_object_get_string(content), len);
}

/* "done":true with done_reason and the counts. */
static void handle_done(struct ollama_parser *p, struct json_object *root)
{
	struct json_object *done, *reason;

	if (!json_object_object_get_ex(root, "done", &done) ||
	    !json_object_is_type(done, json_type_boolean) || !json_object_get_boolean(done))
		return;
	p->done = 1;
	if (json_object_object_get_ex(root, "done_reason", &reason) &&
	    json_object_is_type(reason, json_type_string))
		http_stream_quote(json_object_get_string(reason),
				  (size_t)json_object_get_string_len(reason),
				  sizeof(p->res->finish_reason) - 1, p->res->finish_reason,
				  sizeof(p->res->finish_reason));
	read_count(root, "prompt_eval_count", &p->res->prompt_tokens);
	read_count(root, "eval_count", &p->res->completion_tokens);
}

static int is_blank(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] != ' ' && s[i] != '\t')
			return 0;
	}
	return 1;
}

static enum dc_err on_line(void *ud, const char *line, size_t len)
{
	struct ollama_parser *p = ud;
	struct json_object *root, *e;
	enum dc_err rc;

	if (p->done || is_blank(line, len))
		return DC_OK;
	root = http_stream_json_object(line, len);
	if (!root)
		return malformed(p, line, len);
	if (json_object_object_get_ex(root, "error", &e) && !json_object_is_type(e, json_type_null))
		rc = upstream_error(p, e, line, len);
	else
		rc = handle_message(p, root, line, len);
	if (rc == DC_OK)
		handle_done(p, root);
	json_object_put(root);
	return rc;
}

/* Map what lines_feed / lines_finish returned. */
static enum dc_err lines_result(struct ollama_parser *p, enum dc_err rc)
{
	if (rc == DC_OK || p->failed)
		return rc;
	p->failed = 1;
	if (rc == DC_TOOBIG)
		return dc_fail(p->err, p->errlen, DC_UPSTREAM,
			       "ollama: a line from the model server exceeds 1 MiB");
	return dc_fail(p->err, p->errlen, rc, "ollama: %s", dc_strerror(rc));
}

enum dc_err ollama_parser_feed(struct ollama_parser *p, const char *data, size_t n,
			       char *err, size_t errlen)
{
	p->err = err;
	p->errlen = errlen;
	return lines_result(p, lines_feed(&p->lines, data, n, on_line, p));
}

enum dc_err ollama_parser_finish(struct ollama_parser *p, char *err, size_t errlen)
{
	enum dc_err rc;

	p->err = err;
	p->errlen = errlen;
	rc = lines_result(p, lines_finish(&p->lines, on_line, p));
	if (rc != DC_OK)
		return rc;
	if (p->done)
		return DC_OK;
	return dc_fail(err, errlen, DC_UPSTREAM,
		       "ollama: the model server closed the stream before the answer was complete");
}

/* Add v under key; takes v (NULL: allocation failed). Non-zero on failure. */
static int json_add(struct json_object *o, const char *key, struct json_object *v)
{
	if (!v)
		return -1;
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

static int json_push(struct json_object *a, struct json_object *v)
{
	if (!v)
		return -1;
	if (json_object_array_add(a, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

/* A number as JSON with the digits a person would write ("0.2", not 0.2000000001). */
static struct json_object *json_number(double d)
{
	char text[32];

	if (snprintf(text, sizeof(text), "%.6g", d) >= (int)sizeof(text))
		return NULL;
	return json_object_new_double_s(d, text);
}

static struct json_object *json_message(const struct backend_msg *m)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (json_add(o, "role", json_object_new_string(m->role)) ||
	    json_add(o, "content", json_object_new_string(m->content ? m->content : ""))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static enum dc_err check_req(const struct backend_req *req, char *err, size_t errlen)
{
	size_t i;

	if (!req->model || !req->model[0])
		return dc_fail(err, errlen, DC_BADREQ, "ollama: no model was named");
	for (i = 0; i < req->nmsgs; i++) {
		if (!req->msgs[i].role || !req->msgs[i].role[0])
			return dc_fail(err, errlen, DC_BADREQ, "ollama: message %zu has no role",
				       i + 1);
	}
	return DC_OK;
}

/* options.temperature and options.num_predict, only when the request sets them. */
static int add_options(struct json_object *root, const struct backend_req *req)
{
	struct json_object *opts;
	int temp = req->temperature >= 0 && isfinite(req->temperature);

	if (!temp && req->max_tokens <= 0)
		return 0;
	opts = json_object_new_object();
	if (json_add(root, "options", opts))
		return -1;
	if (temp && json_add(opts, "temperature", json_number(req->temperature)))
		return -1;
	if (req->max_tokens > 0 &&
	    json_add(opts, "num_predict", json_object_new_int64(req->max_tokens)))
		return -1;
	return 0;
}

enum dc_err ollama_body_build(const struct backend_req *req, struct buf *out,
			      char *err, size_t errlen)
{
	struct json_object *root, *msgs;
	const char *text;
	size_t i, len;
	enum dc_err rc;

	rc = check_req(req, err, errlen);
	if (rc != DC_OK)
		return rc;
	rc = DC_NOMEM;
	root = json_object_new_object();
	if (!root || json_add(root, "model", json_object_new_string(req->model)))
		goto out;
	msgs = json_object_new_array();
	if (json_add(root, "messages", msgs))
		goto out;
	for (i = 0; i < req->nmsgs; i++) {
		if (json_push(msgs, json_message(&req->msgs[i])))
			goto out;
	}
	if (json_add(root, "stream", json_object_new_boolean(1)) || add_options(root, req))
		goto out;
	text = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN |
						 JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (!text)
		goto out;
	rc = buf_append(out, text, len);
out:
	json_object_put(root);
	if (rc == DC_TOOBIG)
		return dc_fail(err, errlen, rc, "ollama: the request is too large");
	if (rc != DC_OK)
		return dc_fail(err, errlen, rc, "ollama: out of memory");
	return DC_OK;
}

enum dc_err ollama_models_parse(const char *body, size_t len, char ***names, size_t *n,
				char *err, size_t errlen)
{
	return http_stream_names("ollama", body, len, "models", "name", names, n, err, errlen);
}

static enum dc_err feed_parser(void *ud, const char *p, size_t n, char *err, size_t errlen)
{
	return ollama_parser_feed(ud, p, n, err, errlen);
}

static enum dc_err collect_list(void *ud, const char *p, size_t n, char *err, size_t errlen)
{
	enum dc_err rc = buf_append(ud, p, n);

	if (rc == DC_TOOBIG)
		return dc_fail(err, errlen, DC_UPSTREAM,
			       "ollama: the model list is larger than %d MiB",
			       OLLAMA_LIST_MAX / (1024 * 1024));
	if (rc != DC_OK)
		return dc_fail(err, errlen, rc, "ollama: out of memory");
	return DC_OK;
}

/* "{ollama_url}{path}" into url. */
static enum dc_err make_url(const struct config *cfg, const char *path, struct buf *url,
			    char *err, size_t errlen)
{
	if (!cfg->ollama_url || !cfg->ollama_url[0])
		return dc_fail(err, errlen, DC_BADREQ,
			       "ollama: no server URL is configured (DOCCHAT_OLLAMA_URL)");
	if (buf_printf(url, "%s%s", cfg->ollama_url, path) != DC_OK)
		return dc_fail(err, errlen, DC_BADREQ, "ollama: the server URL is too long");
	return DC_OK;
}

static int connect_s(const struct config *cfg)
{
	return cfg->upstream_connect_s > 0 ? cfg->upstream_connect_s : OLLAMA_CONNECT_DEFAULT_S;
}

static enum dc_err parser_finish(void *p, char *err, size_t errlen)
{
	return ollama_parser_finish(p, err, errlen);
}

static void parser_free(void *p)
{
	if (p)
		ollama_parser_free(p);
	free(p);
}

enum dc_err backend_ollama_open(const struct config *cfg, const struct backend_req *req,
				const struct backend_cb *cb, struct backend_result *res,
				struct backend_http *h, char *err, size_t errlen)
{
	struct ollama_parser *parser = malloc(sizeof *parser);
	enum dc_err rc;

	backend_http_init(h, OLLAMA_URL_MAX, OLLAMA_BODY_MAX, 0);
	if (!parser)
		return dc_fail(err, errlen, DC_NOMEM, "ollama: out of memory");
	ollama_parser_init(parser, cb, res);
	h->parser = parser;
	h->finish = parser_finish;
	h->parser_free = parser_free;
	rc = make_url(cfg, "/api/chat", &h->url, err, errlen);
	if (rc == DC_OK)
		rc = ollama_body_build(req, &h->body, err, errlen);
	if (rc != DC_OK)
		return rc;
	h->headers[0] = "Accept: application/x-ndjson";
	h->headers[1] = "Content-Type: application/json";
	h->headers[2] = NULL;
	backend_http_ready(h, "ollama", NULL, connect_s(cfg), cfg->upstream_idle_s, feed_parser,
			   parser, cb);
	return DC_OK;
}

enum dc_err backend_ollama_list_models(const struct config *cfg, char ***names, size_t *n,
				       char *err, size_t errlen)
{
	static const char *const headers[] = { "Accept: application/json", NULL };
	struct http_stream_req hreq;
	struct buf url, body;
	enum dc_err rc;

	*names = NULL;
	*n = 0;
	buf_init(&url, OLLAMA_URL_MAX);
	buf_init(&body, OLLAMA_LIST_MAX);
	rc = make_url(cfg, "/api/tags", &url, err, errlen);
	if (rc != DC_OK)
		goto out;
	memset(&hreq, 0, sizeof(hreq));
	hreq.provider = "ollama";
	hreq.url = buf_str(&url);
	hreq.headers = headers;
	hreq.connect_s = connect_s(cfg);
	hreq.total_s = connect_s(cfg) + OLLAMA_LIST_EXTRA_S;
	hreq.data = collect_list;
	hreq.data_ud = &body;
	rc = http_stream_run(&hreq, NULL, err, errlen);
	if (rc == DC_OK)
		rc = ollama_models_parse(buf_str(&body), body.len, names, n, err, errlen);
out:
	buf_free(&body);
	buf_free(&url);
	return rc;
}
