/* vectors.c - embedding pending chunks, and the shared in-memory vector index (see
 * vectors.h).
 *
 * Layout: a snapshot holds n vectors of dim floats in one row-major array, and beside
 * it, at the same positions, the chunk id, the document id and the owner (a small
 * number standing for the owner's name, so the visibility test in the scan is an
 * integer compare). A snapshot never changes once built. The index points at the
 * current one under a rwlock: searches hold the read lock while they scan; a reload
 * builds the next snapshot without any lock held (other searches go on), takes the
 * write lock only to swap the pointer, and frees the old one after. Peak memory during
 * a reload is therefore two copies of the vectors.
 *
 * The scan is exact and single-threaded per query, but it reads a quarter of the
 * floats' memory: beside each vector the snapshot keeps a copy quantized to signed
 * bytes (a scale per vector, the largest component mapped to 127) and two norms, that
 * of the quantized vector and that of what quantizing lost. The question is quantized
 * the same way, and an integer dot product (exact) times the two scales approximates
 * each cosine within a bound that the Cauchy-Schwarz inequality gives from those norms
 * (|q.r - q'.r'| <= |q| |r - r'| + |q - q'| |r'|), widened by the worst rounding of the
 * float dot product. A vector whose upper bound is below the k-th best lower bound seen
 * so far cannot be among the k nearest; every other vector is scored again with the
 * float dot product, and only those scores rank. So the result is exactly that of a
 * float scan of every vector, while the scan itself is bound by memory bandwidth
 * (1.5 KiB of floats against 0.4 KiB of bytes per 384-dimensional vector) and nearly
 * every vector is passed over after the integer product. The float dot product keeps
 * VECTORS_LANES independent partial sums over consecutive elements, which is the loop
 * shape compilers turn into SIMD instructions at -O2 without any permission to reorder
 * floating-point additions (the order is written down, so results are the same with or
 * without vector instructions); the byte product uses SSE2 where the compiler targets
 * it (every x86-64) and plain C elsewhere. Written by hand because no library we depend
 * on offers a nearest-neighbour scan; an approximate index (HNSW, IVF) would only pay
 * off far beyond the library sizes docchat is meant for (see bench/README.md). */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "embed.h"
#include "store.h"
#include "vectors.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define VECTORS_LANES 8		/* partial sums in the dot product (two SSE registers) */
#define VECTORS_SHARED_MAX 8	/* models one process may hold shared indexes for */
#define VECTORS_NO_OWNER UINT32_MAX
#define VECTORS_QMAX 127		/* quantized components lie in [-127, 127] */
#define VECTORS_QBLOCK 16		/* quantized rows are padded to a multiple of this */
#define VECTORS_BOUND_SLACK 1e-4	/* relative widening of the bounds: their own rounding */
#define VECTORS_BOUND_FLOOR 1e-9	/* and an absolute one */
#define VECTORS_SPLIT_WORK (1u << 22)	/* components (vectors * dim) from which a scan
					 * is shared by two threads: about 1 ms of work */

_Static_assert(EMBED_DIM_MAX == STORE_EMBED_DIM_MAX,
	       "the model server's and the database's dimension limits must agree");

/* ---- embedding what has no vector yet ---- */

