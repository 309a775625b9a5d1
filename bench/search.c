/* bench/search.c - how fast docchat ingests and searches a library of a given size.
 *
 * For each size N (chunks) a child process builds a fresh database in a temporary
 * directory: generated text goes through ingest_text (chunking, the FTS5 index, one
 * transaction per document) until N chunks exist, then every chunk gets a random
 * BENCH_DIM-dimensional unit vector through store_embeddings_put, 10,000 per
 * transaction. It then loads the vector index and runs the same number of keyword,
 * vector and hybrid searches (top_k 5, hybrid fusing 20 from each half) on random
 * questions and random query vectors, and prints one markdown table row: ingestion
 * speed, vector storage speed, index load time, p50/p99 latency per mode, resident
 * memory. Questions are embedded by nobody: vector and hybrid searches take the query
 * vector directly (search_run_embedded), so the numbers leave out the embedding
 * server's time. A child per size keeps each row's memory its own.
 *
 *   bench/run-search 10000 100000 1000000     (builds with -O2 and runs this)
 *   bench-search [--queries Q] [--keep] SIZE...
 *   bench-search [--queries Q] --db FILE      (search a library kept by --keep again)
 *
 * Not part of `make check`; see bench/README.md for results. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "ingest.h"
#include "search.h"
#include "store.h"
#include "vectors.h"

#define BENCH_DIM 384
#define BENCH_TOP_K 5
#define BENCH_QUERIES_DEFAULT 200
#define BENCH_VOCAB 50000		/* distinct generated words */
#define BENCH_DOC_CHUNKS 500		/* chunks per generated document (one transaction) */
#define BENCH_PUT_BATCH 10000		/* vectors per transaction */
#define BENCH_PARAGRAPH_WORDS 60
#define BENCH_QUESTION_WORDS 4
#define BENCH_MODEL "ollama:bench-embed"
#define BENCH_TEXT_MAX (256u * 1024 * 1024)

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

/* xorshift64*: fast, repeatable, good enough for synthetic data. */
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(void)
{
	return (double)(rng() >> 11) / 9007199254740992.0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- synthetic text ---- */

static char *vocab[BENCH_VOCAB];

/* Pronounceable words of 2..5 syllables, distinct by construction (the index is
 * spelled in base-20 consonants and base-5 vowels). */
static int vocab_init(void)
{
	static const char cons[] = "bcdfghjklmnprstvwxyz", vow[] = "aeiou";
	char w[32];
	size_t i;

	for (i = 0; i < BENCH_VOCAB; i++) {
		size_t v = i, len = 0;

		do {
			w[len++] = cons[v % 20];
			v /= 20;
			w[len++] = vow[v % 5];
			v /= 5;
		} while (v > 0 || len < 4);
		w[len] = '\0';
		vocab[i] = strdup(w);
		if (!vocab[i])
			return 0;
	}
	return 1;
}

/* A word with a Zipf-like distribution: rank = VOCAB^u (log-uniform). */
static const char *zipf_word(void)
{
	size_t r = (size_t)pow((double)BENCH_VOCAB, rng_unit());

	return vocab[(r ? r : 1) - 1];
}

/* Mid-frequency words make questions that match a fair share of chunks. */
static const char *question_word(void)
{
	return vocab[100 + rng() % 5000];
}

static enum dc_err make_document(struct buf *text, size_t words)
{
	enum dc_err rc = DC_OK;
	size_t i;

	buf_reset(text);
	for (i = 0; rc == DC_OK && i < words; i++) {
		rc = buf_appends(text, zipf_word());
		if (rc != DC_OK)
			break;
		if ((i + 1) % BENCH_PARAGRAPH_WORDS == 0)
			rc = buf_appends(text, ".\n\n");
		else if ((i + 1) % 12 == 0)
			rc = buf_appends(text, ". ");
		else
			rc = buf_appends(text, " ");
	}
	return rc;
}

/* ---- one size ---- */

struct result {
	long long chunks;
	double ingest_mb_s, vectors_per_s, load_s;
	double p50[3], p99[3];	/* keyword, vector, hybrid; milliseconds */
	long rss_mb;
};

static long rss_mb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb < 0 ? -1 : kb / 1024;
}

static int fail(const char *what, const char *err)
{
	fprintf(stderr, "bench: %s: %s\n", what, err);
	return 0;
}

/* Ingest generated documents until at least n chunks exist. */
static int fill_text(struct store *st, const struct config *cfg, long long n, struct result *r)
{
	struct buf text;
	char err[DC_ERRMAX], name[64];
	long long total = 0, doc_id, nchunks;
	size_t per_chunk = (size_t)(cfg->chunk_tokens - cfg->chunk_overlap);
	double bytes = 0, t0 = now_s();
	int existed, doc = 0, ok = 1;

	buf_init(&text, BENCH_TEXT_MAX);
	while (ok && total < n) {
		long long want = n - total < BENCH_DOC_CHUNKS ? n - total : BENCH_DOC_CHUNKS;

		snprintf(name, sizeof(name), "doc%06d.txt", doc++);
		if (make_document(&text, (size_t)want * per_chunk) != DC_OK) {
			ok = fail("generate", "out of memory");
			break;
		}
		if (ingest_text(st, cfg, "", name, NULL, buf_str(&text), text.len, &doc_id, &existed,
				&nchunks, err, sizeof(err)) != DC_OK) {
			ok = fail("ingest", err);
			break;
		}
		total += nchunks;
		bytes += (double)text.len;
	}
	r->chunks = total;
	r->ingest_mb_s = bytes / 1e6 / (now_s() - t0);
	buf_free(&text);
	return ok;
}

