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
 * The scan is exact and single-threaded per query. Its dot product keeps
 * VECTORS_LANES independent partial sums over consecutive elements, which is the loop
 * shape compilers turn into SIMD instructions at -O2 without any permission to reorder
 * floating-point additions (the order is written down, so results are the same with or
 * without vector instructions). Written by hand because no library we depend on offers
 * a nearest-neighbour scan; an approximate index (HNSW, IVF) would only pay off far
 * beyond the library sizes docchat is meant for (see bench/README.md). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "embed.h"
#include "store.h"
#include "vectors.h"

#define VECTORS_LANES 8		/* partial sums in the dot product (two SSE registers) */
#define VECTORS_SHARED_MAX 8	/* models one process may hold shared indexes for */
#define VECTORS_NO_OWNER UINT32_MAX

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
	if (ncap > SIZE_MAX / sizeof(float) / (size_t)s->dim)
		return DC_NOMEM;
	if (!(p = realloc(s->vec, ncap * (size_t)s->dim * sizeof(float))))
		return DC_NOMEM;
	s->vec = p;
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

static enum dc_err snapshot_add(void *ud, const struct store_vector_row *r, char *err,
				size_t errlen)
{
	struct snapshot *s = ud;
	uint32_t o = 0;

	if (s->dim == 0)
		s->dim = r->dim;
	else if (r->dim != s->dim)
		return dc_fail(err, errlen, DC_DB,
			       "stored embeddings have different dimensions (%d and %d): "
			       "embed the documents again", s->dim, r->dim);
	if (snapshot_grow(s) != DC_OK || owner_intern(s, r->owner, &o) != DC_OK)
		return dc_fail(err, errlen, DC_NOMEM, "load embeddings: out of memory");
	memcpy(s->vec + s->n * (size_t)s->dim, r->vector, (size_t)s->dim * sizeof(float));
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

static void scan(const struct snapshot *s, const float *q, const struct scan_filter *f,
		 size_t k, struct vectors_hit *heap, size_t *n)
{
	size_t i, dim = (size_t)s->dim;
	const float *row = s->vec;
	struct vectors_hit h;

	*n = 0;
	for (i = 0; i < s->n; i++, row += dim) {
		if (!visible(s, f, i))
			continue;
		h.cosine = dot(row, q, dim);
		h.chunk_id = s->chunk_id[i];
		h.document_id = s->doc_id[i];
		heap_offer(heap, n, k, &h);
	}
	heap_to_list(heap, *n);
}

enum dc_err vectors_index_search(struct vectors_index *ix, const float *q, int dim,
				 const char *owner, const long long *doc_ids, size_t ndocs,
				 size_t k, struct vectors_hit *out, size_t *n, char *err,
				 size_t errlen)
{
	struct scan_filter f;
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
	scan(s, q, &f, k, out, n);
out:
	pthread_rwlock_unlock(&ix->lock);
	free(docs);
	return rc;
}
