/* chat.c - answering one question end to end (see chat.h).
 *
 * Order of work, which is also the order of events:
 *   start -> status "Searching documents..." -> search [-> status "Vector search
 *   unavailable (...); using keyword search" when the embedding server failed]
 *   -> history + prompt -> sources -> status "Generating response..." -> chunk per
 *   token -> grounding -> row finished -> metadata -> done.
 * The question and the assistant row (as 'streaming') are stored together before the
 * stream starts (chat_store_question), in one write, so that a database failure is
 * still an HTTP error, no write stands between the request and the model, and a
 * process killed mid-answer leaves a row that start-up marks 'interrupted'.
 *
 * Two limits end an answer from here, whatever the model does: DOCCHAT_MAX_TOKENS (sent
 * to the model too, but a model server may ignore it, and the extractive backend knows
 * nothing of it) keeps that many pieces of text and stops the model when it sends one
 * more: the answer is complete with finish_reason "length". DOCCHAT_MAX_STREAM_S,
 * counted from the request's arrival like the web servers' own hard limits, stops the
 * answer and stores it as 'interrupted', as a shutdown does, with an `error` event. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_extractive.h"
#include "buf.h"
#include "chat.h"
#include "config.h"
#include "grounding.h"
#include "log.h"
#include "prompt.h"
#include "search.h"
#include "store.h"

#define ANSWER_MAX (4u * 1024 * 1024)

enum dc_err chat_resolve_model(const struct config *cfg, const char *requested,
			       struct chat_model *out, char *err, size_t errlen)
{
	const char *m = requested && *requested ? requested : cfg->default_model;
	const char *colon = strchr(m, ':');
	const char *provider, *name;
	size_t plen;

	memset(out, 0, sizeof *out);
	if (strcmp(m, "extractive") == 0) {
		provider = "extractive";
		plen = strlen(provider);
		name = "extractive";
	} else if (colon) {
		provider = m;
		plen = (size_t)(colon - m);
		name = colon + 1;
	} else {
		provider = cfg->default_provider;
		plen = strlen(provider);
		name = m;
	}
	if (plen >= sizeof out->provider)
		plen = sizeof out->provider - 1;
	memcpy(out->provider, provider, plen);
	if (!backend_known(out->provider))
		return dc_fail(err, errlen, DC_BADREQ,
			       "unknown provider '%s' in model '%s': use openai:NAME, ollama:NAME or extractive",
			       out->provider, m);
	if (strcmp(out->provider, "extractive") == 0)
		name = "extractive";
	if (!*name)
		return dc_fail(err, errlen, DC_BADREQ, "model '%s' has no name after the provider", m);
	if (strlen(name) >= sizeof out->name)
		return dc_fail(err, errlen, DC_BADREQ, "model name is longer than %d bytes",
			       CHAT_MODEL_MAX - 1);
	for (const char *c = name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return dc_fail(err, errlen, DC_BADREQ, "model name contains a control character");
	snprintf(out->name, sizeof out->name, "%s", name);
	if (strcmp(out->provider, "extractive") == 0)
		snprintf(out->full, sizeof out->full, "extractive");
	else
		snprintf(out->full, sizeof out->full, "%s:%s", out->provider, out->name);
	return DC_OK;
}

enum dc_err chat_store_question(struct store *st, const struct chat_params *p,
				long long *user_msg_id, long long *answer_id, char *err,
				size_t errlen)
{
	return store_exchange_begin(st, p->session_id, p->question, p->model.full, user_msg_id,
				    answer_id, err, errlen);
}

/* Why docchat itself stopped the model. */
enum answer_cut {
	CUT_NONE = 0,
	CUT_TOKENS,		/* DOCCHAT_MAX_TOKENS pieces were kept and the model went on */
	CUT_TIME		/* DOCCHAT_MAX_STREAM_S passed */
};

/* Everything one answer accumulates; freed by answer_free. A chat_run is an answer
 * allocated on the heap with its own copy of the question's parameters. */
