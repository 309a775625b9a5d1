/* test_limit.c - the per-user limits (limit.c) and their state in the database
 * (store.c): Retry-After arithmetic, the request window (counting, reopening after a
 * minute or when the clock goes back, pruning), stream slots (the limit, giving back,
 * slots of dead processes and left-over slots, and many connections racing for the
 * last slot), and the documents limit including the race for the last place. Times are
 * given explicitly, so nothing here sleeps. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "config.h"
#include "limit.h"
#include "store.h"

static char tmpdir[64];
static char dbpath[128];

static void db_remove(void)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char p[160];

	for (size_t i = 0; i < 3; i++)
		if (snprintf(p, sizeof p, "%s%s", dbpath, suffix[i]) > 0)
			unlink(p);
}

static struct store *open_store(const char *worker)
{
	struct store *st = NULL;
	char err[DC_ERRMAX] = "";

	if (store_open(dbpath, &st, err, sizeof err) != DC_OK) {
		printf("# store_open: %s\n", err);
		return NULL;
	}
	if (worker && store_set_worker(st, worker) != DC_OK) {
		store_close(st);
		return NULL;
	}
	return st;
}

static struct store *fresh(const char *worker)
{
	db_remove();
	return open_store(worker);
}

/* The first column of a one-row query on a second connection, -1 on error. */
static long long raw(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long v = -1;

	if (sqlite3_open(dbpath, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* ---- arithmetic ---- */

static void test_retry_after_is_the_rest_of_the_window_rounded_up(void)
{
	CHECK_INT(limit_retry_after_s(1000, 60000, 1000), 60);
	CHECK_INT(limit_retry_after_s(1000, 60000, 1001), 60);	/* 59.999 s */
	CHECK_INT(limit_retry_after_s(1000, 60000, 2000), 59);
	CHECK_INT(limit_retry_after_s(0, 60000, 58999), 2);	/* 1.001 s */
	CHECK_INT(limit_retry_after_s(0, 60000, 59000), 1);
	CHECK_INT(limit_retry_after_s(0, 60000, 59999), 1);	/* 1 ms: still 1 s */
	CHECK_INT(limit_retry_after_s(0, 60000, 60000), 1);	/* ended: never 0 */
	CHECK_INT(limit_retry_after_s(0, 60000, 90000), 1);
}

static void test_stream_retry_after_is_capped_and_at_least_one(void)
{
	/* A stream that just started may run 240 s: the hint stays at the cap. */
	CHECK_INT(limit_stream_retry_after_s(0, 240, 0), LIMIT_STREAM_RETRY_MAX_S);
	CHECK_INT(limit_stream_retry_after_s(0, 240, 230000), 10);
	CHECK_INT(limit_stream_retry_after_s(0, 240, 235000), 5);
	CHECK_INT(limit_stream_retry_after_s(0, 240, 235001), 5);
	CHECK_INT(limit_stream_retry_after_s(0, 240, 239999), 1);
	CHECK_INT(limit_stream_retry_after_s(0, 240, 500000), 1);
	/* No duration limit: no bound to tell, so the cap. */
	CHECK_INT(limit_stream_retry_after_s(0, 0, 500000), LIMIT_STREAM_RETRY_MAX_S);
}

static void test_stale_slots_are_older_than_the_longest_stream_plus_slack(void)
{
	CHECK_INT(limit_stream_stale_before(240, 1000000),
		  1000000 - (240 + LIMIT_STREAM_STALE_SLACK_S) * 1000);
	CHECK_INT(limit_stream_stale_before(0, 1000000), 0);
	CHECK(limit_now_ms() > 1600000000000LL);	/* unix milliseconds, not seconds */
}

/* ---- the request window ---- */

static void hit(struct store *st, const char *owner, long long now, long long want_start,
		long long want_count)
{
	char err[DC_ERRMAX] = "";
	long long start = -1, count = -1;

	CHECK_INT(store_rate_hit(st, owner, now, 60000, &start, &count, err, sizeof err), DC_OK);
	CHECK_INT(start, want_start);
	CHECK_INT(count, want_count);
}

static void test_rate_window_counts_then_reopens_after_a_minute(void)
{
	struct store *st = fresh(NULL);

	CHECK(st != NULL);
	if (!st)
		return;
	hit(st, "alice", 1000, 1000, 1);
	hit(st, "alice", 2000, 1000, 2);
	hit(st, "alice", 30000, 1000, 3);
	hit(st, "alice", 60999, 1000, 4);	/* last millisecond of the window */
	hit(st, "bob", 2000, 2000, 1);		/* every user has a window of their own */
	hit(st, "alice", 61000, 61000, 1);	/* a new window opens at this request */
	hit(st, "alice", 61500, 61000, 2);
	hit(st, "bob", 61500, 2000, 2);
	/* The clock went back: a new window rather than one that never ends. */
	hit(st, "alice", 50000, 50000, 1);
	hit(st, "", 50000, 50000, 1);		/* the local user counts like anyone */
	store_close(st);
}

static void test_rate_new_window_prunes_ended_windows(void)
{
	struct store *st = fresh(NULL);

	CHECK(st != NULL);
	if (!st)
		return;
	hit(st, "alice", 0, 0, 1);
	hit(st, "bob", 30000, 30000, 1);
	hit(st, "bob", 40000, 30000, 2);	/* no new window: nothing pruned */
	CHECK_INT(raw("SELECT count(*) FROM limit_rate"), 2);
	hit(st, "carol", 70000, 70000, 1);	/* alice's window ended at 60000 */
	CHECK_INT(raw("SELECT count(*) FROM limit_rate"), 2);
	CHECK_INT(raw("SELECT count(*) FROM limit_rate WHERE owner = 'alice'"), 0);
	hit(st, "alice", 70001, 70001, 1);
	store_close(st);
}

/* ---- stream slots ---- */

static int alive_unless_dead(void *ud, const char *worker)
{
	(void)ud;
	return strncmp(worker, "dead", 4) != 0;
}

/* Take a slot of owner with max at now (no left-over rule); returns the slot. */
static long long begin(struct store *st, const char *owner, int max, long long now,
		       int want_running, long long want_oldest)
{
	char err[DC_ERRMAX] = "";
	long long slot = -1, oldest = -1;
	int running = -1;

	CHECK_INT(store_stream_begin(st, owner, max, now, 0, alive_unless_dead, NULL, &slot,
				     &running, &oldest, err, sizeof err), DC_OK);
	CHECK_INT(running, want_running);
	if (want_running > 0)
		CHECK_INT(oldest, want_oldest);
	return slot;
}

static void test_stream_slots_are_limited_and_given_back(void)
{
	struct store *st = fresh("1:1");
	char err[DC_ERRMAX] = "";
	long long a, b, c, d;

	CHECK(st != NULL);
	if (!st)
		return;
	a = begin(st, "alice", 2, 1000, 0, 0);
	b = begin(st, "alice", 2, 2000, 1, 1000);
	CHECK(a > 0 && b > 0 && a != b);
	CHECK_INT(begin(st, "alice", 2, 3000, 2, 1000), 0);	/* full */
	CHECK_INT(begin(st, "alice", 2, 3500, 2, 1000), 0);	/* refusals take nothing */
	CHECK(begin(st, "bob", 2, 3000, 0, 0) > 0);		/* others are not affected */
	CHECK_INT(store_stream_end(st, a, err, sizeof err), DC_OK);
	c = begin(st, "alice", 2, 4000, 1, 2000);		/* a's place is free */
	CHECK(c > 0);
	CHECK_INT(begin(st, "alice", 2, 5000, 2, 2000), 0);
	CHECK_INT(store_stream_end(st, b, err, sizeof err), DC_OK);
	CHECK_INT(store_stream_end(st, c, err, sizeof err), DC_OK);
	CHECK_INT(store_stream_end(st, 0, err, sizeof err), DC_OK);	/* no slot: no-op */
	CHECK_INT(raw("SELECT count(*) FROM limit_streams WHERE owner = 'alice'"), 0);
	d = begin(st, "alice", 1, 6000, 0, 0);
	CHECK(d > 0);
	CHECK_INT(raw("SELECT count(*) FROM limit_streams WHERE worker = '1:1'"), 2);
	store_close(st);
}

static void test_stream_slots_of_dead_processes_are_freed(void)
{
	struct store *dead = fresh("dead:7"), *live = open_store("2:2");

	CHECK(dead != NULL && live != NULL);
	if (dead && live) {
		CHECK(begin(dead, "alice", 1, 1000, 0, 0) > 0);
		/* The writer of that slot is gone: it neither counts nor stays. */
		CHECK(begin(live, "alice", 1, 2000, 0, 0) > 0);
		CHECK_INT(raw("SELECT count(*) FROM limit_streams WHERE owner = 'alice'"), 1);
		CHECK_INT(raw("SELECT count(*) FROM limit_streams WHERE worker = 'dead:7'"), 0);
		CHECK_INT(begin(live, "alice", 1, 3000, 1, 2000), 0);
	}
	store_close(dead);
	store_close(live);
}

static void test_stream_slots_left_over_expire(void)
{
	struct store *st = fresh("3:3");
	char err[DC_ERRMAX] = "";
	long long slot = -1, oldest = -1;
	int running = -1;

	CHECK(st != NULL);
	if (!st)
		return;
	CHECK(begin(st, "alice", 1, 1000, 0, 0) > 0);
	/* Its process runs, but no stream lasts that long: the slot was never given back. */
	CHECK_INT(store_stream_begin(st, "alice", 1, 500000, 1001, alive_unless_dead, NULL,
				     &slot, &running, &oldest, err, sizeof err), DC_OK);
	CHECK(slot > 0);
	CHECK_INT(running, 0);
	CHECK_INT(raw("SELECT count(*) FROM limit_streams"), 1);
	/* A slot exactly at the bound still counts. */
	CHECK_INT(store_stream_begin(st, "alice", 1, 500001, 500000, alive_unless_dead, NULL,
				     &slot, &running, &oldest, err, sizeof err), DC_OK);
	CHECK_INT(slot, 0);
	CHECK_INT(running, 1);
	CHECK_INT(oldest, 500000);
	store_close(st);
}

#define RACERS 8
#define RACE_PAUSE_US 50000

/* The writer of the slot taken before the race lives, but telling so takes a while:
 * long enough for every racer to be between its count and its insert at once, unless
 * the two are one transaction. */
static int alive_slowly(void *ud, const char *worker)
{
	(void)ud;
	if (strcmp(worker, "slow:1") == 0)
		usleep(RACE_PAUSE_US);
	return 1;
}

struct racer {
	pthread_barrier_t *go;
	struct store *st;
	long long slot;
	enum dc_err rc;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	char err[DC_ERRMAX] = "";
	long long oldest = 0;
	int running = 0;

	pthread_barrier_wait(r->go);
	r->rc = store_stream_begin(r->st, "alice", 2, 2000, 0, alive_slowly, NULL, &r->slot,
				   &running, &oldest, err, sizeof err);
	if (r->rc != DC_OK)
		printf("# racer: %s\n", err);
	return NULL;
}

/* Connections of their own, as separate processes have, all asking at once for the one
 * slot left: exactly one gets it. */
static void test_stream_slot_race_has_one_winner(void)
{
	struct racer r[RACERS];
	pthread_t tid[RACERS];
	pthread_barrier_t go;
	struct store *first = fresh("slow:1");
	int started = 0, winners = 0, ok = 0;

	CHECK(first != NULL);
	if (!first)
		return;
	CHECK(begin(first, "alice", 2, 1000, 0, 0) > 0);
	memset(r, 0, sizeof r);
	pthread_barrier_init(&go, NULL, RACERS);
	for (int i = 0; i < RACERS; i++) {
		r[i].go = &go;
		r[i].st = open_store("4:4");
	}
	for (int i = 0; i < RACERS; i++)
		if (r[i].st && pthread_create(&tid[i], NULL, race, &r[i]) == 0)
			started++;
	CHECK_INT(started, RACERS);
	if (started == RACERS) {
		for (int i = 0; i < RACERS; i++)
			pthread_join(tid[i], NULL);
		for (int i = 0; i < RACERS; i++) {
			ok += r[i].rc == DC_OK;
			winners += r[i].slot > 0;
		}
		CHECK_INT(ok, RACERS);
		CHECK_INT(winners, 1);
		CHECK_INT(raw("SELECT count(*) FROM limit_streams"), 2);
	}
	for (int i = 0; i < RACERS; i++)
		store_close(r[i].st);
	store_close(first);
	pthread_barrier_destroy(&go);
}

/* ---- documents ---- */

static long long add_doc(struct store *st, const char *owner, const char *hash)
{
	static const struct store_chunk_in chunk = { "Some text to index.", NULL, 0, 19, 0 };
	char err[DC_ERRMAX] = "";
	long long id = 0;
	int existed = 0;

	CHECK_INT(store_document_add(st, owner, "a.md", NULL, hash, 19, &chunk, 1, &id,
				     &existed, err, sizeof err), DC_OK);
	return id;
}

static void test_documents_are_counted_per_owner_and_up_to_an_id(void)
{
	struct store *st = fresh(NULL);
	char err[DC_ERRMAX] = "";
	long long a1, a2, n = -1;

	CHECK(st != NULL);
	if (!st)
		return;
	a1 = add_doc(st, "alice", "h1");
	add_doc(st, "bob", "h1");
	a2 = add_doc(st, "alice", "h2");
	add_doc(st, "alice", "h3");
	add_doc(st, "", "h1");
	CHECK_INT(store_document_count(st, "alice", 0, &n, err, sizeof err), DC_OK);
	CHECK_INT(n, 3);
	CHECK_INT(store_document_count(st, "alice", a1, &n, err, sizeof err), DC_OK);
	CHECK_INT(n, 1);
	CHECK_INT(store_document_count(st, "alice", a2, &n, err, sizeof err), DC_OK);
	CHECK_INT(n, 2);
	CHECK_INT(store_document_count(st, "", 0, &n, err, sizeof err), DC_OK);
	CHECK_INT(n, 1);
	CHECK_INT(store_document_count(st, "carol", 0, &n, err, sizeof err), DC_OK);
	CHECK_INT(n, 0);
	store_close(st);
}

static void test_documents_limit_refuses_and_removes_the_late_one(void)
{
	static const char full[] = "document limit reached: DOCCHAT_MAX_DOCUMENTS allows 2 "
				   "documents per user; delete some to add more";
	struct store *st = fresh(NULL);
	struct config cfg;
	char err[DC_ERRMAX] = "";
	long long a1, a2, a3, n = -1;

	CHECK(st != NULL);
	if (!st)
		return;
	memset(&cfg, 0, sizeof cfg);
	cfg.max_documents = 2;
	CHECK_INT(limit_documents_room(&cfg, st, "alice", err, sizeof err), DC_OK);
	a1 = add_doc(st, "alice", "h1");
	CHECK_INT(limit_document_keep(&cfg, st, "alice", a1, err, sizeof err), DC_OK);
	/* Two uploads passed the first check and both stored their document: the one
	 * stored first keeps its place, whatever order the checks run in. */
	a2 = add_doc(st, "alice", "h2");
	a3 = add_doc(st, "alice", "h3");
	CHECK_INT(limit_document_keep(&cfg, st, "alice", a3, err, sizeof err), DC_TOOBIG);
	CHECK_STR(err, full);
	CHECK_INT(limit_document_keep(&cfg, st, "alice", a2, err, sizeof err), DC_OK);
	CHECK_INT(store_document_count(st, "alice", 0, &n, err, sizeof err), DC_OK);
	CHECK_INT(n, 2);
	CHECK_INT(raw("SELECT count(*) FROM documents WHERE hash = 'h3'"), 0);
	CHECK_INT(limit_documents_room(&cfg, st, "alice", err, sizeof err), DC_TOOBIG);
	CHECK_STR(err, full);
	CHECK_INT(limit_documents_room(&cfg, st, "bob", err, sizeof err), DC_OK);
	cfg.max_documents = 0;	/* off */
	CHECK_INT(limit_documents_room(&cfg, st, "alice", err, sizeof err), DC_OK);
	store_close(st);
}

int main(void)
{
	if (snprintf(tmpdir, sizeof tmpdir, "/tmp/docchat-test-limit-XXXXXX") < 0 ||
	    !mkdtemp(tmpdir) || snprintf(dbpath, sizeof dbpath, "%s/docchat.db", tmpdir) < 0) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_retry_after_is_the_rest_of_the_window_rounded_up);
	RUN(test_stream_retry_after_is_capped_and_at_least_one);
	RUN(test_stale_slots_are_older_than_the_longest_stream_plus_slack);
	RUN(test_rate_window_counts_then_reopens_after_a_minute);
	RUN(test_rate_new_window_prunes_ended_windows);
	RUN(test_stream_slots_are_limited_and_given_back);
	RUN(test_stream_slots_of_dead_processes_are_freed);
	RUN(test_stream_slots_left_over_expire);
	RUN(test_stream_slot_race_has_one_winner);
	RUN(test_documents_are_counted_per_owner_and_up_to_an_id);
	RUN(test_documents_limit_refuses_and_removes_the_late_one);
	db_remove();
	rmdir(tmpdir);
	return check_summary();
}