static void random_unit(float *v, size_t dim)
{
	double sum = 0;
	size_t i;

	for (i = 0; i < dim; i++) {
		v[i] = (float)(rng_unit() * 2 - 1);
		sum += (double)v[i] * v[i];
	}
	for (i = 0; i < dim; i++)
		v[i] = (float)(v[i] / sqrt(sum));
}

/* A random vector for every chunk, BENCH_PUT_BATCH per transaction. */
static int fill_vectors(struct store *st, struct result *r)
{
	struct store_pending *p = NULL;
	char err[DC_ERRMAX];
	long long after = 0, *ids = NULL, done = 0;
	float *vecs = NULL;
	size_t n = 0, i;
	double t0 = now_s();
	int ok = 1;

	ids = malloc(BENCH_PUT_BATCH * sizeof(*ids));
	vecs = malloc((size_t)BENCH_PUT_BATCH * BENCH_DIM * sizeof(*vecs));
	if (!ids || !vecs)
		ok = fail("vectors", "out of memory");
	while (ok) {
		if (store_chunks_unembedded(st, BENCH_MODEL, after, BENCH_PUT_BATCH, &p, &n, err,
					    sizeof(err)) != DC_OK) {
			ok = fail("pending chunks", err);
			break;
		}
		if (n == 0)
			break;
		for (i = 0; i < n; i++) {
			ids[i] = p[i].id;
			random_unit(vecs + i * BENCH_DIM, BENCH_DIM);
		}
		after = p[n - 1].id;
		store_pending_free(p, n);
		p = NULL;
		if (store_embeddings_put(st, BENCH_MODEL, ids, vecs, n, BENCH_DIM, err,
					 sizeof(err)) != DC_OK) {
			ok = fail("store vectors", err);
			break;
		}
		done += (long long)n;
	}
	store_pending_free(p, n);
	r->vectors_per_s = (double)done / (now_s() - t0);
	free(vecs);
	free(ids);
	return ok;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void percentiles(double *ms, int n, double *p50, double *p99)
{
	qsort(ms, (size_t)n, sizeof(*ms), cmp_double);
	*p50 = ms[(n - 1) / 2];
	*p99 = ms[(int)ceil(0.99 * n) - 1];
}

/* One timed search of mode m (0 keyword, 1 vector, 2 hybrid). */
static int one_search(struct store *st, const struct config *cfg, int m, double *ms)
{
	static const enum search_mode modes[] = { SEARCH_KEYWORD, SEARCH_VECTOR, SEARCH_HYBRID };
	struct search_used used;
	struct search_hit *hits = NULL;
	char question[256], err[DC_ERRMAX];
	float q[BENCH_DIM];
	size_t n = 0, len = 0;
	enum dc_err rc;
	double t0;
	int i;

	for (i = 0; i < BENCH_QUESTION_WORDS; i++) {
		int w = snprintf(question + len, sizeof(question) - len, "%s%s", i ? " " : "",
				 question_word());

		if (w > 0 && (size_t)w < sizeof(question) - len)
			len += (size_t)w;
	}
	random_unit(q, BENCH_DIM);
	t0 = now_s();
	if (m == 0)
		rc = search_run(st, cfg, "", question, modes[m], NULL, 0, BENCH_TOP_K, &hits, &n,
				&used, err, sizeof(err));
	else
		rc = search_run_embedded(st, cfg, "", question, q, BENCH_DIM, modes[m], NULL, 0,
					 BENCH_TOP_K, &hits, &n, err, sizeof(err));
	*ms = (now_s() - t0) * 1000;
	search_hits_free(hits, n);
	if (rc != DC_OK)
		return fail(search_mode_name(modes[m]), err);
	return 1;
}

static int run_queries(struct store *st, const struct config *cfg, int queries,
		       struct result *r)
{
	double *ms = calloc((size_t)queries, sizeof(*ms));
	int m, i, ok = ms != NULL;

	for (m = 0; ok && m < 3; m++) {
		for (i = 0; ok && i < queries; i++)
			ok = one_search(st, cfg, m, &ms[i]);
		if (ok)
			percentiles(ms, queries, &r->p50[m], &r->p99[m]);
	}
	free(ms);
	return ok;
}

static int load_index(struct store *st, struct result *r)
{
	char err[DC_ERRMAX];
	struct vectors_index *ix = vectors_index_shared(BENCH_MODEL, err, sizeof(err));
	double t0 = now_s();

	if (!ix)
		return fail("index", err);
	if (vectors_index_refresh(ix, st, err, sizeof(err)) != DC_OK)
		return fail("index", err);
	r->load_s = now_s() - t0;
	return 1;
}

static void remove_db(const char *dir, int keep)
{
	static const char *const files[] = { "bench.db", "bench.db-wal", "bench.db-shm" };
	char p[512];
	size_t i;

	if (keep) {
		fprintf(stderr, "bench: kept %s/bench.db\n", dir);
		return;
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (snprintf(p, sizeof(p), "%s/%s", dir, files[i]) > 0)
			unlink(p);
	rmdir(dir);
}

/* Build and measure one size (or, with db, search that library as it is); prints the
 * table row. Runs in its own process. */
static int bench_size(long long n, int queries, int keep, const char *db)
{
	struct config cfg;
	struct store *st = NULL;
	struct result r;
	char dir[] = "/tmp/docchat-bench-XXXXXX", path[512], err[DC_ERRMAX];
	int ok;

	memset(&r, 0, sizeof(r));
	if (db)
		snprintf(path, sizeof(path), "%s", db);
	else if (!mkdtemp(dir))
		return fail("temporary directory", strerror(errno));
	else
		snprintf(path, sizeof(path), "%s/bench.db", dir);
	ok = config_load(&cfg, err, sizeof(err)) == DC_OK;
	if (!ok)
		return fail("configuration", err);
	ok = config_set(&cfg, "DOCCHAT_DB", path, err, sizeof(err)) == DC_OK &&
	     config_set(&cfg, "DOCCHAT_EMBED_MODEL", BENCH_MODEL, err, sizeof(err)) == DC_OK;
	if (ok && store_open(path, &st, err, sizeof(err)) != DC_OK)
		ok = 0;
	if (!ok)
		fail("setup", err);
	if (db)
		ok = ok && load_index(st, &r) && run_queries(st, &cfg, queries, &r);
	else
		ok = ok && fill_text(st, &cfg, n, &r) && fill_vectors(st, &r) &&
		     load_index(st, &r) && run_queries(st, &cfg, queries, &r);
	r.rss_mb = rss_mb();
	if (ok && db)
		printf("| %zu (kept) | – | – | %.2f | %.2f / %.2f | %.2f / %.2f | %.2f / %.2f | %ld |\n",
		       vectors_index_count(vectors_index_shared(BENCH_MODEL, err, sizeof(err)),
					   NULL), r.load_s, r.p50[0], r.p99[0], r.p50[1],
		       r.p99[1], r.p50[2], r.p99[2], r.rss_mb);
	else if (ok)
		printf("| %lld | %.1f | %.0f | %.2f | %.2f / %.2f | %.2f / %.2f | %.2f / %.2f | %ld |\n",
		       r.chunks, r.ingest_mb_s, r.vectors_per_s, r.load_s, r.p50[0], r.p99[0],
		       r.p50[1], r.p99[1], r.p50[2], r.p99[2], r.rss_mb);
	fflush(stdout);
	store_close(st);
	config_free(&cfg);
	if (!db)
		remove_db(dir, keep);
	return ok;
}

static int parse_count(const char *s, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end || errno || v < 1)
		return 0;
	*out = v;
	return 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench-search [--queries Q] [--keep] SIZE...\n"
		"       bench-search [--queries Q] --db FILE\n"
		"  SIZE: chunks in the generated library, e.g. 10000 100000 1000000\n"
		"  --keep: leave each library's database in /tmp; --db: search one such again\n");
	return 2;
}