struct answer {
	const struct config *cfg;
	struct store *st;		/* the calling thread's connection for this phase */
	const struct chat_params *p;
	const struct chat_sink *sink;
	struct chat_params params;	/* chat_run: the copy p points to */
	struct chat_sink sink_copy;	/* chat_run: the sink in use */
	char *owned;			/* chat_run: one block holding the copied strings */
	long long *owned_ids;
	struct backend_source *bsrc;	/* the model request, kept while it runs */
	struct backend_req breq;
	struct backend_cb bcb;
	struct search_hit *hits;
	size_t nhits;
	struct search_used used;	/* how the search ran (mode AUTO: it did not) */
	struct prompt_turn *turns;
	size_t nturns;
	struct store_message *history;
	size_t nhistory;
	struct prompt prompt;
	json_object *sources;		/* the array sent in the sources event */
	struct buf text;		/* the answer so far */
	long first_token_ms;		/* -1 until the first token */
	long ntokens;			/* pieces of text kept */
	enum answer_cut cut;
	long long message_id;
	struct backend_result res;
	int unsaved;			/* storing the end failed: keep it for later */
	char err[DC_ERRMAX];
};

static void answer_free(struct answer *a)
{
	free(a->bsrc);
	free(a->owned);
	free(a->owned_ids);
	search_hits_free(a->hits, a->nhits);
	free(a->turns);
	store_messages_free(a->history, a->nhistory);
	prompt_free(&a->prompt);
	json_object_put(a->sources);
	buf_free(&a->text);
}

static enum dc_err emit(struct answer *a, json_object *ev)
{
	enum dc_err rc;

	if (!ev)
		return DC_NOMEM;
	rc = a->sink->event(a->sink->ud, ev);
	json_object_put(ev);
	return rc;
}

/* {"type": type} plus one member name: value (value consumed; name may be NULL). */
static json_object *event_new(const char *type, const char *name, json_object *value)
{
	json_object *ev = json_object_new_object();

	if (!ev) {
		json_object_put(value);
		return NULL;
	}
	json_object_object_add(ev, "type", json_object_new_string(type));
	if (name)
		json_object_object_add(ev, name, value);
	return ev;
}

static enum dc_err emit_status(struct answer *a, const char *text)
{
	return emit(a, event_new("status", "content", json_object_new_string(text)));
}

static enum dc_err emit_start(struct answer *a)
{
	json_object *ev = event_new("start", "session_id", json_object_new_string(a->p->session_id));

	if (ev)
		json_object_object_add(ev, "model", json_object_new_string(a->p->model.full));
	return emit(a, ev);
}

static enum dc_err on_tick(void *ud);

/* While the question is embedded: the answer's own tick (pings, limits, a client that
 * left, a shutdown). */
static enum dc_err run_search(struct answer *a)
{
	const struct chat_params *p = a->p;
	int selected = strcmp(p->search_mode, "selected") == 0;
	struct search_tick tick = { on_tick, a };

	if (strcmp(p->search_mode, "none") == 0)
		return DC_OK;
	return search_run_ticked(a->st, a->cfg, p->owner, p->question, SEARCH_AUTO,
				 selected ? p->doc_ids : NULL, selected ? p->ndocs : 0, p->top_k,
				 &tick, &a->hits, &a->nhits, &a->used, a->err, sizeof a->err);
}

/* Vector search failed and keyword search answered instead: say so, and why. */
static enum dc_err emit_fallback(struct answer *a)
{
	struct buf b;
	enum dc_err rc;

	buf_init(&b, 2 * DC_ERRMAX);
	rc = buf_printf(&b, "Vector search unavailable (%s); using keyword search", a->used.fallback);
	if (rc == DC_OK)
		rc = emit_status(a, buf_str(&b));
	buf_free(&b);
	return rc;
}

/* Earlier turns of the session: every message before this question that has text,
 * skipping answers that failed (and the question they answered). */
static enum dc_err load_history(struct answer *a, long long user_msg_id)
{
	enum dc_err rc = store_message_list(a->st, a->p->session_id, &a->history, &a->nhistory,
					    a->err, sizeof a->err);
	size_t n = 0;

