/* search.c - keyword, vector and hybrid search, and the score each hit gets.
 *
 * The question is never handed to FTS5 as query syntax. It is cut into words (ASCII
 * letters and digits, and every byte >= 0x80 so that words in any script stay whole;
 * everything else separates), each word is emitted as a double-quoted FTS5 string and
 * the strings are joined with OR. Quotes, `*`, `^`, `:`, parentheses, NEAR/AND/OR/NOT and
 * column filters in the question therefore become plain words or separators and can
 * never make the query fail. The tokenizer in the index (porter, unicode61) then splits
 * and stems each quoted string as it did the documents.
 *
 * Keyword search does not send every word. English stop words go first (words.c's
 * list: "what", "is", "the" are in nearly every chunk and say nothing of the topic),
 * unless the question has nothing else. Then the index counts the chunks holding each
 * remaining word, which BM25 needs anyway for its IDF, and a word that no chunk holds,
 * or that at least half of them hold while a rarer word is there, is left out:
 * FTS5's BM25 gives the latter an IDF of 1e-6, so it could only break ties, yet
 * reading its postings would cost more than all the others together. The counts go
 * to the store with the query, which ranks without counting again (store.c).
 *
 * Vector search embeds the question with a deadline (SEARCH_EMBED_TIMEOUT_S: a question
 * waits on it) and scans the process's shared index after refreshing it. Hybrid search
 * fetches SEARCH_DEPTH_FACTOR * top_k from each half and fuses them by reciprocal rank
 * (Cormack, Clarke and Buettcher, SIGIR 2009): each list contributes 1 / (k + rank), so
 * only ranks matter and BM25 and cosine values, which are not comparable, never meet.
 * When the vector half fails at question time the search falls back to keyword search
 * and says why, so answers keep working while an embedding server is down. Running the
 * query and the SQL belong to store.c, vectors to vectors.c; prompts and answers to
 * others. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "config.h"
#include "embed.h"
#include "search.h"
#include "vectors.h"
#include "words.h"

#define SEARCH_MAX_WORDS 64		/* distinct words kept from a question */
#define SEARCH_QUERY_MAX (1024 * 1024)	/* longest MATCH expression built */

struct word {
	const char *p;
	size_t len;
};