/* Embed and store one page of pending chunks. */
static enum dc_err embed_page(struct store *st, const struct config *cfg,
			      const struct embed_model *m, const struct store_pending *p,
			      size_t n, char *err, size_t errlen)
{
	const char **texts = calloc(n, sizeof(*texts));
	long long *ids = calloc(n, sizeof(*ids));
	float *vecs = NULL;
	int dim = 0;
	enum dc_err rc;
	size_t i;

	if (!texts || !ids) {
		rc = dc_fail(err, errlen, DC_NOMEM, "embeddings: out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		texts[i] = p[i].text;
		ids[i] = p[i].id;
	}
	rc = embed_texts(cfg, m, texts, n, 0, &vecs, &dim, err, errlen);
	if (rc != DC_OK)
		goto out;
	rc = store_embeddings_put(st, m->full, ids, vecs, n, dim, err, errlen);
out:
	free(vecs);
	free(ids);
	free(texts);
	return rc;
}

enum dc_err vectors_embed_pending(struct store *st, const struct config *cfg, FILE *log,
				  char *err, size_t errlen)
{
	struct embed_model m;
	struct store_pending *p = NULL;
	size_t n = 0;
	long long after = 0, total = 0;
	int batch = cfg->embed_batch > 0 ? cfg->embed_batch : 1;
	enum dc_err rc;

	if (!cfg->embed_model || !cfg->embed_model[0])
		return DC_OK;
	rc = embed_model_parse(cfg, cfg->embed_model, &m, err, errlen);
	if (rc != DC_OK)
		return rc;
	for (;;) {
		rc = store_chunks_unembedded(st, m.full, after, batch, &p, &n, err, errlen);
		if (rc != DC_OK || n == 0)
			break;
		rc = embed_page(st, cfg, &m, p, n, err, errlen);
		if (rc != DC_OK)
			break;
		total += (long long)n;
		after = p[n - 1].id;
		store_pending_free(p, n);
		p = NULL;
		n = 0;
	}
	store_pending_free(p, n);
	if (log && total > 0)
		fprintf(log, "embedded %lld chunks with %s\n", total, m.full);
	return rc;
}

/* ---- snapshots ---- */

struct snapshot {
	long long token;	/* the database's change token this was loaded at */
	int dim;		/* 0 while empty */
	size_t n, cap;
	float *vec;		/* n * dim, row i belongs to chunk_id[i] */
	int8_t *qvec;		/* n * qdim: row i quantized, zero-padded to qdim */
	size_t qdim;		/* dim rounded up to VECTORS_QBLOCK */
	float *qscale;		/* row i ~= qscale[i] * qvec row i */
	float *qnorm;		/* |qscale[i] * qvec row i| */
	float *qerr;		/* |row i - qscale[i] * qvec row i| */
	long long *chunk_id;
	long long *doc_id;
	uint32_t *owner;	/* index into owners */
	char **owners;		/* distinct owner names, "" = shared library */
	size_t nowners, capowners;
	uint32_t last_owner;	/* loading: the previous row's owner, rows come in runs */
};

static void snapshot_free(struct snapshot *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->nowners; i++)
		free(s->owners[i]);
	free(s->owners);
	free(s->vec);
	free(s->qvec);
	free(s->qscale);
	free(s->qnorm);
	free(s->qerr);
	free(s->chunk_id);
	free(s->doc_id);
	free(s->owner);
	free(s);
}

/* The number standing for owner in s, or VECTORS_NO_OWNER. */
static uint32_t owner_find(const struct snapshot *s, const char *owner)
{
	size_t i;

	for (i = 0; i < s->nowners; i++)
		if (strcmp(s->owners[i], owner) == 0)
			return (uint32_t)i;
	return VECTORS_NO_OWNER;
}

static enum dc_err owner_intern(struct snapshot *s, const char *owner, uint32_t *out)
{
	uint32_t o;
	char **p;

	if (s->last_owner != VECTORS_NO_OWNER && strcmp(s->owners[s->last_owner], owner) == 0) {
		*out = s->last_owner;
		return DC_OK;
	}
	o = owner_find(s, owner);
	if (o == VECTORS_NO_OWNER) {
		if (s->nowners >= VECTORS_NO_OWNER - 1)
			return DC_NOMEM;
		if (s->nowners == s->capowners) {
			size_t ncap = s->capowners ? s->capowners * 2 : 4;

			p = realloc(s->owners, ncap * sizeof(*p));
			if (!p)
				return DC_NOMEM;
			s->owners = p;
			s->capowners = ncap;
		}
		s->owners[s->nowners] = strdup(owner);
		if (!s->owners[s->nowners])
			return DC_NOMEM;
		o = (uint32_t)s->nowners++;
	}
	s->last_owner = o;
	*out = o;
	return DC_OK;
}

/* Room for one more row. Doubling: glibc moves big blocks with mremap, not copies. */
static enum dc_err snapshot_grow(struct snapshot *s)
{
	size_t ncap;
	void *p;

