/* embed.h - turning texts into embedding vectors with a model server.
 *
 * DOCCHAT_EMBED_MODEL names the model as "provider:name":
 *   ollama:nomic-embed-text       POST {DOCCHAT_OLLAMA_URL}/api/embed
 *                                 {"model", "input": [...]} -> {"embeddings": [[...], ...]}
 *   openai:text-embedding-3-small POST {DOCCHAT_OPENAI_URL}/embeddings with the API key
 *                                 {"model", "input": [...], "encoding_format": "float"}
 *                                 -> {"data": [{"index": i, "embedding": [...]}, ...]}
 * Texts go out in batches of DOCCHAT_EMBED_BATCH. Every reply is validated here, at the
 * boundary: one vector per text, all of the same dimension (1..EMBED_DIM_MAX), every
 * element a finite number that fits a float, none all zeros. What comes back is float32,
 * each vector scaled to length 1 (L2-normalized), so that a dot product of two of them is
 * their cosine similarity.
 *
 * The HTTP call and the quoting of upstream errors belong to http_stream.c; error texts
 * start with the provider ("ollama: HTTP 404: model ... not found") and never contain the
 * API key. Storing vectors is store.c's business, ranking vectors.c's and search.c's. */
#ifndef DC_EMBED_H
#define DC_EMBED_H

#include <stddef.h>
#include "dc.h"

struct config;

#define EMBED_DIM_MAX 8192		/* largest vector accepted from a model server */
#define EMBED_PROVIDER_MAX 16
#define EMBED_NAME_MAX 128

/* A parsed DOCCHAT_EMBED_MODEL. */
struct embed_model {
	char provider[EMBED_PROVIDER_MAX];	/* "ollama" or "openai" */
	char name[EMBED_NAME_MAX];		/* the model's name at that provider */
	char full[EMBED_PROVIDER_MAX + EMBED_NAME_MAX];	/* "ollama:nomic-embed-text": the
							 * name embeddings are stored under */
};

/* Parse spec ("ollama:NAME" or "openai:NAME"; a bare NAME takes DOCCHAT_DEFAULT_PROVIDER
 * when that is ollama or openai). DC_BADREQ with a message naming DOCCHAT_EMBED_MODEL
 * for an empty spec, an unknown provider, or an empty, over-long or control-character
 * name. */
enum dc_err embed_model_parse(const struct config *cfg, const char *spec,
			      struct embed_model *out, char *err, size_t errlen);

/* Embed texts[0..n) (n >= 1, each a NUL-terminated UTF-8 string) with model m, in
 * requests of at most cfg->embed_batch texts. total_s > 0 bounds each request (for a
 * question being answered); 0 leaves only DOCCHAT_UPSTREAM_IDLE_S (ingestion).
 * On DC_OK *vectors is a malloc'd array of n * *dim floats, row i the normalized vector
 * of texts[i]; the caller frees it. On failure *vectors is NULL and err says
 * "<provider>: <what happened>" (DC_UPSTREAM, DC_TIMEOUT, DC_NOMEM, DC_BADREQ for a
 * missing server URL). */
enum dc_err embed_texts(const struct config *cfg, const struct embed_model *m,
			const char *const *texts, size_t n, int total_s, float **vectors,
			int *dim, char *err, size_t errlen);

/* Called while an embedding request waits, as backend.h's tick: at least every 250 ms; a
 * non-OK result stops the request and is returned (err "<provider>: stopped: ..."). */
struct embed_tick {
	enum dc_err (*fn)(void *ud);
	void *ud;
};

/* embed_texts with tick (NULL: none), for a question being answered. */
enum dc_err embed_texts_ticked(const struct config *cfg, const struct embed_model *m,
			       const char *const *texts, size_t n, int total_s,
			       const struct embed_tick *tick, float **vectors, int *dim,
			       char *err, size_t errlen);

/* Validate and convert one reply body (len bytes, need not be NUL-terminated) of
 * provider ("ollama" or "openai") that should carry n vectors. Same results as
 * embed_texts; every problem is DC_UPSTREAM with "<provider>: ..." in err. Exposed for
 * tests. */
enum dc_err embed_parse_reply(const char *provider, const char *body, size_t len, size_t n,
			      float **vectors, int *dim, char *err, size_t errlen);

/* Scale v[0..dim) to length 1. Returns 0 when that is impossible (all zeros, or a
 * non-finite element or length), leaving v unchanged. */
int embed_normalize(float *v, size_t dim);

#endif
