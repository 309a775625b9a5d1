/* store.h - every SQL statement docchat runs: schema, migrations, sessions, messages,
 * documents, chunks, the FTS5 keyword index, the chunks' embedding vectors and the
 * counts behind the per-user limits.
 *
 * One struct store per thread (SQLite connections are not shared). The database is in
 * WAL mode with a busy timeout and foreign keys on; the schema version lives in
 * PRAGMA user_version and store_open migrates forward. Everything is bound parameters.
 * The store knows no HTTP and no JSON: sources and metadata are opaque text columns
 * that callers fill with JSON. Rows read back are validated (types, ranges) here.
 *
 * Strings in returned structs are malloc'd and owned by the struct; free them with the
 * matching *_clear / *_free function. Ownership filters: `owner` is the user name the
 * row belongs to ("" for the single local user / shared library); a row of another
 * owner is reported as DC_NOTFOUND, exactly like a missing one. */
#ifndef DC_STORE_H
#define DC_STORE_H

#include <stddef.h>
#include "dc.h"

struct store;

#define STORE_ID_LEN 36		/* session ids are random UUIDv4 strings */

/* Open (creating if needed) the database at path and migrate it. The directory must
 * exist, and the file must be writable (a database docchat may only read is refused).
 * On failure *out is NULL and err says why (path included). */
enum dc_err store_open(const char *path, struct store **out, char *err, size_t errlen);
void store_close(struct store *st);

/* Cheap liveness check (reads the schema version): DC_OK or DC_DB with a cause. */
enum dc_err store_health(struct store *st, char *err, size_t errlen);

/* 1 when the file at the database's path is no longer the one this connection has open
 * (it was deleted, renamed or replaced): close the connection and open the path again,
 * or writes go on into a file nobody will read. */
int store_stale(struct store *st);

/* Tag the 'streaming' messages this connection adds with worker (an opaque process
 * identity, see worker.h; NULL: none). The string is copied. DC_NOMEM on failure. */
enum dc_err store_set_worker(struct store *st, const char *worker);

/* Mark assistant messages left in status 'streaming' as 'interrupted' when their writer
 * is gone: rows without a worker, and rows whose worker alive(ud, worker) denies (a
 * NULL alive denies all). *count gets how many were marked. Run at start-up. */
enum dc_err store_recover_streaming(struct store *st,
				    int (*alive)(void *ud, const char *worker), void *ud,
				    int *count, char *err, size_t errlen);

/* ---- sessions ---- */
struct store_session {
	char id[STORE_ID_LEN + 1];
	char *title;
	long long created_at;	/* unix seconds */
	long long updated_at;
	long long message_count;
};
void store_session_clear(struct store_session *s);
void store_sessions_free(struct store_session *s, size_t n);

/* title NULL or "" gets "New chat". */
enum dc_err store_session_create(struct store *st, const char *owner, const char *title,
				 struct store_session *out, char *err, size_t errlen);
enum dc_err store_session_get(struct store *st, const char *owner, const char *id,
			      struct store_session *out, char *err, size_t errlen);
/* Newest first (by updated_at). */
enum dc_err store_session_list(struct store *st, const char *owner,
			       struct store_session **out, size_t *n, char *err, size_t errlen);
enum dc_err store_session_rename(struct store *st, const char *owner, const char *id,
				 const char *title, char *err, size_t errlen);
/* Deletes its messages too. */
enum dc_err store_session_delete(struct store *st, const char *owner, const char *id,
				 char *err, size_t errlen);

/* ---- messages ---- */
struct store_message {
	long long id;
	char role[16];		/* "user" or "assistant" */
	char status[16];	/* "complete", "streaming", "interrupted" or "error" */
	char *content;
	char *model;		/* NULL for user messages */
	char *error;		/* NULL unless status is "error" */
	char *sources;		/* JSON text or NULL */
	char *metadata;		/* JSON text or NULL */
	long long created_at;
};
void store_messages_free(struct store_message *m, size_t n);

/* Add a message to a session (and bump the session's updated_at). status: see above. */
enum dc_err store_message_add(struct store *st, const char *session_id, const char *role,
			      const char *content, const char *status, const char *model,
			      long long *id_out, char *err, size_t errlen);
/* A question and the row of its answer, in one transaction: the user message
 * (complete) and an empty assistant message with status 'streaming' for model, carrying
 * this connection's worker identity. DC_NOTFOUND if the session does not exist. */