	if (s->n < s->cap)
		return DC_OK;
	ncap = s->cap ? s->cap * 2 : 1024;
	if (ncap > SIZE_MAX / sizeof(float) / (size_t)s->dim || ncap > SIZE_MAX / s->qdim)
		return DC_NOMEM;
	if (!(p = realloc(s->vec, ncap * (size_t)s->dim * sizeof(float))))
		return DC_NOMEM;
	s->vec = p;
	if (!(p = realloc(s->qvec, ncap * s->qdim)))
		return DC_NOMEM;
	s->qvec = p;
	if (!(p = realloc(s->qscale, ncap * sizeof(*s->qscale))))
		return DC_NOMEM;
	s->qscale = p;
	if (!(p = realloc(s->qnorm, ncap * sizeof(*s->qnorm))))
		return DC_NOMEM;
	s->qnorm = p;
	if (!(p = realloc(s->qerr, ncap * sizeof(*s->qerr))))
		return DC_NOMEM;
	s->qerr = p;
	if (!(p = realloc(s->chunk_id, ncap * sizeof(*s->chunk_id))))
		return DC_NOMEM;
	s->chunk_id = p;
	if (!(p = realloc(s->doc_id, ncap * sizeof(*s->doc_id))))
		return DC_NOMEM;
	s->doc_id = p;
	if (!(p = realloc(s->owner, ncap * sizeof(*s->owner))))
		return DC_NOMEM;
	s->owner = p;
	s->cap = ncap;
	return DC_OK;
}

/* Quantize v (dim floats) into q (qdim bytes, the tail zero): the scale, and the norms
 * of the quantized vector and of the difference. */
static void quantize(const float *v, size_t dim, size_t qdim, int8_t *q, float *scale,
		     double *norm, double *errnorm)
{
	double n2 = 0, e2 = 0;
	float mx = 0, sc;
	size_t i;

	for (i = 0; i < dim; i++)
		if (fabsf(v[i]) > mx)
			mx = fabsf(v[i]);
	sc = mx / VECTORS_QMAX;
	for (i = 0; i < dim; i++) {
		long c = sc > 0 ? lrintf(v[i] / sc) : 0;
		double back;

		if (c > VECTORS_QMAX)
			c = VECTORS_QMAX;
		else if (c < -VECTORS_QMAX)
			c = -VECTORS_QMAX;
		q[i] = (int8_t)c;
		back = (double)sc * (double)c;
		n2 += back * back;
		e2 += ((double)v[i] - back) * ((double)v[i] - back);
	}
	memset(q + dim, 0, qdim - dim);
	*scale = sc;
	*norm = sqrt(n2);
	*errnorm = sqrt(e2);
}

static enum dc_err snapshot_add(void *ud, const struct store_vector_row *r, char *err,
				size_t errlen)
{
	struct snapshot *s = ud;
	uint32_t o = 0;
	double norm, errnorm;

	if (s->dim == 0) {
		s->dim = r->dim;
		s->qdim = ((size_t)r->dim + VECTORS_QBLOCK - 1) / VECTORS_QBLOCK * VECTORS_QBLOCK;
	} else if (r->dim != s->dim)
		return dc_fail(err, errlen, DC_DB,
			       "stored embeddings have different dimensions (%d and %d): "
			       "embed the documents again", s->dim, r->dim);
	if (snapshot_grow(s) != DC_OK || owner_intern(s, r->owner, &o) != DC_OK)
		return dc_fail(err, errlen, DC_NOMEM, "load embeddings: out of memory");
	memcpy(s->vec + s->n * (size_t)s->dim, r->vector, (size_t)s->dim * sizeof(float));
	quantize(r->vector, (size_t)s->dim, s->qdim, s->qvec + s->n * s->qdim, &s->qscale[s->n],
		 &norm, &errnorm);
	s->qnorm[s->n] = (float)norm;
	s->qerr[s->n] = (float)errnorm;
	s->chunk_id[s->n] = r->chunk_id;
	s->doc_id[s->n] = r->document_id;
	s->owner[s->n] = o;
	s->n++;
	return DC_OK;
}

