/* backend_openai.c - the OpenAI-compatible backend: chat completions streamed as SSE.
 *
 * The reply is Server-Sent Events: "data:" lines carry one JSON chunk each (content
 * deltas, a finish_reason, at the end a usage chunk with empty choices) and
 * "data: [DONE]" ends the answer; comment lines (": ping") and event/id/retry fields
 * change nothing here. Events are dispatched at the blank line that ends them, as the
 * SSE spec says, and also at the end of the body for a server that omits the last
 * blank line. A line that is bare JSON (some compatible servers send a plain
 * {"error":...} body with status 200) is read as an event too. Everything from the
 * wire is checked here: JSON shape, UTF-8 of the text, line length. HTTP itself is
 * http_stream.c's business; what happens to the text is the token callback's. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "backend_openai.h"
#include "config.h"
#include "http_stream.h"
#include "utf8.h"

#define OPENAI_EXCERPT_MAX 100		/* bytes of a bad line quoted in an error */
#define OPENAI_MESSAGE_MAX 400		/* bytes of the server's error message kept */
#define OPENAI_URL_MAX 8192
#define OPENAI_BODY_MAX (64 * 1024 * 1024)
#define OPENAI_AUTH_MAX 8192
#define OPENAI_LIST_MAX (16 * 1024 * 1024)
#define OPENAI_LIST_EXTRA_S 10		/* listing: total limit past the connect timeout */
#define OPENAI_CONNECT_DEFAULT_S 10	/* when the config leaves it unset */

void openai_parser_init(struct openai_parser *p, const struct backend_cb *cb,
			struct backend_result *res)
{
	lines_init(&p->lines, OPENAI_LINE_MAX);
	buf_init(&p->data, OPENAI_LINE_MAX);
	p->has_data = 0;
	p->done = 0;
	p->finished = 0;
	p->failed = 0;
	p->cb = cb;
	p->res = res;
	p->err = NULL;
	p->errlen = 0;
	res->finish_reason[0] = '\0';
	res->prompt_tokens = -1;
	res->completion_tokens = -1;
}

void openai_parser_free(struct openai_parser *p)
{
	lines_free(&p->lines);
	buf_free(&p->data);
}

/* Record that a handler wrote err, and pass its code on. */
static enum dc_err parser_fail(struct openai_parser *p, enum dc_err rc)
{
	p->failed = 1;
	return rc;
}

static enum dc_err malformed(struct openai_parser *p, const char *d, size_t n)
{
	char ex[OPENAI_EXCERPT_MAX + 1];

	http_stream_quote(d, n, OPENAI_EXCERPT_MAX, ex, sizeof(ex));
	return parser_fail(p, dc_fail(p->err, p->errlen, DC_UPSTREAM,
				      "openai: malformed data from the model server: %s", ex));
}

/* {"error": {"message": ...}} or {"error": "..."} inside the stream. */
static enum dc_err upstream_error(struct openai_parser *p, struct json_object *e,
				  const char *d, size_t n)
{
	char msg[OPENAI_MESSAGE_MAX + 1];
	struct json_object *m = NULL;

	if (json_object_is_type(e, json_type_object))
		json_object_object_get_ex(e, "message", &m);
	else
		m = e;
	if (m && json_object_is_type(m, json_type_string))
		http_stream_quote(json_object_get_string(m), (size_t)json_object_get_string_len(m),
				  OPENAI_MESSAGE_MAX, msg, sizeof(msg));
	else
		http_stream_quote(d, n, OPENAI_MESSAGE_MAX, msg, sizeof(msg));
	return parser_fail(p, dc_fail(p->err, p->errlen, DC_UPSTREAM, "openai: %s",
				      msg[0] ? msg : "the model server reported an error"));
}

static enum dc_err emit_token(struct openai_parser *p, const char *s, size_t len)
{
	enum dc_err rc;

