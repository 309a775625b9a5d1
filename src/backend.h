/* backend.h - one interface to every model server: stream a chat, call back per token.
 *
 * Implementations: backend_openai.c (OpenAI-compatible /chat/completions SSE),
 * backend_ollama.c (Ollama /api/chat NDJSON), backend_extractive.c (built in, no network:
 * quotes the best retrieved passages). They know nothing of the web server or SSE to the
 * client: text goes out through the token callback, and the tick callback lets the caller
 * ping the client or notice it left while the model is silent.
 *
 * Two ways to run an answer: backend_stream blocks the calling thread until the answer
 * ended; a backend_run (backend_run_open) is the same answer as an object that an event
 * loop drives: its transfer sits on the loop's curl multi handle, and the extractive
 * backend hands out one word per backend_run_step. Both share every parser and text. */
#ifndef DC_BACKEND_H
#define DC_BACKEND_H

#include <stddef.h>
#include <curl/curl.h>
#include "buf.h"
#include "dc.h"
#include "http_stream.h"

struct config;

struct backend_msg {
	const char *role;	/* "system", "user" or "assistant" */
	const char *content;
};

/* A retrieved passage, as the extractive backend sees it. */
struct backend_source {
	const char *text;
	const char *document;
	double score;
};

struct backend_req {
	const char *provider;	/* "openai", "ollama" or "extractive" */
	const char *model;	/* model name without the provider prefix */
	const struct backend_msg *msgs;	/* the whole conversation, system first */
	size_t nmsgs;
	double temperature;	/* < 0: not set, the model's default */
	long max_tokens;	/* <= 0: not set */
	const char *question;	/* extractive: the question */
	const struct backend_source *sources;	/* extractive: numbered 1..n */
	size_t nsources;
	int delay_ms;		/* extractive: pause between words */
};

struct backend_result {
	char finish_reason[32];	/* "stop", "length", ... ("" if never told) */
	long prompt_tokens;	/* -1 if unknown */
	long completion_tokens;	/* -1 if unknown */
};

struct backend_cb {
	/* A piece of answer text, len > 0, valid UTF-8. Non-DC_OK aborts the transfer at
	 * once and becomes backend_stream's result. */
	enum dc_err (*token)(void *ud, const char *text, size_t len);
	/* Called at least every 250 ms while the stream is open, tokens or not. Non-DC_OK
	 * aborts the transfer at once and becomes backend_stream's result (DC_HUP when
	 * the client left, DC_ABORT on shutdown). */
	enum dc_err (*tick)(void *ud);
	void *ud;
};

/* The providers docchat knows, NULL-terminated: "openai", "ollama", "extractive". */
extern const char *const backend_providers[];

/* Is name one of backend_providers? */
int backend_known(const char *name);

/* Stream one answer. Returns DC_OK when the model finished normally; otherwise err holds
 * "<provider>: <what happened>" (for HTTP errors the upstream's own message). res is
 * filled as far as known in every case. A callback's non-OK result is returned as is. */
enum dc_err backend_stream(const struct config *cfg, const struct backend_req *req,
			   const struct backend_cb *cb, struct backend_result *res,
			   char *err, size_t errlen);

/* One answer being streamed, driven by the caller. */
struct backend_run;

/* Prepare req's answer (nothing is sent yet). req, cb and res must outlive the run, and
 * so must err (errlen bytes), where every later failure is described. */
enum dc_err backend_run_open(const struct config *cfg, const struct backend_req *req,
			     const struct backend_cb *cb, struct backend_result *res,
			     struct backend_run **out, char *err, size_t errlen);

/* Does the run stream from a model server (1: start it on a multi handle) or is it made
 * here word by word (0: call backend_run_step)? */
int backend_run_is_http(const struct backend_run *r);

/* HTTP: add the transfer to multi; the caller drives multi and tells the run its end
 * (backend_run_done). Tokens and errors go to the callbacks as curl delivers data. */
enum dc_err backend_run_start(struct backend_run *r, CURLM *multi);
/* HTTP: the transfer, to match the easy handles that curl reports (http_stream_of). */
struct http_stream *backend_run_transfer(struct backend_run *r);
void backend_run_done(struct backend_run *r, CURLcode result);
/* HTTP: has the model been silent too long (DOCCHAT_UPSTREAM_IDLE_S) at now ms? Then
 * the outcome is the silence error; end the run. */
int backend_run_silent(struct backend_run *r, long long now);
/* Hold back (1) or let through (0) the model's data while the client is backed up. */
void backend_run_pause(struct backend_run *r, int pause);

/* Not HTTP: send the next word through the token callback. *more is 0 after the last
 * word; *delay_ms is the pause the backend wants before the next one. A callback's
 * non-OK result stops the run: end it next. */
enum dc_err backend_run_step(struct backend_run *r, int *more, int *delay_ms);

/* The caller stops the answer for why (the client left, a shutdown, a limit). */
void backend_run_stop(struct backend_run *r, enum dc_err why);

/* How the answer ended, as backend_stream would return it; err and res filled. The run
 * may only be freed after this. */
enum dc_err backend_run_end(struct backend_run *r);
void backend_run_free(struct backend_run *r);

/* ---- for the HTTP backends (backend_openai.c, backend_ollama.c) ---- */

/* What an HTTP backend prepares for one answer: the request, the buffers it points into
 * and the parser its body goes to (the request's data callback feeds it). */
struct backend_http {
	struct http_stream_req hreq;
	struct buf url, body, auth;
	const char *headers[4];
	void *parser;		/* owned; freed with parser_free */
	enum dc_err (*finish)(void *parser, char *err, size_t errlen);
	void (*parser_free)(void *parser);
};

/* Empty h, with the limits for its buffers. */
void backend_http_init(struct backend_http *h, size_t url_max, size_t body_max,
		       size_t auth_max);
/* Point h's request at its url, body and headers, for provider (secret: redacted from
 * errors; may be NULL), with the body fed to parser by feed and ticks to cb. */
void backend_http_ready(struct backend_http *h, const char *provider, const char *secret,
			int connect_s, int idle_s, http_stream_data_fn feed, void *parser,
			const struct backend_cb *cb);

/* Free everything h holds; the Authorization header is wiped first. */
void backend_http_free(struct backend_http *h);

/* The model names one provider offers (OpenAI GET /models, Ollama GET /api/tags;
 * extractive: "extractive"). *names is a malloc'd array of malloc'd strings that the
 * caller frees with backend_names_free. */
enum dc_err backend_list_models(const struct config *cfg, const char *provider,
				char ***names, size_t *n, char *err, size_t errlen);
void backend_names_free(char **names, size_t n);

#endif