int main(int argc, char **argv)
{
	long long queries = BENCH_QUERIES_DEFAULT, n;
	int i, status = 0, keep = 0, sizes = 0;
	const char *db = NULL;
	pid_t pid;

	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--queries") == 0 && i + 1 < argc && parse_count(argv[i + 1], &queries))
			i++;
		else if (strcmp(argv[i], "--keep") == 0)
			keep = 1;
		else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
			db = argv[++i];
		else
			return usage();
	}
	if ((db ? i != argc : i >= argc) || !vocab_init())
		return usage();
	printf("| chunks | ingest MB/s | vectors stored/s | index load s | keyword p50 / p99 ms "
	       "| vector p50 / p99 ms | hybrid p50 / p99 ms | RSS MB |\n"
	       "|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	fflush(stdout);
	if (db && !bench_size(0, (int)queries, 0, db))
		status = 1;
	for (; i < argc; i++, sizes++) {
		int ws = 0;

		if (!parse_count(argv[i], &n))
			return usage();
		pid = fork();
		if (pid < 0) {
			fail("fork", strerror(errno));
			return 1;
		}
		if (pid == 0) {
			rng_state ^= (uint64_t)n * 0x100000001B3ULL;
			_exit(bench_size(n, (int)queries, keep, NULL) ? 0 : 1);
		}
		if (waitpid(pid, &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
			status = 1;
	}
	for (i = 0; i < BENCH_VOCAB; i++)
		free(vocab[i]);
	return status;
}
