/* vectors.h - the vector half of search: embedding the library's chunks, and the
 * in-memory index that finds the chunks nearest to a question's embedding.
 *
 * Embeddings are made once per chunk after ingestion (vectors_embed_pending) and kept
 * in the database (store.c). Each process loads the vectors of its one embedding model
 * into one contiguous float array that all worker threads share read-only under a
 * rwlock; a search first compares the database's change token with the one it loaded
 * (one indexed read) and reloads when they differ, so a chunk embedded or deleted by any
 * process is seen by the next question. Ranking is exact: the dot product of
 * normalized vectors is their cosine similarity, and every vector is looked at, first
 * through a copy quantized to bytes that rules out the vectors that cannot be among
 * the nearest, then in floats for the rest (vectors.c says why that is exact); a large
 * index is scanned by two threads. Fusion with keyword results and the scores users
 * see belong to search.c; talking to the model server to embed.c. */
#ifndef DC_VECTORS_H
#define DC_VECTORS_H

#include <stddef.h>
#include <stdio.h>
#include "dc.h"

struct config;
struct store;

/* Embed every chunk that has no embedding by cfg->embed_model, cfg->embed_batch chunks
 * per request and per transaction, so that work done survives a failure later on.
 * Does nothing (DC_OK) when DOCCHAT_EMBED_MODEL is empty. One line goes to log (if
 * non-NULL) when chunks were embedded: "embedded N chunks with ollama:NAME". On failure
 * err says why ("ollama: HTTP 404: model ... not found", "DOCCHAT_EMBED_MODEL: ...");
 * the chunks stay searchable by keyword. Run after ingestion, by the CLI and the upload
 * handler; safe to run in several processes at once (a chunk embedded twice is stored
 * once). */
enum dc_err vectors_embed_pending(struct store *st, const struct config *cfg, FILE *log,
				  char *err, size_t errlen);

/* ---- the index ---- */

struct vectors_index;

struct vectors_hit {
	long long chunk_id;
	long long document_id;
	float cosine;		/* -1..1, higher is nearer */
};

/* A new, empty index for the vectors stored under model ("ollama:NAME"); it loads on
 * the first refresh. NULL on no memory. Free with vectors_index_free when no thread
 * uses it any more. */
struct vectors_index *vectors_index_new(const char *model);
void vectors_index_free(struct vectors_index *ix);

/* The process-wide index of model, created on first use and shared by every thread
 * for the life of the process (never freed). NULL (err set) on no memory. */
struct vectors_index *vectors_index_shared(const char *model, char *err, size_t errlen);

/* Bring ix up to date with the database behind st (any thread's connection): a no-op
 * when the change token is the one loaded, else the model's vectors are read again into
 * a new array and swapped in, while searches keep running on the old one until the
 * swap. Threads that find the index stale at the same time wait for one reload. On
 * failure the previous vectors stay in use and err says why. */
enum dc_err vectors_index_refresh(struct vectors_index *ix, struct store *st, char *err,
				  size_t errlen);

/* How many vectors are loaded, and their dimension (0 when none). */
size_t vectors_index_count(struct vectors_index *ix, int *dim);

/* The k nearest loaded vectors to q (dim floats, normalized), best first, among the
 * chunks owner may see (their own documents and the shared library) and, when ndocs >
 * 0, only in doc_ids. Equal similarities rank the lower chunk id first, so results are
 * repeatable. out has room for k hits; *n gets how many were found. DC_BADREQ when q's
 * dimension differs from the loaded vectors' (the model changed: embed again). An index
 * with no vectors finds nothing. */
enum dc_err vectors_index_search(struct vectors_index *ix, const float *q, int dim,
				 const char *owner, const long long *doc_ids, size_t ndocs,
				 size_t k, struct vectors_hit *out, size_t *n, char *err,
				 size_t errlen);

#endif