	if (rc != DC_OK)
		return rc;
	a->turns = calloc(a->nhistory + 1, sizeof *a->turns);
	if (!a->turns)
		return DC_NOMEM;
	for (size_t i = 0; i < a->nhistory; i++) {
		const struct store_message *m = &a->history[i];

		if (m->id >= user_msg_id)
			break;
		if (!m->content || !m->content[0] || strcmp(m->status, "error") == 0 ||
		    strcmp(m->status, "streaming") == 0) {
			if (strcmp(m->role, "assistant") == 0 && n > 0 &&
			    strcmp(a->turns[n - 1].role, "user") == 0)
				n--;
			continue;
		}
		a->turns[n].role = m->role;
		a->turns[n].content = m->content;
		n++;
	}
	a->nturns = n;
	return DC_OK;
}

static enum dc_err show_prompt(struct answer *a)
{
	struct buf b;
	enum dc_err rc;

	buf_init(&b, 64u * 1024 * 1024);
	rc = prompt_format(&a->prompt, &b);
	if (rc == DC_OK) {
		fwrite(b.data, 1, b.len, a->p->prompt_out);
		fflush(a->p->prompt_out);
	}
	buf_free(&b);
	return rc;
}

static enum dc_err build_prompt(struct answer *a)
{
	struct prompt_source *src = calloc(a->nhits + 1, sizeof *src);
	enum dc_err rc;

	if (!src)
		return DC_NOMEM;
	for (size_t i = 0; i < a->nhits; i++) {
		src[i].text = a->hits[i].h.text;
		src[i].document = a->hits[i].h.document;
		src[i].heading = a->hits[i].h.heading;
		src[i].page = a->hits[i].h.page;
	}
	rc = prompt_build(a->cfg->system_prompt, strcmp(a->p->search_mode, "none") != 0, src,
			  a->nhits, a->turns, a->nturns, a->p->question,
			  a->cfg->context_tokens, &a->prompt, a->err, sizeof a->err);
	free(src);
	if (rc == DC_OK && a->p->prompt_out)
		rc = show_prompt(a);
	return rc;
}

static enum dc_err emit_sources(struct answer *a)
{
	json_object *ev;

	a->sources = json_object_new_array();
	if (!a->sources)
		return DC_NOMEM;
	for (size_t i = 0; i < a->nhits; i++)
		json_object_array_add(a->sources, search_hit_json(&a->hits[i]));
	ev = event_new("sources", "content", json_object_get(a->sources));
	if (ev)
		json_object_object_add(ev, "chunks_used", json_object_new_int64((int64_t)a->prompt.sources_used));
	return emit(a, ev);
}

/* Has the answer run out of time (DOCCHAT_MAX_STREAM_S)? Marks the cut. */
static int out_of_time(struct answer *a)
{
	if (a->cfg->max_stream_s > 0 &&
	    a->sink->elapsed_ms(a->sink->ud) >= (long)a->cfg->max_stream_s * 1000)
		a->cut = CUT_TIME;
	return a->cut == CUT_TIME;
}

static enum dc_err on_token(void *ud, const char *text, size_t len)
{
	struct answer *a = ud;
	enum dc_err rc;

	/* DC_ABORT makes the backend hang up on the model at once; generate() and
	 * chat_answer() tell these cuts from a shutdown by a->cut. */
	if (a->cfg->max_tokens > 0 && a->ntokens >= a->cfg->max_tokens) {
		a->cut = CUT_TOKENS;
		return DC_ABORT;
	}
	if (out_of_time(a))
		return DC_ABORT;
	if (a->first_token_ms < 0)
		a->first_token_ms = a->sink->elapsed_ms(a->sink->ud);
	rc = buf_append(&a->text, text, len);
	if (rc != DC_OK) {
		dc_fail(a->err, sizeof a->err, DC_UPSTREAM, "%s: the answer exceeds %u bytes",
			a->p->model.provider, ANSWER_MAX);
		return DC_UPSTREAM;
	}
	a->ntokens++;
	return emit(a, event_new("chunk", "content", json_object_new_string_len(text, (int)len)));
}