	if (!utf8_valid(s, len))
		return parser_fail(p, dc_fail(p->err, p->errlen, DC_UPSTREAM,
			"openai: the model server sent text that is not valid UTF-8"));
	rc = p->cb->token(p->cb->ud, s, len);
	if (rc != DC_OK)
		return parser_fail(p, dc_fail(p->err, p->errlen, rc, "openai: stopped: %s",
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

/* The text members of a delta: "content", and "refusal", which carries the text when
 * the model declines (content is null then). Each is a string or null. */
static enum dc_err handle_delta(struct openai_parser *p, struct json_object *delta,
				const char *d, size_t n)
{
	static const char *const keys[] = { "content", "refusal", NULL };
	struct json_object *v;
	size_t k, len;
	enum dc_err rc;

	if (!json_object_is_type(delta, json_type_object))
		return malformed(p, d, n);
	for (k = 0; keys[k]; k++) {
		if (!json_object_object_get_ex(delta, keys[k], &v) ||
		    json_object_is_type(v, json_type_null))
			continue;
		if (!json_object_is_type(v, json_type_string))
			return malformed(p, d, n);
		len = (size_t)json_object_get_string_len(v);
		rc = len ? emit_token(p, json_object_get_string(v), len) : DC_OK;
		if (rc != DC_OK)
			return rc;
	}
	return DC_OK;
}

/* choices[0]: its delta (or message, from a server that ignored stream:true) and
 * finish_reason. */
static enum dc_err handle_choice(struct openai_parser *p, struct json_object *choice,
				 const char *d, size_t n)
{
	struct json_object *delta = NULL, *fr;
	enum dc_err rc;

	if (!json_object_is_type(choice, json_type_object))
		return malformed(p, d, n);
	if (!json_object_object_get_ex(choice, "delta", &delta))
		json_object_object_get_ex(choice, "message", &delta);
	if (delta && !json_object_is_type(delta, json_type_null)) {
		rc = handle_delta(p, delta, d, n);
		if (rc != DC_OK)
			return rc;
	}
	if (json_object_object_get_ex(choice, "finish_reason", &fr) &&
	    json_object_is_type(fr, json_type_string)) {
		http_stream_quote(json_object_get_string(fr), (size_t)json_object_get_string_len(fr),
				  sizeof(p->res->finish_reason) - 1, p->res->finish_reason,
				  sizeof(p->res->finish_reason));
		p->finished = 1;
	}
	return DC_OK;
}

static enum dc_err handle_chunk(struct openai_parser *p, struct json_object *root,
				const char *d, size_t n)
{
	struct json_object *choices, *usage;
	enum dc_err rc = DC_OK;

	if (json_object_object_get_ex(root, "choices", &choices) &&
	    !json_object_is_type(choices, json_type_null)) {
		if (!json_object_is_type(choices, json_type_array))
			return malformed(p, d, n);
		if (json_object_array_length(choices) > 0)
			rc = handle_choice(p, json_object_array_get_idx(choices, 0), d, n);
	}
	if (rc == DC_OK && json_object_object_get_ex(root, "usage", &usage) &&
	    json_object_is_type(usage, json_type_object)) {
		read_count(usage, "prompt_tokens", &p->res->prompt_tokens);
		read_count(usage, "completion_tokens", &p->res->completion_tokens);
	}
	return rc;
}

/* One event's data (or a bare JSON line). */
static enum dc_err handle_data(struct openai_parser *p, const char *d, size_t n)
{
	struct json_object *root, *e;
	enum dc_err rc;

	if (p->done)
		return DC_OK;	/* nothing after [DONE] belongs to the answer */
	if (n == 6 && memcmp(d, "[DONE]", 6) == 0) {
		p->done = 1;
		return DC_OK;
	}
	root = http_stream_json_object(d, n);
	if (!root)
		return malformed(p, d, n);
	if (json_object_object_get_ex(root, "error", &e) && !json_object_is_type(e, json_type_null))
		rc = upstream_error(p, e, d, n);
	else
		rc = handle_chunk(p, root, d, n);
	json_object_put(root);
	if (rc != DC_OK)
		p->failed = 1;
	return rc;
}

static enum dc_err dispatch(struct openai_parser *p)
{
	enum dc_err rc;

	if (!p->has_data)
		return DC_OK;
	p->has_data = 0;
	rc = handle_data(p, buf_str(&p->data), p->data.len);
	buf_reset(&p->data);
	return rc;
}

/* Add one data field's value to the event being read. */
static enum dc_err add_data(struct openai_parser *p, const char *v, size_t n)
{
	enum dc_err rc = DC_OK;

	if (p->has_data)
		rc = buf_append(&p->data, "\n", 1);
	if (rc == DC_OK)
		rc = buf_append(&p->data, v, n);
	if (rc == DC_TOOBIG)
		return parser_fail(p, dc_fail(p->err, p->errlen, DC_UPSTREAM,
			"openai: an event from the model server exceeds 1 MiB"));
	if (rc != DC_OK)
		return parser_fail(p, dc_fail(p->err, p->errlen, rc, "openai: out of memory"));
	p->has_data = 1;
	return DC_OK;
}

static enum dc_err on_line(void *ud, const char *line, size_t len)
{
	struct openai_parser *p = ud;
	const char *colon, *value;
	size_t vlen;

	if (len == 0)
		return dispatch(p);
	if (line[0] == ':')
		return DC_OK;
	if (line[0] == '{')
		return handle_data(p, line, len);
	if (len == 4 && memcmp(line, "data", 4) == 0)
		return add_data(p, "", 0);	/* a field without a colon has no value */
	colon = memchr(line, ':', len);
	if (!colon || colon - line != 4 || memcmp(line, "data", 4) != 0)
		return DC_OK;	/* event:, id:, retry: and unknown fields */
	value = colon + 1;
	vlen = len - 5;
	if (vlen > 0 && value[0] == ' ') {
		value++;
		vlen--;
	}
	return add_data(p, value, vlen);
}

/* Map what lines_feed / lines_finish returned. */
static enum dc_err lines_result(struct openai_parser *p, enum dc_err rc)
{
	if (rc == DC_OK || p->failed)
		return rc;
	p->failed = 1;
	if (rc == DC_TOOBIG)
		return dc_fail(p->err, p->errlen, DC_UPSTREAM,
			       "openai: a line from the model server exceeds 1 MiB");
	return dc_fail(p->err, p->errlen, rc, "openai: %s", dc_strerror(rc));
}

enum dc_err openai_parser_feed(struct openai_parser *p, const char *data, size_t n,
			       char *err, size_t errlen)
{
	p->err = err;
	p->errlen = errlen;
	return lines_result(p, lines_feed(&p->lines, data, n, on_line, p));
}

enum dc_err openai_parser_finish(struct openai_parser *p, char *err, size_t errlen)
{
	enum dc_err rc;

	p->err = err;
	p->errlen = errlen;
	rc = lines_result(p, lines_finish(&p->lines, on_line, p));
	if (rc == DC_OK)
		rc = dispatch(p);
	if (rc != DC_OK)
		return rc;
	if (p->done || p->finished)
		return DC_OK;
	return dc_fail(err, errlen, DC_UPSTREAM,
		       "openai: the model server closed the stream before the answer was complete");
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
		return dc_fail(err, errlen, DC_BADREQ, "openai: no model was named");
	for (i = 0; i < req->nmsgs; i++) {
		if (!req->msgs[i].role || !req->msgs[i].role[0])
			return dc_fail(err, errlen, DC_BADREQ, "openai: message %zu has no role",
				       i + 1);
	}
	return DC_OK;
}

enum dc_err openai_body_build(const struct backend_req *req, struct buf *out,
			      char *err, size_t errlen)
{
	struct json_object *root, *msgs, *opts;
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
	opts = json_object_new_object();
	if (json_add(root, "stream", json_object_new_boolean(1)) ||
	    json_add(root, "stream_options", opts) ||
	    json_add(opts, "include_usage", json_object_new_boolean(1)))
		goto out;
	if (req->temperature >= 0 && isfinite(req->temperature) &&
	    json_add(root, "temperature", json_number(req->temperature)))
		goto out;
	if (req->max_tokens > 0 &&
	    json_add(root, "max_tokens", json_object_new_int64(req->max_tokens)))
		goto out;
	text = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN |
						 JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (!text)
		goto out;
	rc = buf_append(out, text, len);
out:
	json_object_put(root);
	if (rc == DC_TOOBIG)
		return dc_fail(err, errlen, rc, "openai: the request is too large");
	if (rc != DC_OK)
		return dc_fail(err, errlen, rc, "openai: out of memory");
	return DC_OK;
}

enum dc_err openai_models_parse(const char *body, size_t len, char ***names, size_t *n,
				char *err, size_t errlen)
{
	return http_stream_names("openai", body, len, "data", "id", names, n, err, errlen);
}

static enum dc_err feed_parser(void *ud, const char *p, size_t n, char *err, size_t errlen)
{
	return openai_parser_feed(ud, p, n, err, errlen);
}

static enum dc_err collect_list(void *ud, const char *p, size_t n, char *err, size_t errlen)
{
	enum dc_err rc = buf_append(ud, p, n);

	if (rc == DC_TOOBIG)
		return dc_fail(err, errlen, DC_UPSTREAM,
			       "openai: the model list is larger than %d MiB",
			       OPENAI_LIST_MAX / (1024 * 1024));
	if (rc != DC_OK)
		return dc_fail(err, errlen, rc, "openai: out of memory");
	return DC_OK;
}

/* "{openai_url}{path}" into url, and the Authorization header into auth if a key is
 * set; fills headers (4 slots): accept, the key, and for a POST the content type. */
static enum dc_err prepare(const struct config *cfg, const char *path, const char *accept,
			   int post, struct buf *url, struct buf *auth, const char **headers,
			   char *err, size_t errlen)
{
	size_t nh = 0;

	if (!cfg->openai_url || !cfg->openai_url[0])
		return dc_fail(err, errlen, DC_BADREQ,
			       "openai: no server URL is configured (DOCCHAT_OPENAI_URL)");
	if (buf_printf(url, "%s%s", cfg->openai_url, path) != DC_OK)
		return dc_fail(err, errlen, DC_BADREQ, "openai: the server URL is too long");
	headers[nh++] = accept;
	if (cfg->openai_key && cfg->openai_key[0]) {
		if (buf_printf(auth, "Authorization: Bearer %s", cfg->openai_key) != DC_OK)
			return dc_fail(err, errlen, DC_BADREQ, "openai: the API key is too long");
		headers[nh++] = buf_str(auth);
	}
	if (post)
		headers[nh++] = "Content-Type: application/json";
	headers[nh] = NULL;
	return DC_OK;
}

static int connect_s(const struct config *cfg)
{
	return cfg->upstream_connect_s > 0 ? cfg->upstream_connect_s : OPENAI_CONNECT_DEFAULT_S;
}

static enum dc_err parser_finish(void *p, char *err, size_t errlen)
{
	return openai_parser_finish(p, err, errlen);
}

static void parser_free(void *p)
{
	if (p)
		openai_parser_free(p);
	free(p);
}

enum dc_err backend_openai_open(const struct config *cfg, const struct backend_req *req,
				const struct backend_cb *cb, struct backend_result *res,
				struct backend_http *h, char *err, size_t errlen)
{
	struct openai_parser *parser = malloc(sizeof *parser);
	enum dc_err rc;

	backend_http_init(h, OPENAI_URL_MAX, OPENAI_BODY_MAX, OPENAI_AUTH_MAX);
	if (!parser)
		return dc_fail(err, errlen, DC_NOMEM, "openai: out of memory");
	openai_parser_init(parser, cb, res);
	h->parser = parser;
	h->finish = parser_finish;
	h->parser_free = parser_free;
	rc = prepare(cfg, "/chat/completions", "Accept: text/event-stream", 1, &h->url,
		     &h->auth, h->headers, err, errlen);
	if (rc == DC_OK)
		rc = openai_body_build(req, &h->body, err, errlen);
	if (rc != DC_OK)
		return rc;
	backend_http_ready(h, "openai", cfg->openai_key, connect_s(cfg), cfg->upstream_idle_s, feed_parser,
			   parser, cb);
	return DC_OK;
}

enum dc_err backend_openai_list_models(const struct config *cfg, char ***names, size_t *n,
				       char *err, size_t errlen)
{
	struct http_stream_req hreq;
	struct buf url, body, auth;
	const char *headers[4];
	enum dc_err rc;

	*names = NULL;
	*n = 0;
	buf_init(&url, OPENAI_URL_MAX);
	buf_init(&body, OPENAI_LIST_MAX);
	buf_init(&auth, OPENAI_AUTH_MAX);
	rc = prepare(cfg, "/models", "Accept: application/json", 0, &url, &auth, headers,
		     err, errlen);
	if (rc != DC_OK)
		goto out;
	memset(&hreq, 0, sizeof(hreq));
	hreq.provider = "openai";
	hreq.url = buf_str(&url);
	hreq.headers = headers;
	hreq.secret = cfg->openai_key;
	hreq.connect_s = connect_s(cfg);
	hreq.total_s = connect_s(cfg) + OPENAI_LIST_EXTRA_S;
	hreq.data = collect_list;
	hreq.data_ud = &body;
	rc = http_stream_run(&hreq, NULL, err, errlen);
	if (rc == DC_OK)
		rc = openai_models_parse(buf_str(&body), body.len, names, n, err, errlen);
out:
	buf_free_secret(&auth);
	buf_free(&body);
	buf_free(&url);
	return rc;
}