static int is_word_byte(unsigned char c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

static unsigned char ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Equal ignoring ASCII case; bytes >= 0x80 must match exactly. */
static int word_eq(const struct word *a, const struct word *b)
{
	size_t i;

	if (a->len != b->len)
		return 0;
	for (i = 0; i < a->len; i++)
		if (ascii_lower((unsigned char)a->p[i]) != ascii_lower((unsigned char)b->p[i]))
			return 0;
	return 1;
}

/* Append w as an FTS5 string: in double quotes, a quote inside doubled. */
static enum dc_err append_quoted(struct buf *out, const struct word *w)
{
	enum dc_err rc = buf_append(out, "\"", 1);
	size_t i, from = 0;

	for (i = 0; rc == DC_OK && i < w->len; i++) {
		if (w->p[i] != '"')
			continue;
		rc = buf_append(out, w->p + from, i + 1 - from);
		if (rc == DC_OK)
			rc = buf_append(out, "\"", 1);
		from = i + 1;
	}
	if (rc == DC_OK)
		rc = buf_append(out, w->p + from, w->len - from);
	if (rc == DC_OK)
		rc = buf_append(out, "\"", 1);
	return rc;
}

/* The next word of text[*pos, len) into *w; 0 when none is left. */
static int next_word(const char *text, size_t len, size_t *pos, struct word *w)
{
	size_t i = *pos, j;

	while (i < len && !is_word_byte((unsigned char)text[i]))
		i++;
	if (i >= len) {
		*pos = len;
		return 0;
	}
	for (j = i; j < len && is_word_byte((unsigned char)text[j]); j++)
		;
	w->p = text + i;
	w->len = j - i;
	*pos = j;
	return 1;
}

/* Add w to words[0, *n) unless it is there already (or the list is full). */
static void add_word(struct word *words, size_t *n, const struct word *w)
{
	size_t k;

	for (k = 0; k < *n; k++)
		if (word_eq(&words[k], w))
			return;
	if (*n < SEARCH_MAX_WORDS)
		words[(*n)++] = *w;
}

/* Is w an English stop word (ASCII case ignored)? */
static int is_stop_word(const struct word *w)
{
	char low[WORDS_KEY_MAX];
	size_t i;

	if (w->len >= sizeof(low))
		return 0;
	for (i = 0; i < w->len; i++)
		low[i] = (char)ascii_lower((unsigned char)w->p[i]);
	return words_is_stop(low, w->len);
}

/* The distinct words of text, or with content only its words that are not stop words
 * (when it has any: a question of stop words alone keeps them all). */
static size_t question_words(const char *text, size_t len, int content_only,
			     struct word *words)
{
	struct word stops[SEARCH_MAX_WORDS], w;
	size_t n = 0, nstops = 0, pos = 0;

	while (n < SEARCH_MAX_WORDS && next_word(text, len, &pos, &w)) {
		if (content_only && is_stop_word(&w))
			add_word(stops, &nstops, &w);
		else
			add_word(words, &n, &w);
	}
	if (n == 0 && nstops > 0) {
		memcpy(words, stops, nstops * sizeof(*stops));
		n = nstops;
	}
	return n;
}

static enum dc_err join_words(const struct word *words, size_t n, struct buf *out)
{
	enum dc_err rc = DC_OK;
	size_t k;

	buf_reset(out);
	for (k = 0; rc == DC_OK && k < n; k++) {
		if (k)
			rc = buf_appends(out, " OR ");
		if (rc == DC_OK)
			rc = append_quoted(out, &words[k]);
	}
	return rc;
}

enum dc_err search_fts_query(const char *text, size_t len, struct buf *out)
{
	struct word words[SEARCH_MAX_WORDS];

	return join_words(words, question_words(text, len, 0, words), out);
}

size_t search_prune_terms(const long long *hits, size_t n, long long rows,
			  unsigned char *keep)
{
	size_t i, kept = 0;
	int informative = 0;

	/* FTS5 floors the IDF of a word in at least half the rows at 1e-6: such a word
	 * adds nothing to a score next to any rarer one, but its postings would all be
	 * read. */
	for (i = 0; i < n; i++)
		if (hits[i] > 0 && 2 * hits[i] < rows)
			informative = 1;
	for (i = 0; i < n; i++) {
		keep[i] = hits[i] > 0 && (!informative || 2 * hits[i] < rows);
		kept += keep[i];
	}
	return kept;
}

double search_score_bm25(double bm25)
{
	double s = -bm25;

	if (isnan(s) || s <= 0)
		return 0.0;
	if (isinf(s))
		return 1.0;
	return s / (s + 1.0);
}

void search_hits_free(struct search_hit *hits, size_t n)
{
	size_t i;

	if (!hits)
		return;
	for (i = 0; i < n; i++)
		store_hit_clear(&hits[i].h);
	free(hits);
}

/* The FTS5 expression for question's content words that are worth searching for, in
 * match, with what the index counted for each (*rows, hits); *n 0 when none is. */
static enum dc_err keyword_terms(struct store *st, const char *question, struct buf *match,
				 long long *rows, long long *hits, size_t *n, char *err,
				 size_t errlen)
{
	struct word words[SEARCH_MAX_WORDS];
	unsigned char keep[SEARCH_MAX_WORDS];
	size_t nw = question_words(question, strlen(question), 1, words), i, m = 0;
	long long r;
	enum dc_err rc = DC_OK;

	*rows = 0;
	*n = 0;
	for (i = 0; i < nw && rc == DC_OK; i++) {
		buf_reset(match);
		rc = append_quoted(match, &words[i]);
		if (rc != DC_OK)
			return dc_fail(err, errlen, rc, "keyword search: question too long to search");
		rc = store_fts_count(st, buf_str(match), &r, &hits[i], err, errlen);
		if (r > *rows)
			*rows = r;
	}
	if (rc != DC_OK)
		return rc;
	search_prune_terms(hits, nw, *rows, keep);
	for (i = 0; i < nw; i++) {
		if (!keep[i])
			continue;
		hits[m] = hits[i];
		words[m++] = words[i];
	}
	rc = join_words(words, m, match);
	if (rc != DC_OK)
		return dc_fail(err, errlen, rc, "keyword search: question too long to search");
	*n = m;
	return DC_OK;
}

enum dc_err search_keyword(struct store *st, const char *owner, const char *question,
			   const long long *doc_ids, size_t ndocs, int top_k,
			   struct search_hit **out, size_t *n, char *err, size_t errlen)
{
	struct buf match;
	struct store_hit *hits = NULL;
	struct search_hit *res = NULL;
	long long counts[SEARCH_MAX_WORDS], rows = 0;
	size_t nhits = 0, nterms = 0, i;
	enum dc_err rc;

	*out = NULL;
	*n = 0;
	buf_init(&match, SEARCH_QUERY_MAX);
	if (!question || top_k <= 0)
		return DC_OK;
	rc = keyword_terms(st, question, &match, &rows, counts, &nterms, err, errlen);
	if (rc != DC_OK || nterms == 0)
		goto out;	/* no words, or none that any chunk holds */
	rc = store_search_fts_counted(st, owner, buf_str(&match), rows, counts, nterms,
				      doc_ids, ndocs, top_k, &hits, &nhits, err, errlen);
	if (rc != DC_OK || nhits == 0)
		goto out;
	res = calloc(nhits, sizeof(*res));
	if (!res) {
		rc = dc_fail(err, errlen, DC_NOMEM, "keyword search: out of memory");
		goto out;
	}
	/* Move each hit's strings into the result; the emptied array is freed below. */
	for (i = 0; i < nhits; i++) {
		res[i].h = hits[i];
		res[i].score = search_score_bm25(hits[i].bm25);
		memset(&hits[i], 0, sizeof(hits[i]));
	}
	*out = res;
	*n = nhits;
	res = NULL;
out:
	search_hits_free(res, 0);
	store_hits_free(hits, nhits);
	buf_free(&match);
	return rc;
}

/* ---- modes and scores ---- */

const char *search_mode_name(enum search_mode mode)
{
	switch (mode) {
	case SEARCH_KEYWORD:
		return "keyword";
	case SEARCH_VECTOR:
		return "vector";
	case SEARCH_HYBRID:
		return "hybrid";
	case SEARCH_AUTO:
		break;
	}
	return "auto";
}

int search_mode_parse(const char *name, enum search_mode *out)
{
	static const enum search_mode modes[] = { SEARCH_KEYWORD, SEARCH_VECTOR, SEARCH_HYBRID };
	size_t i;

	for (i = 0; name && i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(name, search_mode_name(modes[i])) == 0) {
			*out = modes[i];
			return 1;
		}
	}
	return 0;
}