enum dc_err store_exchange_begin(struct store *st, const char *session_id,
				 const char *question, const char *model, long long *question_id,
				 long long *answer_id, char *err, size_t errlen);

/* Final state of an assistant message. error, sources, metadata may be NULL. */
enum dc_err store_message_finish(struct store *st, long long id, const char *content,
				 const char *status, const char *error, const char *sources,
				 const char *metadata, char *err, size_t errlen);

/* When store_message_finish failed because the database was unusable (locked past the
 * busy timeout, full, read-only), the answer is not lost: store_defer_finish keeps a
 * copy of the same arguments in memory, shared by the process's threads, and
 * store_flush_deferred writes the kept ends, oldest first, once the database takes
 * them again. Until then the row stays 'streaming'; if the process ends first, the next
 * start marks it 'interrupted' as after a crash.
 * store_defer_finish copies every string; DC_NOMEM, or DC_TOOBIG when the kept ends
 * would use more than 64 MiB (the end is then dropped). */
enum dc_err store_defer_finish(long long id, const char *content, const char *status,
			       const char *error, const char *sources, const char *metadata);
/* Write kept ends with st until one fails (then wait a second before trying again).
 * Returns how many are still kept; *written (may be NULL) gets how many were written.
 * Any thread may call it; while another is writing it returns at once. An end whose
 * message is gone (its session was deleted) is dropped. */
size_t store_flush_deferred(struct store *st, size_t *written);
/* How many ends are kept (cheap; 0 nearly always). */
size_t store_deferred_count(void);
/* Oldest first. */
enum dc_err store_message_list(struct store *st, const char *session_id,
			       struct store_message **out, size_t *n, char *err, size_t errlen);

/* ---- documents and chunks ---- */
struct store_document {
	long long id;
	char *name;		/* file name as shown to users */
	char *path;		/* where it was ingested from, or NULL */
	char *owner;		/* "" for the shared library */
	char *hash;		/* content hash, hex */
	long long size;		/* bytes */
	long long chunk_count;
	long long created_at;
};
void store_documents_free(struct store_document *d, size_t n);

struct store_chunk_in {
	const char *text;
	const char *heading;	/* heading path "A > B", or NULL */
	long long start, end;	/* character offsets in the extracted text */
	int page;		/* 0 if not paged */
};

/* Add a document and its chunks in one transaction. If a document with the same owner
 * and hash exists, nothing is added, *existed = 1 and *id_out is the old id. */
enum dc_err store_document_add(struct store *st, const char *owner, const char *name,
			       const char *path, const char *hash, long long size,
			       const struct store_chunk_in *chunks, size_t nchunks,
			       long long *id_out, int *existed, char *err, size_t errlen);
/* Documents the owner may see: their own and the shared library (owner ""). */
enum dc_err store_document_list(struct store *st, const char *owner,
				struct store_document **out, size_t *n, char *err, size_t errlen);
enum dc_err store_document_delete(struct store *st, const char *owner, long long id,
				  char *err, size_t errlen);

/* The id of owner's document with this content hash: DC_OK and *id, or DC_NOTFOUND
 * (err untouched) when there is none. Lets ingestion skip a file before reading it. */
enum dc_err store_document_find_by_hash(struct store *st, const char *owner,
					const char *hash, long long *id, char *err,
					size_t errlen);
/* One document of any owner, for the command line (an administrator's tool): *out is
 * a one-element array freed with store_documents_free(*out, 1); DC_NOTFOUND (with
 * *out NULL) when there is no such id. */
enum dc_err store_document_get(struct store *st, long long id, struct store_document **out,
			       char *err, size_t errlen);
/* Every document of every owner, by owner ("" first), name and id; for the command
 * line. *out is freed with store_documents_free. */
enum dc_err store_document_list_all(struct store *st, struct store_document **out,
				    size_t *n, char *err, size_t errlen);
/* Delete owner's documents ingested from path, except keep_id (0 keeps none), with
 * their chunks and index entries; *removed gets how many. A NULL path removes nothing.
 * Used to replace a changed file after its new version is stored. */
enum dc_err store_document_delete_by_path(struct store *st, const char *owner,
					  const char *path, long long keep_id, int *removed,
					  char *err, size_t errlen);

