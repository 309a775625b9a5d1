/* backend.h - one interface to every model server: stream a chat, call back per token.
 *
 * Implementations: backend_openai.c (OpenAI-compatible /chat/completions SSE),
 * backend_ollama.c (Ollama /api/chat NDJSON), backend_extractive.c (built in, no network:
 * quotes the best retrieved passages). They know nothing of the web server or SSE to the
 * client: text goes out through the token callback, and the tick callback lets the caller
 * ping the client or notice it left while the model is silent. */
#ifndef DC_BACKEND_H
#define DC_BACKEND_H

#include <stddef.h>
#include "dc.h"

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

/* The model names one provider offers (OpenAI GET /models, Ollama GET /api/tags;
 * extractive: "extractive"). *names is a malloc'd array of malloc'd strings that the
 * caller frees with backend_names_free. */
enum dc_err backend_list_models(const struct config *cfg, const char *provider,
				char ***names, size_t *n, char *err, size_t errlen);
void backend_names_free(char **names, size_t n);

#endif