double search_score_cosine(double cosine)
{
	if (isnan(cosine) || cosine <= 0)
		return 0.0;
	return cosine >= 1 ? 1.0 : cosine;
}

double search_score_rrf(double rrf)
{
	double v = rrf / (2.0 / (SEARCH_RRF_K + 1));

	if (isnan(v) || v <= 0)
		return 0.0;
	return v >= 1 ? 1.0 : v;
}

/* ---- reciprocal rank fusion ---- */

static size_t best_rank(const struct search_fused *f)
{
	size_t a = f->keyword_rank ? f->keyword_rank : SIZE_MAX;
	size_t b = f->vector_rank ? f->vector_rank : SIZE_MAX;

	return a < b ? a : b;
}

static int fused_cmp(const void *pa, const void *pb)
{
	const struct search_fused *a = pa, *b = pb;
	size_t ra = best_rank(a), rb = best_rank(b);
	size_t ka = a->keyword_rank ? a->keyword_rank : SIZE_MAX;
	size_t kb = b->keyword_rank ? b->keyword_rank : SIZE_MAX;

	if (a->rrf != b->rrf)
		return a->rrf > b->rrf ? -1 : 1;
	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (ka != kb)
		return ka < kb ? -1 : 1;
	return (a->chunk_id > b->chunk_id) - (a->chunk_id < b->chunk_id);
}

static double rrf_term(size_t rank)
{
	return 1.0 / (double)(SEARCH_RRF_K + rank);
}

size_t search_fuse(const long long *kw, size_t nkw, const long long *vec, size_t nvec,
		   struct search_fused *out)
{
	size_t n = 0, i, j;