static enum dc_err on_tick(void *ud)
{
	struct answer *a = ud;

	if (out_of_time(a))
		return DC_ABORT;
	return a->sink->tick(a->sink->ud);
}

/* Fill a->breq (and the sources it points to) for the model. */
static enum dc_err model_request(struct answer *a)
{
	struct backend_source *bs = calloc(a->prompt.sources_used + 1, sizeof *bs);
	struct backend_req *req = &a->breq;

	if (!bs)
		return DC_NOMEM;
	for (size_t i = 0; i < a->prompt.sources_used; i++) {
		bs[i].text = a->hits[i].h.text;
		bs[i].document = a->hits[i].h.document;
		bs[i].score = a->hits[i].score;
	}
	free(a->bsrc);
	a->bsrc = bs;
	memset(req, 0, sizeof *req);
	req->provider = a->p->model.provider;
	req->model = a->p->model.name;
	req->msgs = a->prompt.msgs;
	req->nmsgs = a->prompt.nmsgs;
	req->temperature = a->p->temperature;
	req->max_tokens = a->cfg->max_tokens;
	req->question = a->p->question;
	req->sources = bs;
	req->nsources = a->prompt.sources_used;
	req->delay_ms = a->cfg->extractive_delay_ms;
	a->bcb.token = on_token;
	a->bcb.tick = on_tick;
	a->bcb.ud = a;
	return DC_OK;
}

/* How the model's stream ended, with docchat's own cut applied. */
static enum dc_err generated(struct answer *a, enum dc_err rc)
{
	if (a->cut == CUT_TOKENS) {
		/* A complete answer of DOCCHAT_MAX_TOKENS pieces; the model's own count, if
		 * it was going to send one, never arrived. */
		a->err[0] = '\0';
		snprintf(a->res.finish_reason, sizeof a->res.finish_reason, "length");
		a->res.completion_tokens = a->ntokens;
		rc = DC_OK;
	}
	return rc;
}

static enum dc_err generate(struct answer *a)
{
	enum dc_err rc = model_request(a);

	if (rc == DC_OK)
		rc = backend_stream(a->cfg, &a->breq, &a->bcb, &a->res, a->err, sizeof a->err);
	return generated(a, rc);
}

/* {"score": 0, "unsupported": []}: an answer that asserts nothing. */
static json_object *no_claims_json(void)
{
	json_object *o = json_object_new_object();

	if (o) {
		json_object_object_add(o, "score", json_object_new_double(0));
		json_object_object_add(o, "unsupported", json_object_new_array());
	}
	return o;
}

static json_object *hallucination_json(struct answer *a)
{
	const char **texts;
	struct grounding_result g;
	json_object *o, *arr;

	if (strcmp(a->p->search_mode, "none") == 0)
		return NULL;
	if (strcmp(buf_str(&a->text), backend_extractive_no_answer) == 0)
		return no_claims_json();
	texts = calloc(a->prompt.sources_used + 1, sizeof *texts);
	if (!texts)
		return NULL;
	for (size_t i = 0; i < a->prompt.sources_used; i++)
		texts[i] = a->hits[i].h.text;
	memset(&g, 0, sizeof g);
	o = json_object_new_object();
	arr = json_object_new_array();
	if (o && arr && grounding_check(buf_str(&a->text), texts, a->prompt.sources_used, &g) == DC_OK) {
		for (size_t i = 0; i < g.nunsupported; i++)
			json_object_array_add(arr, json_object_new_string(g.unsupported[i]));
		json_object_object_add(o, "score", json_object_new_double(g.score));
		json_object_object_add(o, "unsupported", arr);
		arr = NULL;
	} else {
		json_object_put(o);
		o = NULL;
	}
	json_object_put(arr);
	grounding_free(&g);
	free(texts);
	return o;
}