static enum dc_err snapshot_load(struct store *st, const char *model, struct snapshot **out,
				 char *err, size_t errlen)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	struct store_vector_sink sink;
	enum dc_err rc;

	*out = NULL;
	if (!s)
		return dc_fail(err, errlen, DC_NOMEM, "load embeddings: out of memory");
	s->last_owner = VECTORS_NO_OWNER;
	sink.row = snapshot_add;
	sink.ud = s;
	rc = store_embeddings_scan(st, model, &sink, &s->token, err, errlen);
	if (rc != DC_OK) {
		snapshot_free(s);
		return rc;
	}
	*out = s;
	return DC_OK;
}

/* ---- the index ---- */

struct vectors_index {
	char *model;
	pthread_rwlock_t lock;		/* guards snap (the pointer, not the snapshot) */
	pthread_mutex_t reload;		/* one reload at a time */
	struct snapshot *snap;		/* NULL until the first load */
};

struct vectors_index *vectors_index_new(const char *model)
{
	struct vectors_index *ix = calloc(1, sizeof(*ix));

	if (!ix)
		return NULL;
	ix->model = strdup(model ? model : "");
	if (!ix->model) {
		free(ix);
		return NULL;
	}
	if (pthread_rwlock_init(&ix->lock, NULL) != 0) {
		free(ix->model);
		free(ix);
		return NULL;
	}
	if (pthread_mutex_init(&ix->reload, NULL) != 0) {
		pthread_rwlock_destroy(&ix->lock);
		free(ix->model);
		free(ix);
		return NULL;
	}
	return ix;
}

void vectors_index_free(struct vectors_index *ix)
{
	if (!ix)
		return;
	snapshot_free(ix->snap);
	pthread_mutex_destroy(&ix->reload);
	pthread_rwlock_destroy(&ix->lock);
	free(ix->model);
	free(ix);
}

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vectors_index *shared[VECTORS_SHARED_MAX];

struct vectors_index *vectors_index_shared(const char *model, char *err, size_t errlen)
{
	struct vectors_index *ix = NULL;
	size_t i;

	pthread_mutex_lock(&shared_lock);
	for (i = 0; i < VECTORS_SHARED_MAX && shared[i]; i++)
		if (strcmp(shared[i]->model, model) == 0) {
			ix = shared[i];
			goto out;
		}
	if (i == VECTORS_SHARED_MAX) {
		dc_fail(err, errlen, DC_NOMEM, "vector index: more than %d embedding models in use",
			VECTORS_SHARED_MAX);
		goto out;
	}
	ix = vectors_index_new(model);
	if (!ix) {
		dc_fail(err, errlen, DC_NOMEM, "vector index: out of memory");
		goto out;
	}
	shared[i] = ix;
out:
	pthread_mutex_unlock(&shared_lock);
	return ix;
}

/* Does the loaded snapshot differ from the database state token names? (Not "older":
 * a database restored from a backup may count from a lower number again.) */
static int is_stale(struct vectors_index *ix, long long token)
{
	int stale;

	pthread_rwlock_rdlock(&ix->lock);
	stale = !ix->snap || ix->snap->token != token;
	pthread_rwlock_unlock(&ix->lock);
	return stale;
}

enum dc_err vectors_index_refresh(struct vectors_index *ix, struct store *st, char *err,
				  size_t errlen)
{
	struct snapshot *fresh = NULL, *old;
	long long token = -1;
	enum dc_err rc;

	rc = store_embeddings_token(st, &token, err, errlen);
	if (rc != DC_OK || !is_stale(ix, token))
		return rc;
	pthread_mutex_lock(&ix->reload);
	/* Another thread may have reloaded while this one waited: ask the database again,
	 * so that its newer snapshot is not loaded twice. */
	rc = store_embeddings_token(st, &token, err, errlen);
	if (rc == DC_OK && is_stale(ix, token)) {
		rc = snapshot_load(st, ix->model, &fresh, err, errlen);
		if (rc == DC_OK) {
			pthread_rwlock_wrlock(&ix->lock);
			old = ix->snap;
			ix->snap = fresh;
			pthread_rwlock_unlock(&ix->lock);
			snapshot_free(old);
		}
	}
	pthread_mutex_unlock(&ix->reload);
	return rc;
}

size_t vectors_index_count(struct vectors_index *ix, int *dim)
{
	size_t n = 0;
	int d = 0;

	pthread_rwlock_rdlock(&ix->lock);
	if (ix->snap) {
		n = ix->snap->n;
		d = ix->snap->dim;
	}
	pthread_rwlock_unlock(&ix->lock);
	if (dim)
		*dim = d;
	return n;
}