	for (i = 0; i < nkw; i++) {
		memset(&out[n], 0, sizeof(out[n]));
		out[n].chunk_id = kw[i];
		out[n].keyword_rank = i + 1;
		out[n].rrf = rrf_term(i + 1);
		n++;
	}
	for (i = 0; i < nvec; i++) {
		for (j = 0; j < nkw && out[j].chunk_id != vec[i]; j++)
			;
		if (j == nkw) {
			memset(&out[n], 0, sizeof(out[n]));
			out[n].chunk_id = vec[i];
			j = n++;
		}
		out[j].vector_rank = i + 1;
		out[j].rrf += rrf_term(i + 1);
	}
	qsort(out, n, sizeof(*out), fused_cmp);
	return n;
}

/* ---- the vector half ---- */

/* One vector scan: its inputs, and its result in out[0, n) or its failure in rc/err. */
struct nearest_job {
	struct vectors_index *ix;
	const float *q;
	int dim;
	const char *owner;
	const long long *doc_ids;
	size_t ndocs, k;
	struct vectors_hit *out;	/* k, owned */
	size_t n;
	enum dc_err rc;
	char err[DC_ERRMAX];
};

/* Bring the index up to date and make room for the scan (the part that needs st). */
static enum dc_err nearest_prepare(struct store *st, const struct config *cfg,
				   struct nearest_job *job, char *err, size_t errlen)
{
	struct embed_model m;
	enum dc_err rc;

	job->out = NULL;
	job->n = 0;
	rc = embed_model_parse(cfg, cfg->embed_model, &m, err, errlen);
	if (rc != DC_OK)
		return rc;
	job->ix = vectors_index_shared(m.full, err, errlen);
	if (!job->ix)
		return DC_NOMEM;
	rc = vectors_index_refresh(job->ix, st, err, errlen);
	if (rc != DC_OK)
		return rc;
	job->out = calloc(job->k ? job->k : 1, sizeof(*job->out));
	if (!job->out)
		return dc_fail(err, errlen, DC_NOMEM, "vector search: out of memory");
	return DC_OK;
}

static void *nearest_scan(void *arg)
{
	struct nearest_job *job = arg;

	job->rc = vectors_index_search(job->ix, job->q, job->dim, job->owner, job->doc_ids,
				       job->ndocs, job->k, job->out, &job->n, job->err,
				       sizeof(job->err));
	return NULL;
}

/* The k chunks nearest to q. A failure here is the vector half's: *vector_failed = 1. */
static enum dc_err nearest(struct store *st, const struct config *cfg, const char *owner,
			   const float *q, int dim, const long long *doc_ids, size_t ndocs,
			   size_t k, struct vectors_hit **out, size_t *n, int *vector_failed,
			   char *err, size_t errlen)
{
	struct nearest_job job = { NULL, q, dim, owner, doc_ids, ndocs, k, NULL, 0, DC_OK, "" };
	enum dc_err rc;

	*out = NULL;
	*n = 0;
	*vector_failed = 1;
	rc = nearest_prepare(st, cfg, &job, err, errlen);
	if (rc == DC_OK) {
		nearest_scan(&job);
		rc = job.rc == DC_OK ? DC_OK : dc_fail(err, errlen, job.rc, "%s", job.err);
	}
	if (rc != DC_OK) {
		free(job.out);
		return rc;
	}
	*out = job.out;
	*n = job.n;
	*vector_failed = 0;
	return DC_OK;
}

