/* api_chat.c - POST|GET /chat/{session_id}/stream: validate the question, then stream
 * the answer as Server-Sent Events.
 *
 * Everything that can fail before the stream starts (bad JSON, missing question, unknown
 * session or provider, a database that cannot store the question) is an HTTP error with
 * {"error": ...}; after that, failures are `error` events (chat.c). The GET form takes
 * the same fields from the query string so a browser EventSource can use it.
 *
 * The worker runs the answer up to "Generating response..." (everything that needs its
 * database connection); then, under FastCGI with relay threads running, it hands the
 * model's stream and the end of the request to relay.c and goes back to accepting.
 * Otherwise (CGI, DOCCHAT_RELAY_THREADS=0, a kept connection) it streams the answer
 * itself. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "buf.h"
#include "chat.h"
#include "config.h"
#include "conn.h"
#include "limit.h"
#include "log.h"
#include "relay.h"
#include "request.h"
#include "response.h"
#include "server.h"
#include "sse.h"
#include "store.h"
#include "utf8.h"

#define QUERY_VALUE_MAX (1024 * 1024)

struct chat_input {
	json_object *body;		/* owned: the parsed request (GET: built from query) */
	const char *question;
	const char *model;
	const char *search_mode;
	long long doc_ids[CHAT_MAX_DOC_IDS];
	size_t ndocs;
	int top_k;
	double temperature;
	int from_query;			/* GET: numbers arrive as text */
};

/* GET: copy the known query fields into a JSON object so both forms validate alike.
 * Numbers stay strings here and are converted by the same checks. */
static int query_to_json(struct request *r, json_object **out)
{
	static const char *const fields[] = { "question", "model", "search_mode", "top_k",
					      "temperature", "document_ids" };
	json_object *o = json_object_new_object();

	if (!o)
		return 0;
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		struct buf v;
		int found;

		buf_init(&v, QUERY_VALUE_MAX);
		found = request_query_get(r->query, fields[i], &v);
		if (found < 0) {
			buf_free(&v);
			json_object_put(o);
			response_error(r, 400, "query parameter \"%s\" is malformed", fields[i]);
			return 0;
		}
		if (found && !utf8_valid(buf_str(&v), v.len)) {
			buf_free(&v);
			json_object_put(o);
			response_error(r, 400, "query parameter \"%s\" is not valid UTF-8", fields[i]);
			return 0;
		}
		if (found)
			json_object_object_add(o, fields[i], json_object_new_string_len(buf_str(&v), (int)v.len));
		buf_free(&v);
	}
	*out = o;
	return 1;
}

static int has_no_nul(const char *s, size_t n)
{
	return memchr(s, '\0', n) == NULL;
}

static int get_question(struct request *r, struct chat_input *in)
{
	json_object *q;
	size_t len;

	if (!json_object_object_get_ex(in->body, "question", &q) || json_object_is_type(q, json_type_null)) {
		response_error(r, 400, "\"question\" is required");
		return 0;
	}
	if (!json_object_is_type(q, json_type_string)) {
		response_error(r, 400, "\"question\" must be a string");
		return 0;
	}
	in->question = json_object_get_string(q);
	len = (size_t)json_object_get_string_len(q);
	if (strspn(in->question, " \t\r\n") == len) {
		response_error(r, 400, "\"question\" must not be empty");
		return 0;
	}
	if (len > r->cfg->max_question) {
		response_error(r, 400, "\"question\" is %zu bytes, longer than the limit of %zu",
			       len, r->cfg->max_question);
		return 0;
	}
	if (!has_no_nul(in->question, len)) {
		response_error(r, 400, "\"question\" contains a NUL character");
		return 0;
	}
	return 1;
}

/* An optional string member; 0 (after replying 400) if present but not a string. */
static int get_opt_string(struct request *r, json_object *body, const char *name,
			  const char **out)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(body, name, &v) || json_object_is_type(v, json_type_null))
		return 1;
	if (!json_object_is_type(v, json_type_string)) {
		response_error(r, 400, "\"%s\" must be a string", name);
		return 0;
	}
	*out = json_object_get_string(v);
	return 1;
}