/* ---- keyword search ---- */
struct store_hit {
	long long chunk_id;
	long long document_id;
	char *document;		/* document name */
	char *heading;		/* or NULL */
	char *text;
	int ordinal;		/* chunk number within the document, from 0 */
	int page;		/* 0 if not paged */
	double bm25;		/* SQLite's bm25(): lower (more negative) is better */
};
void store_hits_free(struct store_hit *h, size_t n);
/* Free the strings of one hit (e.g. one moved into another struct) and zero it. */
void store_hit_clear(struct store_hit *h);

/* Run an FTS5 MATCH expression (already built safely by search.c, never user text)
 * over the chunks owner may see, restricted to doc_ids when ndocs > 0, best first
 * (lowest bm25(chunks_fts, 1.0, 0.5), then lowest chunk id), at most limit rows. The
 * scores are those of FTS5's bm25(); only the best limit rows are ever fully scored
 * and read. A malformed expression is DC_DB. */
enum dc_err store_search_fts(struct store *st, const char *owner, const char *match,
			     const long long *doc_ids, size_t ndocs, int limit,
			     struct store_hit **out, size_t *n, char *err, size_t errlen);

/* How many rows the keyword index holds (*rows) and how many of them hold phrase (one
 * FTS5 string: a word in double quotes, *hits): what BM25's IDF is made of. *hits 0
 * (and *rows possibly 0) when no row holds it. Costs one pass over the phrase's
 * postings. */
enum dc_err store_fts_count(struct store *st, const char *phrase, long long *rows,
			    long long *hits, char *err, size_t errlen);

/* store_search_fts with the IDF of each phrase of match counted already: hits[i] rows
 * of rows hold the i-th phrase (store_fts_count), which saves counting them again.
 * When nhits differs from the number of phrases FTS5 finds in match they are counted
 * here after all. Results as store_search_fts. */
enum dc_err store_search_fts_counted(struct store *st, const char *owner, const char *match,
				     long long rows, const long long *hits, size_t nhits,
				     const long long *doc_ids, size_t ndocs, int limit,
				     struct store_hit **out, size_t *n, char *err, size_t errlen);

/* Chunks by id, in the order of ids, as hits (bm25 0) for showing vector results.
 * Ids that no longer exist or that owner may not see are left out, so *nout <= n. */
enum dc_err store_chunks_get(struct store *st, const char *owner, const long long *ids,
			     size_t n, struct store_hit **out, size_t *nout, char *err,
			     size_t errlen);

/* ---- embeddings ----
 * One vector per chunk, under the name of the model that made it ("ollama:NAME").
 * Stored as dim float32 values in the machine's byte order (little-endian on x86-64 and
 * arm64); rows read back are checked: dimension 1..STORE_EMBED_DIM_MAX, the blob's size,
 * every value finite. */
#define STORE_EMBED_DIM_MAX 8192

struct store_pending {
	long long id;		/* chunk id */
	char *text;		/* owned */
};
void store_pending_free(struct store_pending *p, size_t n);

/* Up to limit chunks with id > after_id, ascending, that have no embedding made by
 * model (none at all, or one by another model). Page through with the last id. */
enum dc_err store_chunks_unembedded(struct store *st, const char *model, long long after_id,
				    int limit, struct store_pending **out, size_t *n,
				    char *err, size_t errlen);

/* Store n vectors (row i: vectors[i*dim .. i*dim+dim)) for chunk_ids[i] in one
 * transaction, replacing a chunk's earlier vector. Chunks deleted in the meantime are
 * skipped. DC_BADREQ for dim outside 1..STORE_EMBED_DIM_MAX or a non-finite value
 * (nothing is stored then). */
enum dc_err store_embeddings_put(struct store *st, const char *model, const long long *chunk_ids,
				 const float *vectors, size_t n, int dim, char *err, size_t errlen);

/* The change token of the embeddings: a counter that every insert, update and delete of
 * an embedding (including those cascading from a deleted document) moves forward in the
 * same transaction. Equal tokens mean the same vectors, in any process. */
enum dc_err store_embeddings_token(struct store *st, long long *token, char *err,
				   size_t errlen);

/* One stored vector as store_embeddings_scan hands it over; pointers are valid only
 * during the call. */