/* Vector mode: the nearest top_k chunks with their text, scored by cosine. */
static enum dc_err run_vector(struct store *st, const struct config *cfg, const char *owner,
			      const float *q, int dim, const long long *doc_ids, size_t ndocs,
			      int top_k, struct search_hit **out, size_t *n, int *vector_failed,
			      char *err, size_t errlen)
{
	struct vectors_hit *vh = NULL;
	struct store_hit *sh = NULL;
	struct search_hit *res = NULL;
	long long *ids = NULL;
	size_t nv = 0, ns = 0, i, j = 0;
	enum dc_err rc;

	rc = nearest(st, cfg, owner, q, dim, doc_ids, ndocs, (size_t)top_k, &vh, &nv,
		     vector_failed, err, errlen);
	if (rc != DC_OK || nv == 0)
		goto out;
	ids = calloc(nv, sizeof(*ids));
	res = calloc(nv, sizeof(*res));
	if (!ids || !res) {
		rc = dc_fail(err, errlen, DC_NOMEM, "vector search: out of memory");
		goto out;
	}
	for (i = 0; i < nv; i++)
		ids[i] = vh[i].chunk_id;
	rc = store_chunks_get(st, owner, ids, nv, &sh, &ns, err, errlen);
	if (rc != DC_OK)
		goto out;
	/* sh follows vh's order with chunks deleted since the index was loaded left out. */
	for (i = 0; i < ns; i++) {
		while (vh[j].chunk_id != sh[i].chunk_id)
			j++;
		res[i].h = sh[i];
		res[i].score = search_score_cosine(vh[j].cosine);
		memset(&sh[i], 0, sizeof(sh[i]));
	}
	*out = res;
	*n = ns;
	res = NULL;
out:
	search_hits_free(res, 0);
	store_hits_free(sh, ns);
	free(ids);
	free(vh);
	return rc;
}

/* Move the fused top into res: keyword hits from kh, the others read by id. */
static enum dc_err take_fused(struct store *st, const char *owner,
			      const struct search_fused *f, size_t m, struct search_hit *kh,
			      struct search_hit *res, size_t *n, char *err, size_t errlen)
{
	struct store_hit *sh = NULL;
	long long *ids = calloc(m ? m : 1, sizeof(*ids));
	size_t nids = 0, ns = 0, i, j;
	enum dc_err rc;

	*n = 0;
	if (!ids)
		return dc_fail(err, errlen, DC_NOMEM, "hybrid search: out of memory");
	for (i = 0; i < m; i++)
		if (!f[i].keyword_rank)
			ids[nids++] = f[i].chunk_id;
	rc = store_chunks_get(st, owner, ids, nids, &sh, &ns, err, errlen);
	if (rc != DC_OK)
		goto out;
	for (i = 0; i < m; i++) {
		struct search_hit *dst = &res[*n];

		if (f[i].keyword_rank) {
			*dst = kh[f[i].keyword_rank - 1];
			memset(&kh[f[i].keyword_rank - 1], 0, sizeof(*kh));
		} else {
			for (j = 0; j < ns && sh[j].chunk_id != f[i].chunk_id; j++)
				;
			if (j == ns)
				continue;	/* deleted since the index was loaded */
			dst->h = sh[j];
			memset(&sh[j], 0, sizeof(sh[j]));
		}
		dst->score = search_score_rrf(f[i].rrf);
		(*n)++;
	}
out:
	store_hits_free(sh, ns);
	free(ids);
	return rc;
}

/* Hybrid mode: both halves SEARCH_DEPTH_FACTOR * top_k deep, fused, top_k kept. The
 * vector scan (memory only, once the index is fresh) runs on a thread of its own while
 * this one asks SQLite for the keyword half. */