static double confidence_of(struct answer *a)
{
	const char **texts = calloc(a->nhits + 1, sizeof *texts);
	double *scores = calloc(a->nhits + 1, sizeof *scores);
	double c = 0;

	if (texts && scores) {
		for (size_t i = 0; i < a->nhits; i++) {
			texts[i] = a->hits[i].h.text;
			scores[i] = a->hits[i].score;
		}
		c = grounding_confidence(a->p->question, texts, scores, a->nhits);
	}
	free(texts);
	free(scores);
	return c;
}

static json_object *num_or_null(long v)
{
	return v >= 0 ? json_object_new_int64(v) : NULL;
}

static json_object *metadata_json(struct answer *a)
{
	json_object *m = json_object_new_object();
	json_object *usage = json_object_new_object();
	json_object *timings = json_object_new_object();

	if (!m || !usage || !timings) {
		json_object_put(m);
		json_object_put(usage);
		json_object_put(timings);
		return NULL;
	}
	json_object_object_add(m, "model", json_object_new_string(a->p->model.full));
	json_object_object_add(m, "confidence", json_object_new_double(confidence_of(a)));
	json_object_object_add(m, "hallucination", hallucination_json(a));
	json_object_object_add(m, "search_mode", json_object_new_string(a->p->search_mode));
	json_object_object_add(m, "retrieval", a->used.mode == SEARCH_AUTO ? NULL :
			       json_object_new_string(search_mode_name(a->used.mode)));
	json_object_object_add(m, "total_response", json_object_new_string_len(buf_str(&a->text), (int)a->text.len));
	json_object_object_add(m, "message_id", json_object_new_int64(a->message_id));
	json_object_object_add(m, "finish_reason", a->res.finish_reason[0] ?
			       json_object_new_string(a->res.finish_reason) : NULL);
	json_object_object_add(m, "sources_used", json_object_new_int64((int64_t)a->prompt.sources_used));
	json_object_object_add(usage, "prompt_tokens", num_or_null(a->res.prompt_tokens));
	json_object_object_add(usage, "completion_tokens", num_or_null(a->res.completion_tokens));
	json_object_object_add(m, "usage", usage);
	json_object_object_add(timings, "first_token_ms", num_or_null(a->first_token_ms));
	json_object_object_add(timings, "total_ms", json_object_new_int64(a->sink->elapsed_ms(a->sink->ud)));
	json_object_object_add(m, "timings", timings);
	return m;
}

static const char *json_text(json_object *o)
{
	return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						  JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;
}

/* Store the final row. On failure the cause replaces a->err. When the database itself
 * failed (locked, full, read-only), the end is kept in memory and written once the
 * database takes it again (store_defer_finish), so the answer is not lost. A complete
 * answer that could not be stored ends as failed (finish_failed), so that end is the
 * one kept; and after one failure the database is not waited for a second time. */
static enum dc_err finish_row(struct answer *a, const char *status, const char *error,
			      json_object *metadata)
{
	char dberr[DC_ERRMAX];
	enum dc_err rc;

	if (!a->message_id)
		return DC_OK;
	if (!a->unsaved) {
		if (a->st)
			rc = store_message_finish(a->st, a->message_id, buf_str(&a->text), status,
						  error, json_text(a->sources),
						  json_text(metadata), dberr, sizeof dberr);
		else
			rc = dc_fail(dberr, sizeof dberr, DC_DB, "the database is not open");
		if (rc == DC_OK)
			return DC_OK;
		log_msg("cannot store answer %lld: %s", a->message_id, dberr);
		dc_fail(a->err, sizeof a->err, DC_DB, "database: %s", dberr);
		if (rc != DC_DB)
			return rc;
		a->unsaved = 1;
		if (metadata)
			return rc;
	}
	if (store_defer_finish(a->message_id, buf_str(&a->text), status, error,
			       json_text(a->sources), json_text(metadata)) == DC_OK)
		log_msg("answer %lld kept in memory until the database takes it", a->message_id);
	else
		log_msg("answer %lld lost: no memory left to keep it until the database recovers",
			a->message_id);
	return DC_DB;
}

