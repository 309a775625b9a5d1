/* limit.c - the per-user limits on requests (see limit.h).
 *
 * Rate: a fixed window of a minute per user that opens with the user's first request
 * after the last window closed, counted with one UPSERT (store_rate_hit); a request
 * beyond DOCCHAT_RATE_PER_MIN in its window is a 429 whose Retry-After is the time
 * left in the window. Refused requests count too, so a client that keeps hammering
 * gains nothing, and the count starts afresh when the window ends. Anchoring the
 * window at the user's first request rather than at the clock's minutes gives everyone
 * the whole allowance from their first request; the price of one counter per user is
 * that two windows back to back may carry up to twice the limit within a minute.
 *
 * Streams: one row per running answer, taken in an IMMEDIATE transaction before the
 * stream starts and deleted when it ends. A row carries its process's identity
 * (worker.h), so the slots of a process that died are freed by the next request that
 * counts; a row older than DOCCHAT_MAX_STREAM_S (plus a slack) is left over whatever
 * its process, since no answer runs that long.
 *
 * Documents: a cheap count before an upload is read, and after each new document a
 * count of the user's documents stored before it: the store hands out growing ids, so
 * of two uploads racing for the last place the later one sees the earlier and gives
 * its place back.
 *
 * Leaves SQL to store.c and the answers' own limits (tokens, duration) to chat.c. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>

#include "config.h"
#include "conn.h"
#include "limit.h"
#include "log.h"
#include "request.h"
#include "response.h"
#include "store.h"
#include "worker.h"

#define LIMIT_HEADER_MAX 128
#define LIMIT_EXEMPT_PATH "/health"	/* monitors poll it; it must not be refused */

/* ---- arithmetic ---- */

/* ms as whole seconds, rounded up, at least 1. */
static long ceil_seconds(long long ms)
{
	long long s;

	if (ms <= 0)
		return 1;
	s = (ms + 999) / 1000;
	return s < 1 ? 1 : (long)s;
}

long limit_retry_after_s(long long window_start_ms, long long window_ms, long long now_ms)
{
	return ceil_seconds(window_start_ms + window_ms - now_ms);
}

long limit_stream_retry_after_s(long long oldest_ms, int max_stream_s, long long now_ms)
{
	long s;

	if (max_stream_s <= 0)
		return LIMIT_STREAM_RETRY_MAX_S;
	s = ceil_seconds(oldest_ms + (long long)max_stream_s * 1000 - now_ms);
	return s > LIMIT_STREAM_RETRY_MAX_S ? LIMIT_STREAM_RETRY_MAX_S : s;
}

long long limit_stream_stale_before(int max_stream_s, long long now_ms)
{
	if (max_stream_s <= 0)
		return 0;
	return now_ms - ((long long)max_stream_s + LIMIT_STREAM_STALE_SLACK_S) * 1000;
}

long long limit_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (long long)time(NULL) * 1000;
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- replies ---- */

/* 429 with Retry-After: retry_s, and {"error": message, "retry_after": retry_s}. */
static void too_many(struct request *r, long retry_s, const char *message)
{
	char extra[LIMIT_HEADER_MAX];
	json_object *o = json_object_new_object();
	const char *body;
	size_t len;

	snprintf(r->error, sizeof r->error, "%s", message);
	if (!o || snprintf(extra, sizeof extra, "Cache-Control: no-store\r\nRetry-After: %ld\r\n",
			   retry_s) >= (int)sizeof extra) {
		json_object_put(o);
		response_error(r, 429, "%s", message);
		return;
	}
	json_object_object_add(o, "error", json_object_new_string(message));
	json_object_object_add(o, "retry_after", json_object_new_int64(retry_s));
	body = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
						 JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (body && response_headers(r, 429, "application/json", extra) == DC_OK &&
	    conn_write(r->conn, body, len) == DC_OK && conn_write(r->conn, "\n", 1) == DC_OK)
		conn_flush(r->conn);
	json_object_put(o);
}