static enum dc_err run_hybrid(struct store *st, const struct config *cfg, const char *owner,
			      const char *question, const float *q, int dim,
			      const long long *doc_ids, size_t ndocs, int top_k,
			      struct search_hit **out, size_t *n, int *vector_failed,
			      char *err, size_t errlen)
{
	int depth = top_k > INT32_MAX / SEARCH_DEPTH_FACTOR ? INT32_MAX : top_k * SEARCH_DEPTH_FACTOR;
	struct nearest_job job = { NULL, q, dim, owner, doc_ids, ndocs, 0, NULL, 0, DC_OK, "" };
	struct search_hit *kh = NULL, *res = NULL;
	struct vectors_hit *vh = NULL;
	pthread_t scanner;
	int started;
	struct search_fused *fused = NULL;
	long long *ids = NULL;
	size_t nk = 0, nv = 0, nf, m, got = 0, i;
	enum dc_err rc;

	job.k = (size_t)depth;
	*vector_failed = 1;
	rc = nearest_prepare(st, cfg, &job, err, errlen);
	vh = job.out;
	if (rc != DC_OK)
		goto out;
	*vector_failed = 0;
	started = pthread_create(&scanner, NULL, nearest_scan, &job) == 0;
	rc = search_keyword(st, owner, question, doc_ids, ndocs, depth, &kh, &nk, err, errlen);
	if (started)
		pthread_join(scanner, NULL);
	else if (rc == DC_OK)
		nearest_scan(&job);	/* no thread to be had: one after the other */
	if (rc != DC_OK)
		goto out;
	if (job.rc != DC_OK) {
		*vector_failed = 1;
		rc = dc_fail(err, errlen, job.rc, "%s", job.err);
		goto out;
	}
	nv = job.n;
	if (nk + nv == 0)
		goto out;
	ids = calloc(nk + nv, sizeof(*ids));
	fused = calloc(nk + nv, sizeof(*fused));
	if (!ids || !fused) {
		rc = dc_fail(err, errlen, DC_NOMEM, "hybrid search: out of memory");
		goto out;
	}
	for (i = 0; i < nk; i++)
		ids[i] = kh[i].h.chunk_id;
	for (i = 0; i < nv; i++)
		ids[nk + i] = vh[i].chunk_id;
	nf = search_fuse(ids, nk, ids + nk, nv, fused);
	m = nf < (size_t)top_k ? nf : (size_t)top_k;
	res = calloc(m, sizeof(*res));
	if (!res) {
		rc = dc_fail(err, errlen, DC_NOMEM, "hybrid search: out of memory");
		goto out;
	}
	rc = take_fused(st, owner, fused, m, kh, res, &got, err, errlen);
	if (rc != DC_OK)
		goto out;
	*out = res;
	*n = got;
	res = NULL;
out:
	search_hits_free(res, got);
	search_hits_free(kh, nk);
	free(fused);
	free(ids);
	free(vh);
	return rc;
}

/* Vector or hybrid with the question embedded; *vector_failed tells whose error it is. */
static enum dc_err run_embedded(struct store *st, const struct config *cfg,
				const char *owner, const char *question, const float *q, int dim,
				enum search_mode mode, const long long *doc_ids, size_t ndocs,
				int top_k, struct search_hit **out, size_t *n, int *vector_failed,
				char *err, size_t errlen)
{
	*out = NULL;
	*n = 0;
	*vector_failed = 0;
	if (top_k <= 0)
		return DC_OK;
	if (mode == SEARCH_VECTOR)
		return run_vector(st, cfg, owner, q, dim, doc_ids, ndocs, top_k, out, n,
				  vector_failed, err, errlen);
	return run_hybrid(st, cfg, owner, question, q, dim, doc_ids, ndocs, top_k, out, n,
			  vector_failed, err, errlen);
}

enum dc_err search_run_embedded(struct store *st, const struct config *cfg,
				const char *owner, const char *question, const float *qvec,
				int dim, enum search_mode mode, const long long *doc_ids,
				size_t ndocs, int top_k, struct search_hit **out, size_t *n,
				char *err, size_t errlen)
{
	int vector_failed = 0;

	*out = NULL;
	*n = 0;
	if (mode != SEARCH_VECTOR && mode != SEARCH_HYBRID)
		return dc_fail(err, errlen, DC_BADREQ, "search: an embedded question needs vector"
			       " or hybrid mode");
	if (!cfg->embed_model || !cfg->embed_model[0])
		return dc_fail(err, errlen, DC_BADREQ, "DOCCHAT_EMBED_MODEL is not set: only"
			       " keyword search is available");
	return run_embedded(st, cfg, owner, question, qvec, dim, mode, doc_ids, ndocs, top_k,
			    out, n, &vector_failed, err, errlen);
}

/* The caller's tick as the embedding request sees it, remembering whether it said stop. */
struct question_tick {
	const struct search_tick *tick;
	enum dc_err stopped;		/* the tick's non-OK result, DC_OK if none */
};

static enum dc_err question_tick_fn(void *ud)
{
	struct question_tick *qt = ud;
	enum dc_err rc = qt->tick->fn(qt->tick->ud);

	if (rc != DC_OK)
		qt->stopped = rc;
	return rc;
}