/* A number given as a JSON number or, from a query string only, as text. */
static int number_of(json_object *v, int text_ok, double *out)
{
	char *end;

	if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
		*out = json_object_get_double(v);
		return 1;
	}
	if (text_ok && json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);

		errno = 0;
		*out = strtod(s, &end);
		return *s && !*end && errno == 0;
	}
	return 0;
}

static int get_top_k(struct request *r, struct chat_input *in)
{
	json_object *v;
	double d;

	in->top_k = r->cfg->top_k;
	if (!json_object_object_get_ex(in->body, "top_k", &v) || json_object_is_type(v, json_type_null))
		return 1;
	if (!number_of(v, in->from_query, &d) || d != floor(d) || d < 1 || d > CHAT_TOP_K_MAX) {
		response_error(r, 400, "\"top_k\" must be an integer from 1 to %d", CHAT_TOP_K_MAX);
		return 0;
	}
	in->top_k = (int)d;
	return 1;
}

static int get_temperature(struct request *r, struct chat_input *in)
{
	json_object *v;
	double d;

	in->temperature = -1;
	if (!json_object_object_get_ex(in->body, "temperature", &v) || json_object_is_type(v, json_type_null))
		return 1;
	if (!number_of(v, in->from_query, &d) || !isfinite(d) || d < 0 || d > 2) {
		response_error(r, 400, "\"temperature\" must be a number from 0 to 2");
		return 0;
	}
	in->temperature = d;
	return 1;
}

static int add_doc_id(struct request *r, struct chat_input *in, double d)
{
	if (d != floor(d) || d < 1 || d > 9007199254740991.0) {
		response_error(r, 400, "\"document_ids\" must hold positive integers");
		return 0;
	}
	if (in->ndocs >= CHAT_MAX_DOC_IDS) {
		response_error(r, 400, "\"document_ids\" holds more than %d ids", CHAT_MAX_DOC_IDS);
		return 0;
	}
	in->doc_ids[in->ndocs++] = (long long)d;
	return 1;
}

/* document_ids: a JSON array of integers, or (query string) "1,2,3". */
static int get_doc_ids(struct request *r, struct chat_input *in)
{
	json_object *v;

	in->ndocs = 0;
	if (!json_object_object_get_ex(in->body, "document_ids", &v) || json_object_is_type(v, json_type_null))
		return 1;
	if (in->from_query && json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);

		while (*s) {
			char *end;
			double d = strtod(s, &end);

			if (end == s || (*end && *end != ',') || !add_doc_id(r, in, d)) {
				if (!r->headers_sent)
					response_error(r, 400, "\"document_ids\" must be a list of integers");
				return 0;
			}
			s = *end ? end + 1 : end;
		}
		return 1;
	}
	if (!json_object_is_type(v, json_type_array)) {
		response_error(r, 400, "\"document_ids\" must be an array of integers");
		return 0;
	}
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *e = json_object_array_get_idx(v, i);

		if (!json_object_is_type(e, json_type_int)) {
			response_error(r, 400, "\"document_ids\" must be an array of integers");
			return 0;
		}
		if (!add_doc_id(r, in, (double)json_object_get_int64(e)))
			return 0;
	}
	return 1;
}

static int get_search_mode(struct request *r, struct chat_input *in)
{
	if (!get_opt_string(r, in->body, "search_mode", &in->search_mode))
		return 0;
	if (!in->search_mode)
		in->search_mode = "all";
	if (strcmp(in->search_mode, "all") && strcmp(in->search_mode, "selected") &&
	    strcmp(in->search_mode, "none")) {
		response_error(r, 400, "\"search_mode\" must be one of all, selected, none");
		return 0;
	}
	if (strcmp(in->search_mode, "selected") == 0 && in->ndocs == 0) {
		response_error(r, 400, "\"search_mode\" selected needs a non-empty \"document_ids\"");
		return 0;
	}
	return 1;
}