static const char *user_of(const struct request *r)
{
	return r->user ? r->user : "";
}

/* ---- rate ---- */

int limit_admit(struct request *r)
{
	char err[DC_ERRMAX], msg[DC_ERRMAX];
	int max = r->cfg->rate_per_min;
	long long now, start = 0, count = 0;
	long retry;

	if (max <= 0 || !r->store || strcmp(r->path, LIMIT_EXEMPT_PATH) == 0)
		return 1;
	now = limit_now_ms();
	if (store_rate_hit(r->store, user_of(r), now, LIMIT_RATE_WINDOW_MS, &start, &count, err,
			   sizeof err) != DC_OK) {
		log_msg("rate limit not checked: %s", err);
		return 1;
	}
	if (count <= max)
		return 1;
	retry = limit_retry_after_s(start, LIMIT_RATE_WINDOW_MS, now);
	snprintf(msg, sizeof msg, "rate limit reached: DOCCHAT_RATE_PER_MIN allows %d requests "
		 "per minute; try again in %ld s", max, retry);
	too_many(r, retry, msg);
	return 0;
}

/* ---- streams ---- */

int limit_stream_begin(struct request *r, long long *slot)
{
	char err[DC_ERRMAX], msg[DC_ERRMAX];
	int max = r->cfg->max_streams_per_user, running = 0;
	long long now, oldest = 0;
	long retry;

	*slot = 0;
	if (max <= 0 || !r->store)
		return 1;
	now = limit_now_ms();
	if (store_stream_begin(r->store, user_of(r), max, now,
			       limit_stream_stale_before(r->cfg->max_stream_s, now), worker_alive,
			       NULL, slot, &running, &oldest, err, sizeof err) != DC_OK) {
		log_msg("stream limit not checked: %s", err);
		*slot = 0;
		return 1;
	}
	if (*slot > 0)
		return 1;
	retry = limit_stream_retry_after_s(oldest, r->cfg->max_stream_s, now);
	snprintf(msg, sizeof msg, "too many answers at once: DOCCHAT_MAX_STREAMS_PER_USER allows "
		 "%d streaming at a time; try again in %ld s", max, retry);
	too_many(r, retry, msg);
	return 0;
}

void limit_stream_release(struct store *st, long long slot)
{
	char err[DC_ERRMAX];

	if (slot > 0 && st && store_stream_end(st, slot, err, sizeof err) != DC_OK)
		log_msg("stream slot %lld not given back: %s", slot, err);
}

void limit_stream_end(struct request *r, long long slot)
{
	limit_stream_release(r->store, slot);
}

/* ---- documents ---- */

static enum dc_err documents_full(const struct config *cfg, char *err, size_t errlen)
{
	return dc_fail(err, errlen, DC_TOOBIG, "document limit reached: DOCCHAT_MAX_DOCUMENTS "
		       "allows %d documents per user; delete some to add more", cfg->max_documents);
}

enum dc_err limit_documents_room(const struct config *cfg, struct store *st,
				 const char *owner, char *err, size_t errlen)
{
	long long n = 0;
	enum dc_err rc;

	if (cfg->max_documents <= 0)
		return DC_OK;
	rc = store_document_count(st, owner ? owner : "", 0, &n, err, errlen);
	if (rc != DC_OK)
		return rc;
	return n < cfg->max_documents ? DC_OK : documents_full(cfg, err, errlen);
}

enum dc_err limit_document_keep(const struct config *cfg, struct store *st,
				const char *owner, long long id, char *err, size_t errlen)
{
	long long n = 0;
	enum dc_err rc;

	if (cfg->max_documents <= 0)
		return DC_OK;
	if (!owner)
		owner = "";
	rc = store_document_count(st, owner, id, &n, err, errlen);
	if (rc != DC_OK)
		return rc;
	if (n <= cfg->max_documents)
		return DC_OK;
	rc = store_document_delete(st, owner, id, err, errlen);
	if (rc != DC_OK && rc != DC_NOTFOUND)
		return rc;
	return documents_full(cfg, err, errlen);
}