/* Embed the question for the configured model. */
static enum dc_err embed_question(const struct config *cfg, const char *question,
				  struct question_tick *qt, float **q, int *dim, char *err,
				  size_t errlen)
{
	struct embed_model m;
	struct embed_tick et = { question_tick_fn, qt };
	enum dc_err rc = embed_model_parse(cfg, cfg->embed_model, &m, err, errlen);

	if (rc != DC_OK)
		return rc;
	return embed_texts_ticked(cfg, &m, &question, 1, SEARCH_EMBED_TIMEOUT_S,
				  qt->tick ? &et : NULL, q, dim, err, errlen);
}

enum dc_err search_run(struct store *st, const struct config *cfg, const char *owner,
		       const char *question, enum search_mode mode, const long long *doc_ids,
		       size_t ndocs, int top_k, struct search_hit **out, size_t *n,
		       struct search_used *used, char *err, size_t errlen)
{
	return search_run_ticked(st, cfg, owner, question, mode, doc_ids, ndocs, top_k, NULL,
				 out, n, used, err, errlen);
}

enum dc_err search_run_ticked(struct store *st, const struct config *cfg, const char *owner,
			      const char *question, enum search_mode mode,
			      const long long *doc_ids, size_t ndocs, int top_k,
			      const struct search_tick *tick, struct search_hit **out, size_t *n,
			      struct search_used *used, char *err, size_t errlen)
{
	int have_model = cfg->embed_model && cfg->embed_model[0];
	int vector_failed = 0, dim = 0;
	struct question_tick qt = { tick, DC_OK };
	float *q = NULL;
	enum dc_err rc;

	*out = NULL;
	*n = 0;
	memset(used, 0, sizeof(*used));
	if (mode == SEARCH_AUTO)
		mode = have_model ? SEARCH_HYBRID : SEARCH_KEYWORD;
	if (mode != SEARCH_KEYWORD && !have_model)
		return dc_fail(err, errlen, DC_BADREQ, "DOCCHAT_EMBED_MODEL is not set: only"
			       " keyword search is available");
	used->mode = mode;
	if (!question || top_k <= 0)
		return DC_OK;
	if (mode == SEARCH_KEYWORD)
		goto keyword;
	rc = embed_question(cfg, question, &qt, &q, &dim, used->fallback,
			    sizeof(used->fallback));
	if (qt.stopped != DC_OK) {
		/* The caller's tick stopped the embedding (the client left, a shutdown): no
		 * keyword search in its place, the question is not being answered. */
		free(q);
		used->fallback[0] = '\0';
		return dc_fail(err, errlen, qt.stopped, "search stopped: %s",
			       dc_strerror(qt.stopped));
	}
	if (rc == DC_OK)
		rc = run_embedded(st, cfg, owner, question, q, dim, mode, doc_ids, ndocs, top_k,
				  out, n, &vector_failed, err, errlen);
	else
		vector_failed = 1;
	free(q);
	if (rc == DC_OK || !vector_failed)
		return rc;
	/* The vector half failed: keep the reason, answer by keyword. */
	if (!used->fallback[0])
		snprintf(used->fallback, sizeof(used->fallback), "%s", err);
	used->mode = SEARCH_KEYWORD;
keyword:
	return search_keyword(st, owner, question, doc_ids, ndocs, top_k, out, n, err, errlen);
}

/* ---- the JSON shape of a hit ---- */

struct json_object *search_hit_json(const struct search_hit *h)
{
	json_object *o = json_object_new_object();
	json_object *m = json_object_new_object();

	if (!o || !m) {
		json_object_put(o);
		json_object_put(m);
		return NULL;
	}
	json_object_object_add(o, "text", json_object_new_string(h->h.text ? h->h.text : ""));
	json_object_object_add(o, "score", json_object_new_double(h->score));
	json_object_object_add(m, "document_id", json_object_new_int64(h->h.document_id));
	json_object_object_add(m, "document",
			       json_object_new_string(h->h.document ? h->h.document : ""));
	json_object_object_add(m, "chunk", json_object_new_int(h->h.ordinal));
	json_object_object_add(m, "heading",
			       h->h.heading ? json_object_new_string(h->h.heading) : NULL);
	json_object_object_add(m, "page", h->h.page > 0 ? json_object_new_int(h->h.page) : NULL);
	json_object_object_add(o, "metadata", m);
	return o;
}