/* ---- the scan ---- */

/* Dot product of two dim-float vectors; see the file comment for the loop's shape. */
static float dot(const float *restrict a, const float *restrict b, size_t dim)
{
	float acc[VECTORS_LANES] = { 0 };
	float sum = 0;
	size_t j = 0, l;

	for (; j + VECTORS_LANES <= dim; j += VECTORS_LANES)
		for (l = 0; l < VECTORS_LANES; l++)
			acc[l] += a[j + l] * b[j + l];
	for (; j < dim; j++)
		sum += a[j] * b[j];
	for (l = 0; l < VECTORS_LANES; l++)
		sum += acc[l];
	return sum;
}

/* Does a rank below b? Lower similarity, or equal and a higher chunk id. */
static int ranks_below(const struct vectors_hit *a, const struct vectors_hit *b)
{
	return a->cosine < b->cosine || (a->cosine == b->cosine && a->chunk_id > b->chunk_id);
}

static void swap_hits(struct vectors_hit *a, struct vectors_hit *b)
{
	struct vectors_hit t = *a;

	*a = *b;
	*b = t;
}

/* heap[0..n) is a min-heap on rank (the weakest hit at the top): restore it downward
 * from i. */
static void sift_down(struct vectors_hit *heap, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < n && ranks_below(&heap[l], &heap[m]))
			m = l;
		if (r < n && ranks_below(&heap[r], &heap[m]))
			m = r;
		if (m == i)
			return;
		swap_hits(&heap[i], &heap[m]);
		i = m;
	}
}

static void sift_up(struct vectors_hit *heap, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!ranks_below(&heap[i], &heap[p]))
			return;
		swap_hits(&heap[i], &heap[p]);
		i = p;
	}
}

/* Offer a hit to the top-k heap of *n (at most k) entries. */
static void heap_offer(struct vectors_hit *heap, size_t *n, size_t k,
		       const struct vectors_hit *h)
{
	if (*n < k) {
		heap[*n] = *h;
		sift_up(heap, (*n)++);
	} else if (ranks_below(&heap[0], h)) {
		heap[0] = *h;
		sift_down(heap, *n, 0);
	}
}

/* Turn the heap into a list, best first (heap sort: take the weakest to the end). */
static void heap_to_list(struct vectors_hit *heap, size_t n)
{
	while (n > 1) {
		swap_hits(&heap[0], &heap[n - 1]);
		n--;
		sift_down(heap, n, 0);
	}
}