static int read_input(struct request *r, struct chat_input *in)
{
	char err[DC_ERRMAX];
	enum dc_err rc;

	if (strcmp(r->method, "GET") == 0) {
		in->from_query = 1;
		if (!query_to_json(r, &in->body))
			return 0;
	} else {
		rc = request_json_body(r, 0, &in->body, err, sizeof err);
		if (rc != DC_OK) {
			response_error(r, response_status_for(rc), "%s", err);
			return 0;
		}
	}
	return get_question(r, in) && get_opt_string(r, in->body, "model", &in->model) &&
	       get_top_k(r, in) && get_temperature(r, in) && get_doc_ids(r, in) &&
	       get_search_mode(r, in);
}

int api_chat_check_input(struct request *r)
{
	struct chat_input in;
	int ok;

	memset(&in, 0, sizeof in);
	ok = read_input(r, &in);
	json_object_put(in.body);
	return ok;
}

/* One answer's stream. On the heap: when the answer is handed to the relay, it outlives
 * the worker's request and carries what the request owes at its end. */
struct chat_stream {
	struct sse sse;
	struct timespec start;		/* the request's arrival */
	struct chat_run *run;
	long long slot;			/* limit_stream_begin's, given back at the end */
	/* the request's log line, written at the end */
	char method[8];
	char path[REQUEST_PARAM_MAX + 16];
	char model[128];
	char user[REQUEST_USER_MAX + 1];
};

static enum dc_err sink_event(void *ud, json_object *ev)
{
	struct chat_stream *c = ud;

	return sse_send(&c->sse, ev);
}

static enum dc_err sink_tick(void *ud)
{
	struct chat_stream *c = ud;

	if (server_grace_expired())
		return DC_ABORT;
	return sse_tick(&c->sse);
}

static long sink_elapsed(void *ud)
{
	struct chat_stream *c = ud;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)((now.tv_sec - c->start.tv_sec) * 1000 +
		      (now.tv_nsec - c->start.tv_nsec) / 1000000);
}

static void chat_stream_free(struct chat_stream *c)
{
	if (c) {
		chat_run_free(c->run);
		free(c);
	}
}

/* How the answer ended, for the log line. */
static void outcome_error(const struct chat_outcome *out, char *err, size_t errlen)
{
	if (strcmp(out->status, "complete") != 0)
		dc_fail(err, errlen, DC_OK, "%s%s%s", out->status, out->error[0] ? ": " : "",
			out->error);
}

/* The relay's finishing thread: the answer's end, the stream slot, the log line. */
static void handed_finish(void *ud, struct store *st, enum dc_err rc)
{
	struct chat_stream *c = ud;
	struct chat_outcome out;
	struct log_request line;
	char err[DC_ERRMAX] = "";

	chat_run_finish(c->run, st, rc, &out);
	if (st)
		limit_stream_release(st, c->slot);
	outcome_error(&out, err, sizeof err);
	memset(&line, 0, sizeof line);
	line.method = c->method;
	line.path = c->path;
	line.status = 200;
	line.duration_ms = sink_elapsed(c);
	line.model = c->model;
	line.tokens = out.completion_tokens;
	line.error = err[0] ? err : NULL;
	line.user = c->user;
	log_request(&line);
}

static void handed_release(void *ud)
{
	chat_stream_free(ud);
}

/* Give the rest of the answer to the relay (relay.h); 1 if it took it. The request's
 * connection is the relay's from then on, and so are the slot and the log line. */
static int hand_over(struct request *r, struct chat_stream *c, long long slot)
{
	struct relay_hooks hooks = { handed_finish, handed_release, c };
	struct relay_stream *rs;
	struct sse_io io;
	int fd, request_id;

	if (!relay_running())
		return 0;
	rs = relay_stream_new();
	if (!rs)
		return 0;
	snprintf(c->method, sizeof c->method, "%s", r->method);
	snprintf(c->path, sizeof c->path, "%s", r->path);
	snprintf(c->model, sizeof c->model, "%s", r->model);
	snprintf(c->user, sizeof c->user, "%s", r->user ? r->user : "");
	if (conn_detach(r->conn, &fd, &request_id) != DC_OK) {
		relay_stream_free(rs);
		return 0;
	}
	c->slot = slot;
	io.write = relay_stream_write;
	io.gone = relay_stream_gone;
	io.ud = rs;
	sse_set_io(&c->sse, &io);
	r->handed_off = 1;
	relay_adopt(rs, fd, request_id, c->run, &hooks);
	return 1;
}

