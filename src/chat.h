/* chat.h - answering one question: retrieval, prompt, model stream, grounding, storage.
 *
 * The data flow of docchat in one place: the question is stored, the documents are
 * searched, the prompt is assembled with the numbered sources and the session's earlier
 * turns, the model streams the answer, and the assistant message is stored with its
 * final status (complete, interrupted or error). Events go to a sink as json-c objects
 * shaped exactly as the SSE protocol has them, so the same code drives the HTTP stream
 * and `docchat ask` on a terminal. Knows nothing of FastCGI or SSE framing. */
#ifndef DC_CHAT_H
#define DC_CHAT_H

#include <stddef.h>
#include <stdio.h>
#include <json-c/json.h>
#include "dc.h"

struct config;
struct store;

#define CHAT_PROVIDER_MAX 32
#define CHAT_MODEL_MAX 128
#define CHAT_TOP_K_MAX 50
#define CHAT_MAX_DOC_IDS 256

/* A model choice resolved from "provider:name", "extractive" or a bare name. */
struct chat_model {
	char provider[CHAT_PROVIDER_MAX];
	char name[CHAT_MODEL_MAX];
	char full[CHAT_PROVIDER_MAX + CHAT_MODEL_MAX];	/* "ollama:llama3.2", "extractive" */
};

/* Resolve requested (NULL or "" = DOCCHAT_DEFAULT_MODEL). DC_BADREQ with a message
 * naming the known providers for an unknown prefix or an empty/over-long name. */
enum dc_err chat_resolve_model(const struct config *cfg, const char *requested,
			       struct chat_model *out, char *err, size_t errlen);

/* What a question asks for, validated by the caller (api_chat.c, cli.c). */
struct chat_params {
	const char *owner;		/* "" for the local user */
	const char *session_id;
	const char *question;
	struct chat_model model;
	const char *search_mode;	/* "all", "selected" or "none" */
	const long long *doc_ids;	/* for "selected" */
	size_t ndocs;
	int top_k;			/* 1..CHAT_TOP_K_MAX */
	double temperature;		/* < 0: model default */
	FILE *prompt_out;		/* if set, the assembled prompt is written here */
};

struct chat_sink {
	/* One event ({"type": ..., ...}); ev stays owned by chat. Non-DC_OK stops the
	 * answer (DC_HUP: the client left). */
	enum dc_err (*event)(void *ud, json_object *ev);
	/* Called at least every 250 ms while waiting: ping, notice a client that left
	 * (DC_HUP) or a shutdown (DC_ABORT). */
	enum dc_err (*tick)(void *ud);
	/* Milliseconds since the request arrived. */
	long (*elapsed_ms)(void *ud);
	void *ud;
};

struct chat_outcome {
	long long message_id;		/* the assistant message, 0 if never stored */
	char status[16];		/* "complete", "interrupted", "error" */
	long completion_tokens;		/* -1 if unknown */
	char error[DC_ERRMAX];		/* when status is "error" */
};

/* Store the user's question in the session, with the row of its answer (status
 * 'streaming'), in one transaction. Run before the stream starts, so a database failure
 * can still be an HTTP 503. */
enum dc_err chat_store_question(struct store *st, const struct chat_params *p,
				long long *user_msg_id, long long *answer_id, char *err,
				size_t errlen);

/* Produce the answer: start, status, sources, status, chunk..., metadata, done (or
 * error, done). Returns DC_OK when the sequence was delivered to the end (the answer
 * itself may have failed: see out->status), DC_HUP when the client left (the partial
 * answer is stored as interrupted). */
enum dc_err chat_answer(const struct config *cfg, struct store *st,
			const struct chat_params *p, long long user_msg_id, long long answer_id,
			const struct chat_sink *sink, struct chat_outcome *out);

/* ---- the same answer in phases, for a caller that streams the model's part on
 * another thread (api_chat.c hands it to relay.c) ----
 * chat_run_new, chat_run_prepare (start .. "Generating response..."), then either
 * chat_run_generate (blocking) or chat_run_open_model + driving the backend_run +
 * chat_run_generated, and last chat_run_finish (metadata, done or error, done; the
 * final row), whatever failed before. Each phase may run on a different thread, one
 * at a time, with that thread's database connection. */
struct chat_run;
struct backend_run;

/* A run for p, which is copied (the run outlives the caller's request; prompt_out is
 * not kept). Events go to sink (copied). DC_NOMEM. */
enum dc_err chat_run_new(const struct config *cfg, const struct chat_params *p,
			 const struct chat_sink *sink, struct chat_run **out);

/* Send later events to sink instead (copied). */
void chat_run_set_sink(struct chat_run *run, const struct chat_sink *sink);

/* start, status, search, sources, status "Generating response..." (the rows come from
 * chat_store_question). On failure go straight to chat_run_finish with the code. */
enum dc_err chat_run_prepare(struct chat_run *run, struct store *st, long long user_msg_id,
			     long long answer_id);

/* The model's answer on this thread (blocking), as chat_answer runs it. */
enum dc_err chat_run_generate(struct chat_run *run);

/* The model's answer as a backend_run for the caller to drive: its tokens become chunk
 * events through the run's sink, within DOCCHAT_MAX_TOKENS and DOCCHAT_MAX_STREAM_S.
 * The caller calls chat_run_tick at least every 250 ms while it runs (a non-OK result
 * stops it), ends it with backend_run_end, passes that code through chat_run_generated
 * and frees the backend_run before chat_run_finish. */
enum dc_err chat_run_open_model(struct chat_run *run, struct backend_run **out);
enum dc_err chat_run_tick(struct chat_run *run);
enum dc_err chat_run_generated(struct chat_run *run, enum dc_err rc);

/* The end: with rc DC_OK, metadata and done; otherwise error and done (nothing more
 * for DC_HUP). Stores the final row with st. Returns as chat_answer does. */
enum dc_err chat_run_finish(struct chat_run *run, struct store *st, enum dc_err rc,
			    struct chat_outcome *out);

void chat_run_free(struct chat_run *run);

#endif