struct store_vector_row {
	long long chunk_id;
	long long document_id;
	const char *owner;	/* the document's owner, "" for the shared library */
	const float *vector;	/* dim finite floats, aligned */
	int dim;
};
struct store_vector_sink {
	/* Non-DC_OK (with err written) stops the scan and is returned. */
	enum dc_err (*row)(void *ud, const struct store_vector_row *r, char *err,
			   size_t errlen);
	void *ud;
};

/* Hand every vector of model to sink, by ascending chunk id, and set *token to the
 * change token of exactly that state (one read transaction). *token is -1 on failure. */
enum dc_err store_embeddings_scan(struct store *st, const char *model,
				  const struct store_vector_sink *sink, long long *token,
				  char *err, size_t errlen);

/* ---- limits ----
 * State of the per-user limits (limit.c), shared by every process that opens the
 * database, so a limit holds however many processes serve a user. Times are unix
 * milliseconds given by the caller; owner is the user name ("" for the local user). */

/* Count one request of owner. Requests fall in windows of window_ms: a window starts
 * with owner's first request after the previous one ended (or when now_ms is before
 * the window's start: the clock went back). *window_start gets the start of this
 * request's window and *count how many requests (this one included) fell in it. One
 * statement, atomic across processes. Starting a window also deletes the windows of
 * every owner that have ended. */
enum dc_err store_rate_hit(struct store *st, const char *owner, long long now_ms,
			   long long window_ms, long long *window_start, long long *count,
			   char *err, size_t errlen);

/* Take one of owner's max stream slots, in one IMMEDIATE transaction so that requests
 * racing from several processes cannot take more than max. Rows that started before
 * stale_before_ms (0: no such rule) and rows whose worker alive(ud, worker) denies
 * (alive NULL: every row counts as live) are deleted first. *running and *oldest_ms
 * get the number of live slots and the start of the oldest, as found before taking
 * one. *slot is the new slot's id (> 0), or 0 when all max were taken. The slot is
 * tagged with this store's worker (store_set_worker). */
enum dc_err store_stream_begin(struct store *st, const char *owner, int max, long long now_ms,
			       long long stale_before_ms,
			       int (*alive)(void *ud, const char *worker), void *ud,
			       long long *slot, int *running, long long *oldest_ms,
			       char *err, size_t errlen);

/* Give a slot back (slot 0: nothing to do). */
enum dc_err store_stream_end(struct store *st, long long slot, char *err, size_t errlen);

/* How many documents owner owns (owner "" : the shared library), counting only ids up
 * to upto when upto > 0. Ids grow, so with upto a document's own id this says how many
 * of owner's documents were stored before it, itself included. */
enum dc_err store_document_count(struct store *st, const char *owner, long long upto,
				 long long *n, char *err, size_t errlen);

/* ---- API tokens ----
 * Tokens (auth.c) are kept as the SHA-256 of their text, never the text itself; prefix
 * is the token's first characters, shown in lists and used to find the candidates for
 * a presented token. Times are unix seconds, 0 for "never". */
#define STORE_TOKEN_HASH_LEN 32

struct store_token {
	long long id;
	char *user;		/* never "" */
	char *prefix;
	unsigned char hash[STORE_TOKEN_HASH_LEN];
	long long created_at;
	long long last_used_at;	/* 0: never used */
	long long revoked_at;	/* 0: not revoked */
};
void store_tokens_free(struct store_token *t, size_t n);

/* Store a new token for user (not ""); *id gets its id. */
enum dc_err store_token_add(struct store *st, const char *user, const char *prefix,
			    const unsigned char hash[STORE_TOKEN_HASH_LEN], long long *id,
			    char *err, size_t errlen);
/* Every token with this prefix, revoked or not, by id; *out is freed with
 * store_tokens_free (NULL and 0 when there is none). */
enum dc_err store_token_find(struct store *st, const char *prefix, struct store_token **out,
			     size_t *n, char *err, size_t errlen);
/* Every token, by id. */
enum dc_err store_token_list(struct store *st, struct store_token **out, size_t *n,
			     char *err, size_t errlen);
/* Mark token id revoked now; DC_NOTFOUND when there is no such token or it already is. */
enum dc_err store_token_revoke(struct store *st, long long id, char *err, size_t errlen);
/* Record that token id was used at now (unix seconds). */
enum dc_err store_token_touch(struct store *st, long long id, long long now, char *err,
			      size_t errlen);

#endif