/* Stream the answer; 1 when it was handed to the relay (which then owns the slot). */
static int run_stream(struct request *r, struct chat_params *p, long long user_msg_id,
		      long long answer_id, long long slot)
{
	struct chat_stream *c = calloc(1, sizeof *c);
	struct chat_sink sink = { sink_event, sink_tick, sink_elapsed, c };
	struct chat_outcome out;
	enum dc_err rc;

	if (!c) {
		response_error(r, 503, "out of memory");
		return 0;
	}
	c->start = r->start;
	if (sse_begin(&c->sse, r, r->cfg->ping_s, r->cfg->probe_ms) != DC_OK) {
		snprintf(r->error, sizeof r->error, "client went away before the stream started");
		chat_stream_free(c);
		return 0;
	}
	if (chat_run_new(r->cfg, p, &sink, &c->run) != DC_OK) {
		sse_send_typed(&c->sse, "error", json_object_new_string("docchat: out of memory"));
		sse_send_typed(&c->sse, "done", NULL);
		snprintf(r->error, sizeof r->error, "error: out of memory");
		chat_stream_free(c);
		return 0;
	}
	rc = chat_run_prepare(c->run, r->store, user_msg_id, answer_id);
	if (rc == DC_OK && hand_over(r, c, slot))
		return 1;
	if (rc == DC_OK)
		rc = chat_run_generate(c->run);
	chat_run_finish(c->run, r->store, rc, &out);
	r->tokens = out.completion_tokens;
	outcome_error(&out, r->error, sizeof r->error);
	chat_stream_free(c);
	return 0;
}

void api_chat_stream(struct request *r)
{
	char err[DC_ERRMAX];
	struct chat_input in;
	struct chat_params p;
	struct store_session s;
	long long user_msg_id = 0, answer_id = 0, slot = 0;
	enum dc_err rc;

	memset(&in, 0, sizeof in);
	memset(&p, 0, sizeof p);
	memset(&s, 0, sizeof s);
	if (api_need_store(r) || !read_input(r, &in))
		goto out;
	rc = chat_resolve_model(r->cfg, in.model, &p.model, err, sizeof err);
	if (rc != DC_OK) {
		response_error(r, 400, "%s", err);
		goto out;
	}
	dc_fail(r->model, sizeof r->model, DC_OK, "%s", p.model.full);
	rc = store_session_get(r->store, r->user, r->params[0], &s, err, sizeof err);
	if (rc != DC_OK) {
		if (rc == DC_NOTFOUND)
			response_error(r, 404, "no such session: %s", r->params[0]);
		else
			response_error(r, response_status_for(rc), "%s", err);
		goto out;
	}
	p.owner = r->user;
	p.session_id = s.id;
	p.question = in.question;
	p.search_mode = in.search_mode;
	p.doc_ids = in.doc_ids;
	p.ndocs = in.ndocs;
	p.top_k = in.top_k;
	p.temperature = in.temperature;
	/* Last check before anything is stored: a refused question leaves no trace. */
	if (!limit_stream_begin(r, &slot))
		goto out;
	rc = chat_store_question(r->store, &p, &user_msg_id, &answer_id, err, sizeof err);
	if (rc != DC_OK) {
		response_error(r, response_status_for(rc == DC_NOMEM ? DC_SYSTEM : DC_DB), "%s", err);
		goto out;
	}
	if (run_stream(r, &p, user_msg_id, answer_id, slot))
		slot = 0;	/* the relay gives it back */
out:
	limit_stream_end(r, slot);
	store_session_clear(&s);
	json_object_put(in.body);
}