static enum dc_err finish_complete(struct answer *a, struct chat_outcome *out)
{
	json_object *meta = metadata_json(a);
	enum dc_err rc;

	if (!meta)
		return DC_NOMEM;
	rc = finish_row(a, "complete", NULL, meta);
	if (rc != DC_OK) {
		json_object_put(meta);
		return rc;
	}
	snprintf(out->status, sizeof out->status, "complete");
	rc = emit(a, event_new("metadata", "content", meta));
	return rc == DC_OK ? emit(a, event_new("done", NULL, NULL)) : rc;
}

/* The answer failed after the stream started: store what there is, then error, done. */
static enum dc_err finish_failed(struct answer *a, enum dc_err why, struct chat_outcome *out)
{
	const char *status = why == DC_HUP || why == DC_ABORT || a->cut == CUT_TIME ?
			     "interrupted" : "error";
	enum dc_err rc;

	if (a->cut == CUT_TIME)
		snprintf(a->err, sizeof a->err, "docchat: the answer took longer than "
			 "DOCCHAT_MAX_STREAM_S (%d s)", a->cfg->max_stream_s);
	else if (why == DC_ABORT)
		snprintf(a->err, sizeof a->err, "docchat: the server is shutting down");
	else if (why == DC_NOMEM)
		snprintf(a->err, sizeof a->err, "docchat: out of memory");
	else if (!a->err[0])
		snprintf(a->err, sizeof a->err, "docchat: %s", dc_strerror(why));
	finish_row(a, status, why == DC_HUP ? NULL : a->err, NULL);
	snprintf(out->status, sizeof out->status, "%s", status);
	snprintf(out->error, sizeof out->error, "%s", why == DC_HUP ? "client went away" : a->err);
	if (why == DC_HUP)
		return DC_HUP;
	rc = emit(a, event_new("error", "content", json_object_new_string(a->err)));
	return rc == DC_OK ? emit(a, event_new("done", NULL, NULL)) : rc;
}

static enum dc_err prepare(struct answer *a, long long user_msg_id)
{
	enum dc_err rc = emit_status(a, "Searching documents...");

	if (rc == DC_OK)
		rc = run_search(a);
	if (rc == DC_OK && a->used.fallback[0])
		rc = emit_fallback(a);
	if (rc == DC_OK)
		rc = load_history(a, user_msg_id);
	if (rc == DC_OK)
		rc = build_prompt(a);
	if (rc == DC_OK)
		rc = emit_sources(a);
	return rc == DC_OK ? emit_status(a, "Generating response...") : rc;
}

static void answer_init(struct answer *a, const struct config *cfg,
			const struct chat_params *p, const struct chat_sink *sink)
{
	memset(a, 0, sizeof *a);
	a->cfg = cfg;
	a->p = p;
	a->sink = sink;
	a->first_token_ms = -1;
	a->res.prompt_tokens = a->res.completion_tokens = -1;
	buf_init(&a->text, ANSWER_MAX);
}

/* The end of every answer: metadata, done (or error, done) and the final row. */
static enum dc_err answer_end(struct answer *a, enum dc_err rc, struct chat_outcome *out)
{
	memset(out, 0, sizeof *out);
	out->completion_tokens = -1;
	if (rc == DC_OK)
		rc = finish_complete(a, out);
	if (rc != DC_OK && !out->status[0])
		rc = finish_failed(a, rc, out);
	else if (rc != DC_OK && rc != DC_HUP) {
		/* metadata could not be stored or sent: say so if the client is there */
		rc = emit(a, event_new("error", "content", json_object_new_string(a->err)));
		if (rc == DC_OK)
			rc = emit(a, event_new("done", NULL, NULL));
	}
	out->message_id = a->message_id;
	out->completion_tokens = a->res.completion_tokens;
	return rc;
}