static int cmp_id(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

/* The filters of one search, prepared once. */
struct scan_filter {
	uint32_t shared;	/* number of owner "", or VECTORS_NO_OWNER */
	uint32_t mine;		/* number of the asking owner, or VECTORS_NO_OWNER */
	const long long *docs;	/* sorted, or NULL for all documents */
	size_t ndocs;
};

static int visible(const struct snapshot *s, const struct scan_filter *f, size_t i)
{
	uint32_t o = s->owner[i];

	if (o != f->shared && o != f->mine)
		return 0;
	return !f->docs || bsearch(&s->doc_id[i], f->docs, f->ndocs, sizeof(*f->docs), cmp_id);
}

/* Integer dot product of a quantized row and the quantized question (n a multiple of
 * VECTORS_QBLOCK). Exact: at most 8192 * 127 * 127 in magnitude. */
static int32_t dot_q(const int8_t *restrict a, const int16_t *restrict b, size_t n)
{
#if defined(__SSE2__)
	__m128i acc0 = _mm_setzero_si128(), acc1 = _mm_setzero_si128();
	size_t j;

	for (j = 0; j < n; j += VECTORS_QBLOCK) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(a + j));
		/* each byte doubled into a 16-bit lane, shifted back with its sign */
		__m128i lo = _mm_srai_epi16(_mm_unpacklo_epi8(x, x), 8);
		__m128i hi = _mm_srai_epi16(_mm_unpackhi_epi8(x, x), 8);

		acc0 = _mm_add_epi32(acc0, _mm_madd_epi16(lo, _mm_loadu_si128(
					     (const __m128i *)(const void *)(b + j))));
		acc1 = _mm_add_epi32(acc1, _mm_madd_epi16(hi, _mm_loadu_si128(
					     (const __m128i *)(const void *)(b + j + 8))));
	}
	acc0 = _mm_add_epi32(acc0, acc1);
	acc0 = _mm_add_epi32(acc0, _mm_shuffle_epi32(acc0, _MM_SHUFFLE(1, 0, 3, 2)));
	acc0 = _mm_add_epi32(acc0, _mm_shuffle_epi32(acc0, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm_cvtsi128_si32(acc0);
#else
	int32_t sum = 0;
	size_t j;

	for (j = 0; j < n; j++)
		sum += (int32_t)a[j] * b[j];
	return sum;
#endif
}

/* The question, quantized, and what the bounds need of it. */
struct scan_query {
	const float *q;		/* dim floats */
	int16_t *q16;		/* qdim values in [-127, 127], zero-padded */
	double scale;		/* q ~= scale * q16 */
	double a, b;		/* a row's bound: a * qerr[i] + b * qnorm[i] */
};

static enum dc_err scan_query_init(struct scan_query *sq, const struct snapshot *s,
				   const float *q)
{
	int8_t *q8 = malloc(s->qdim);
	double norm, errnorm, qlen = 0, gamma = (double)s->dim * FLT_EPSILON;
	float scale;
	size_t i;

	sq->q = q;
	sq->q16 = malloc(s->qdim * sizeof(*sq->q16));
	if (!q8 || !sq->q16) {
		free(q8);
		return DC_NOMEM;
	}
	quantize(q, (size_t)s->dim, s->qdim, q8, &scale, &norm, &errnorm);
	for (i = 0; i < s->qdim; i++)
		sq->q16[i] = q8[i];
	free(q8);
	for (i = 0; i < (size_t)s->dim; i++)
		qlen += (double)q[i] * q[i];
	qlen = sqrt(qlen);
	sq->scale = scale;
	/* |q.r - q'.r'| <= |q| |r - r'| + |q - q'| |r'|, and the float dot product of
	 * q and r is off by at most gamma |q| |r| <= gamma |q| (|r'| + |r - r'|). */
	sq->a = qlen * (1 + gamma) * (1 + VECTORS_BOUND_SLACK);
	sq->b = (errnorm + gamma * qlen) * (1 + VECTORS_BOUND_SLACK);
	return DC_OK;
}

/* Offer x to the min-heap of the k largest lower bounds. */
static void bound_offer(double *heap, size_t *n, size_t k, double x)
{
	size_t i;

	if (*n < k) {
		i = (*n)++;
		for (; i > 0 && heap[(i - 1) / 2] > x; i = (i - 1) / 2)
			heap[i] = heap[(i - 1) / 2];
		heap[i] = x;
		return;
	}
	if (x <= heap[0])
		return;
	for (i = 0;;) {
		size_t l = 2 * i + 1, r = l + 1, m = l;

		if (l >= *n)
			break;
		if (r < *n && heap[r] < heap[l])
			m = r;
		if (heap[m] >= x)
			break;
		heap[i] = heap[m];
		i = m;
	}
	heap[i] = x;
}

/* One share of a scan: rows [from, to) into its own heaps. */
struct scan_part {
	const struct snapshot *s;
	const struct scan_query *sq;
	const struct scan_filter *f;
	size_t from, to, k;
	struct vectors_hit *heap;	/* k */
	double *bounds;			/* k */
	size_t n;
};

static void scan_rows(struct scan_part *p)
{
	const struct snapshot *s = p->s;
	const struct scan_query *sq = p->sq;
	size_t i, dim = (size_t)s->dim, nb = 0;
	struct vectors_hit h;

	p->n = 0;
	for (i = p->from; i < p->to; i++) {
		double approx, e;

		if (!visible(s, p->f, i))
			continue;
		approx = sq->scale * s->qscale[i] *
			 (double)dot_q(s->qvec + i * s->qdim, sq->q16, s->qdim);
		e = sq->a * s->qerr[i] + sq->b * s->qnorm[i] + VECTORS_BOUND_FLOOR;
		bound_offer(p->bounds, &nb, p->k, approx - e);
		if (nb == p->k && approx + e < p->bounds[0])
			continue;	/* k vectors are surely nearer */
		h.cosine = dot(s->vec + i * dim, sq->q, dim);
		h.chunk_id = s->chunk_id[i];
		h.document_id = s->doc_id[i];
		heap_offer(p->heap, &p->n, p->k, &h);
	}
}

static void *scan_thread(void *arg)
{
	scan_rows(arg);
	return NULL;
}

/* The k nearest visible rows into heap, best first. A large snapshot is split in two,
 * the second half scanned by a thread of its own (each half's k nearest are exact, so
 * the k nearest of both are too); when no thread can be started the caller scans it. */
static enum dc_err scan(const struct snapshot *s, const struct scan_query *sq,
			const struct scan_filter *f, size_t k, struct vectors_hit *heap,
			size_t *n)
{
	struct scan_part part[2];
	pthread_t helper;
	size_t i, nparts = s->n * s->qdim >= VECTORS_SPLIT_WORK &&
			   sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 2 : 1;
	int started = 0;
	enum dc_err rc = DC_OK;

	memset(part, 0, sizeof(part));
	for (i = 0; i < nparts; i++) {
		part[i].s = s;
		part[i].sq = sq;
		part[i].f = f;
		part[i].from = s->n / nparts * i;
		part[i].to = i + 1 == nparts ? s->n : s->n / nparts * (i + 1);
		part[i].k = k;
		part[i].heap = i == 0 ? heap : malloc(k * sizeof(*heap));
		part[i].bounds = malloc(k * sizeof(*part[i].bounds));
		if (!part[i].heap || !part[i].bounds) {
			rc = DC_NOMEM;
			goto out;
		}
	}
	if (nparts > 1)
		started = pthread_create(&helper, NULL, scan_thread, &part[1]) == 0;
	scan_rows(&part[0]);
	if (nparts > 1) {
		if (started)
			pthread_join(helper, NULL);
		else
			scan_rows(&part[1]);
		for (i = 0; i < part[1].n; i++)
			heap_offer(heap, &part[0].n, k, &part[1].heap[i]);
	}
	*n = part[0].n;
	heap_to_list(heap, *n);
out:
	for (i = 0; i < nparts; i++) {
		if (i > 0)
			free(part[i].heap);
		free(part[i].bounds);
	}
	return rc;
}

enum dc_err vectors_index_search(struct vectors_index *ix, const float *q, int dim,
				 const char *owner, const long long *doc_ids, size_t ndocs,
				 size_t k, struct vectors_hit *out, size_t *n, char *err,
				 size_t errlen)
{
	struct scan_filter f;
	struct scan_query sq = { NULL, NULL, 0, 0, 0 };
	long long *docs = NULL;
	const struct snapshot *s;
	enum dc_err rc = DC_OK;

	*n = 0;
	if (k == 0)
		return DC_OK;
	if (ndocs > 0) {
		docs = malloc(ndocs * sizeof(*docs));
		if (!docs)
			return dc_fail(err, errlen, DC_NOMEM, "vector search: out of memory");
		memcpy(docs, doc_ids, ndocs * sizeof(*docs));
		qsort(docs, ndocs, sizeof(*docs), cmp_id);
	}
	pthread_rwlock_rdlock(&ix->lock);
	s = ix->snap;
	if (!s || s->n == 0)
		goto out;
	if (dim != s->dim) {
		rc = dc_fail(err, errlen, DC_BADREQ,
			     "vector search: the question's embedding has %d dimensions, the "
			     "stored ones %d (was the model changed? embed the documents again)",
			     dim, s->dim);
		goto out;
	}
	f.shared = owner_find(s, "");
	f.mine = owner_find(s, owner ? owner : "");
	f.docs = docs;
	f.ndocs = ndocs;
	if (scan_query_init(&sq, s, q) != DC_OK || scan(s, &sq, &f, k, out, n) != DC_OK) {
		*n = 0;
		rc = dc_fail(err, errlen, DC_NOMEM, "vector search: out of memory");
		goto out;
	}
out:
	pthread_rwlock_unlock(&ix->lock);
	free(sq.q16);
	free(docs);
	return rc;
}
