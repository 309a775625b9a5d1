/* limit.h - the per-user limits on requests: requests per minute, answers streaming at
 * once, documents owned. (Named limit.h, not limits.h, so that it never shadows the C
 * library's <limits.h> on the include path.)
 *
 * Each limit is a setting (DOCCHAT_RATE_PER_MIN, DOCCHAT_MAX_STREAMS_PER_USER,
 * DOCCHAT_MAX_DOCUMENTS; 0 turns one off) and holds across every process serving the
 * database: the counts live in SQLite (store.h), never in a process's memory. A refused
 * request gets a clear 4xx with {"error": ...}: 429 with Retry-After for the rate and
 * the streams, 403 for documents. The limits on one answer's length and duration
 * (DOCCHAT_MAX_TOKENS, DOCCHAT_MAX_STREAM_S) are enforced while it streams, in chat.c.
 *
 * The arithmetic (windows, Retry-After) is in plain functions so it can be tested
 * without a database or a request. */
#ifndef DC_LIMIT_H
#define DC_LIMIT_H

#include <stddef.h>
#include "dc.h"

struct config;
struct request;
struct store;

#define LIMIT_RATE_WINDOW_MS 60000LL	/* DOCCHAT_RATE_PER_MIN counts per minute */
#define LIMIT_STREAM_RETRY_MAX_S 10	/* longest Retry-After for a refused stream */
#define LIMIT_STREAM_STALE_SLACK_S 60	/* a slot older than DOCCHAT_MAX_STREAM_S plus
					 * this is left over and no longer counted */

/* ---- arithmetic ---- */

/* Seconds until the window that started at window_start_ms (lasting window_ms) ends,
 * seen at now_ms, rounded up and at least 1: the Retry-After of a refused request. */
long limit_retry_after_s(long long window_start_ms, long long window_ms, long long now_ms);

/* Retry-After for a refused stream: the seconds until the oldest running stream
 * (started at oldest_ms) reaches max_stream_s and must end, at least 1 and at most
 * LIMIT_STREAM_RETRY_MAX_S (streams usually end long before their limit, and with
 * max_stream_s 0 there is no bound at all). */
long limit_stream_retry_after_s(long long oldest_ms, int max_stream_s, long long now_ms);

/* Start of the stream slots counted as left over (store_stream_begin's
 * stale_before_ms) at now_ms: 0 (none) when max_stream_s is 0. */
long long limit_stream_stale_before(int max_stream_s, long long now_ms);

/* The wall clock in unix milliseconds (shared by every process on the machine). */
long long limit_now_ms(void);

/* ---- checks on a request ----
 * Each returns 1 when the request may go on, and 0 after it has answered it with a
 * 429. Without a database, or when counting fails (logged), the request goes on: a
 * limit protects the service and must not be the reason it fails. */

/* DOCCHAT_RATE_PER_MIN for r->user, counted for every request but /health. */
int limit_admit(struct request *r);

/* DOCCHAT_MAX_STREAMS_PER_USER: take a slot for one answer of r->user before its
 * stream starts; *slot is what limit_stream_end gives back (0 when the limit is off). */
int limit_stream_begin(struct request *r, long long *slot);

/* Give back a slot from limit_stream_begin (0: nothing). Failures are logged; a slot
 * that could not be given back stops counting when its process exits or after
 * DOCCHAT_MAX_STREAM_S plus LIMIT_STREAM_STALE_SLACK_S. */
void limit_stream_end(struct request *r, long long slot);

/* The same with a database connection of the caller's (relay.c's finishing thread). */
void limit_stream_release(struct store *st, long long slot);

/* ---- documents ----
 * Used by uploads (api_documents.c), which answer with their own body. */

/* DC_OK when owner may add a document; DC_TOOBIG with err saying so when
 * DOCCHAT_MAX_DOCUMENTS of theirs are stored already (answer 403); DC_DB when the
 * count failed. */
enum dc_err limit_documents_room(const struct config *cfg, struct store *st,
				 const char *owner, char *err, size_t errlen);

/* After document id was stored for owner: DC_OK when it is within
 * DOCCHAT_MAX_DOCUMENTS, counting only the documents stored before it (so of two
 * uploads racing for the last place exactly one keeps it). Otherwise the document has
 * been removed again and the result is DC_TOOBIG with err saying why (answer 403), or
 * DC_DB when the count or the removal failed. */
enum dc_err limit_document_keep(const struct config *cfg, struct store *st,
				const char *owner, long long id, char *err, size_t errlen);

#endif