enum dc_err chat_answer(const struct config *cfg, struct store *st,
			const struct chat_params *p, long long user_msg_id, long long answer_id,
			const struct chat_sink *sink, struct chat_outcome *out)
{
	struct answer a;
	enum dc_err rc;

	answer_init(&a, cfg, p, sink);
	a.st = st;
	a.message_id = answer_id;
	rc = emit_start(&a);
	if (rc == DC_OK)
		rc = prepare(&a, user_msg_id);
	if (rc == DC_OK)
		rc = generate(&a);
	rc = answer_end(&a, rc, out);
	answer_free(&a);
	return rc;
}

struct chat_run {
	struct answer a;
};

/* Copy p's strings and ids into the run so that it outlives the caller's request. */
static enum dc_err copy_params(struct answer *a, const struct chat_params *p)
{
	const char *src[4] = { p->owner ? p->owner : "", p->session_id, p->question,
			       p->search_mode };
	size_t len[4], total = 0, off = 0;
	char *block;

	for (int i = 0; i < 4; i++) {
		len[i] = strlen(src[i]) + 1;
		total += len[i];
	}
	block = malloc(total);
	if (!block)
		return DC_NOMEM;
	for (int i = 0; i < 4; i++) {
		memcpy(block + off, src[i], len[i]);
		off += len[i];
	}
	a->owned = block;
	a->params = *p;
	a->params.owner = block;
	a->params.session_id = block + len[0];
	a->params.question = block + len[0] + len[1];
	a->params.search_mode = block + len[0] + len[1] + len[2];
	a->params.prompt_out = NULL;
	if (p->ndocs > 0) {
		a->owned_ids = malloc(p->ndocs * sizeof *a->owned_ids);
		if (!a->owned_ids)
			return DC_NOMEM;
		memcpy(a->owned_ids, p->doc_ids, p->ndocs * sizeof *a->owned_ids);
	}
	a->params.doc_ids = a->owned_ids;
	a->p = &a->params;
	return DC_OK;
}

enum dc_err chat_run_new(const struct config *cfg, const struct chat_params *p,
			 const struct chat_sink *sink, struct chat_run **out)
{
	struct chat_run *run = malloc(sizeof *run);

	*out = NULL;
	if (!run)
		return DC_NOMEM;
	answer_init(&run->a, cfg, p, NULL);
	run->a.sink_copy = *sink;
	run->a.sink = &run->a.sink_copy;
	if (copy_params(&run->a, p) != DC_OK) {
		chat_run_free(run);
		return DC_NOMEM;
	}
	*out = run;
	return DC_OK;
}

void chat_run_set_sink(struct chat_run *run, const struct chat_sink *sink)
{
	run->a.sink_copy = *sink;
}

enum dc_err chat_run_prepare(struct chat_run *run, struct store *st, long long user_msg_id,
			     long long answer_id)
{
	enum dc_err rc;

	run->a.st = st;
	run->a.message_id = answer_id;
	rc = emit_start(&run->a);
	if (rc == DC_OK)
		rc = prepare(&run->a, user_msg_id);
	run->a.st = NULL;
	return rc;
}

enum dc_err chat_run_generate(struct chat_run *run)
{
	return generate(&run->a);
}

enum dc_err chat_run_open_model(struct chat_run *run, struct backend_run **out)
{
	struct answer *a = &run->a;
	enum dc_err rc = model_request(a);

	*out = NULL;
	if (rc != DC_OK)
		return rc;
	return backend_run_open(a->cfg, &a->breq, &a->bcb, &a->res, out, a->err, sizeof a->err);
}

enum dc_err chat_run_tick(struct chat_run *run)
{
	return on_tick(&run->a);
}

enum dc_err chat_run_generated(struct chat_run *run, enum dc_err rc)
{
	return generated(&run->a, rc);
}

enum dc_err chat_run_finish(struct chat_run *run, struct store *st, enum dc_err rc,
			    struct chat_outcome *out)
{
	run->a.st = st;
	rc = answer_end(&run->a, rc, out);
	run->a.st = NULL;
	return rc;
}

void chat_run_free(struct chat_run *run)
{
	if (!run)
		return;
	answer_free(&run->a);
	free(run);
}
