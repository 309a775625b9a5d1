/* test_vectors.c - vector storage (store.c), the in-memory index (vectors.c) and the
 * ranking of vector and hybrid search (search.c) on hand-made vectors in a real SQLite
 * file: exact top-k order and similarities, owner and document filters, ties, refresh
 * after inserts, replacements and cascading deletes (seen through the change token),
 * the migration of a version-1 database, reciprocal rank fusion arithmetic, the score
 * mappings, the keyword fallback when the embedding server cannot be reached,
 * concurrent searches during reloads, and that the scan through quantized vectors
 * finds exactly what a float scan of every vector finds, near-duplicates and ties
 * included. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "config.h"
#include "search.h"
#include "store.h"
#include "vectors.h"

#define DIM 4
#define MODEL "ollama:test-embed"
#define EPS 1e-6
#define THREADS 4
#define THREAD_ROUNDS 50

#include "testdb.h"

/* The library of most tests: shared doc A (3 chunks), alice's B (2), bob's C (1). */
struct lib {
	struct store *st;
	long long doc_a, doc_b, doc_c;
	long long a0, a1, a2, b0, b1, c0;	/* chunk ids */
};

static long long add_doc(struct store *st, const char *owner, const char *name,
			 const char *const *texts, size_t n)
{
	struct store_chunk_in c[8];
	char err[DC_ERRMAX] = "";
	long long id = 0;
	int existed = 0;
	size_t i;

	memset(c, 0, sizeof(c));
	for (i = 0; i < n; i++) {
		c[i].text = texts[i];
		c[i].start = (long long)i * 10;
		c[i].end = (long long)i * 10 + 5;
	}
	/* the name doubles as the content hash: every document here is distinct */
	if (store_document_add(st, owner, name, NULL, name, 100, c, n, &id, &existed, err,
			       sizeof(err)) != DC_OK)
		printf("# add %s: %s\n", name, err);
	return id;
}

/* The id of the chunk with this text. */
static long long chunk_id(struct store *st, const char *text)
{
	struct store_pending *p = NULL;
	char err[DC_ERRMAX] = "";
	long long id = -1;
	size_t n = 0, i;

	if (store_chunks_unembedded(st, "no-such-model", 0, 1000, &p, &n, err, sizeof(err)) != DC_OK)
		printf("# pending: %s\n", err);
	for (i = 0; i < n; i++)
		if (strcmp(p[i].text, text) == 0)
			id = p[i].id;
	store_pending_free(p, n);
	return id;
}

static enum dc_err put1(struct store *st, const char *model, long long id, float x, float y,
			float z, float w)
{
	float v[DIM];
	char err[DC_ERRMAX] = "";
	enum dc_err rc;

	v[0] = x;
	v[1] = y;
	v[2] = z;
	v[3] = w;
	rc = store_embeddings_put(st, model, &id, v, 1, DIM, err, sizeof(err));
	if (rc != DC_OK)
		printf("# put: %s\n", err);
	return rc;
}

static int lib_open(struct lib *l)
{
	static const char *const a[] = { "alpha one", "alpha two", "alpha three" };
	static const char *const b[] = { "beta one", "beta two" };
	static const char *const c[] = { "gamma one" };

	memset(l, 0, sizeof(*l));
	l->st = fresh();
	if (!l->st)
		return 0;
	l->doc_a = add_doc(l->st, "", "a.md", a, 3);
	l->doc_b = add_doc(l->st, "alice", "b.md", b, 2);
	l->doc_c = add_doc(l->st, "bob", "c.md", c, 1);
	l->a0 = chunk_id(l->st, "alpha one");
	l->a1 = chunk_id(l->st, "alpha two");
	l->a2 = chunk_id(l->st, "alpha three");
	l->b0 = chunk_id(l->st, "beta one");
	l->b1 = chunk_id(l->st, "beta two");
	l->c0 = chunk_id(l->st, "gamma one");
	/* Similarity to the query (1,0,0,0) is the first element. */
	return put1(l->st, MODEL, l->a0, 0.6f, 0.8f, 0, 0) == DC_OK &&
	       put1(l->st, MODEL, l->a1, 1, 0, 0, 0) == DC_OK &&
	       put1(l->st, MODEL, l->a2, -0.6f, 0, 0.8f, 0) == DC_OK &&
	       put1(l->st, MODEL, l->b0, 0.8f, 0, 0, 0.6f) == DC_OK &&
	       put1(l->st, MODEL, l->b1, 0, 1, 0, 0) == DC_OK &&
	       put1(l->st, MODEL, l->c0, 0.99f, 0, 0.14106736f, 0) == DC_OK;
}

static void lib_close(struct lib *l)
{
	store_close(l->st);
}

static const float qx[DIM] = { 1, 0, 0, 0 };

/* Search ix for qx; the hits in out (room for 16). */
static size_t find(struct vectors_index *ix, const char *owner, const long long *docs,
		   size_t ndocs, size_t k, struct vectors_hit *out)
{
	char err[DC_ERRMAX] = "";
	size_t n = 0;

	if (vectors_index_search(ix, qx, DIM, owner, docs, ndocs, k, out, &n, err,
				 sizeof(err)) != DC_OK)
		printf("# search: %s\n", err);
	return n;
}

static int refresh(struct vectors_index *ix, struct store *st)
{
	char err[DC_ERRMAX] = "";

	if (vectors_index_refresh(ix, st, err, sizeof(err)) != DC_OK) {
		printf("# refresh: %s\n", err);
		return 0;
	}
	return 1;
}

static void test_top_k_exact_order_and_similarity(void)
{
	struct lib l;
	struct vectors_index *ix = vectors_index_new(MODEL);
	struct vectors_hit h[16];
	int dim = 0;
	size_t n;

	CHECK(ix != NULL);
	CHECK(lib_open(&l));
	CHECK(refresh(ix, l.st));
	CHECK_INT(vectors_index_count(ix, &dim), 6);
	CHECK_INT(dim, DIM);
	/* alice sees the shared library and her own document, not bob's */
	n = find(ix, "alice", NULL, 0, 16, h);
	CHECK_INT(n, 5);
	CHECK_INT(h[0].chunk_id, l.a1);
	CHECK_INT(h[1].chunk_id, l.b0);
	CHECK_INT(h[2].chunk_id, l.a0);
	CHECK_INT(h[3].chunk_id, l.b1);
	CHECK_INT(h[4].chunk_id, l.a2);
	CHECK(fabs(h[0].cosine - 1.0) < EPS && fabs(h[1].cosine - 0.8) < EPS &&
	      fabs(h[2].cosine - 0.6) < EPS && fabs(h[3].cosine) < EPS &&
	      fabs(h[4].cosine + 0.6) < EPS);
	CHECK_INT(h[0].document_id, l.doc_a);
	CHECK_INT(h[1].document_id, l.doc_b);
	/* top 2 of the same */
	n = find(ix, "alice", NULL, 0, 2, h);
	CHECK_INT(n, 2);
	CHECK_INT(h[0].chunk_id, l.a1);
	CHECK_INT(h[1].chunk_id, l.b0);
	vectors_index_free(ix);
	lib_close(&l);
}

static void test_owner_filter(void)
{
	struct lib l;
	struct vectors_index *ix = vectors_index_new(MODEL);
	struct vectors_hit h[16];
	size_t n;

	CHECK(lib_open(&l));
	CHECK(refresh(ix, l.st));
	/* the local user ("") sees only the shared library */
	n = find(ix, "", NULL, 0, 16, h);
	CHECK_INT(n, 3);
	CHECK_INT(h[0].chunk_id, l.a1);
	CHECK_INT(h[1].chunk_id, l.a0);
	CHECK_INT(h[2].chunk_id, l.a2);
	/* bob: his 0.99 chunk comes second after the exact match */
	n = find(ix, "bob", NULL, 0, 2, h);
	CHECK_INT(n, 2);
	CHECK_INT(h[0].chunk_id, l.a1);
	CHECK_INT(h[1].chunk_id, l.c0);
	/* an owner with no documents still sees the shared library */
	n = find(ix, "carol", NULL, 0, 16, h);
	CHECK_INT(n, 3);
	vectors_index_free(ix);
	lib_close(&l);
}

static void test_document_filter(void)
{
	struct lib l;
	struct vectors_index *ix = vectors_index_new(MODEL);
	struct vectors_hit h[16];
	long long docs[2];
	size_t n;

	CHECK(lib_open(&l));
	CHECK(refresh(ix, l.st));
	docs[0] = l.doc_b;
	n = find(ix, "alice", docs, 1, 16, h);
	CHECK_INT(n, 2);
	CHECK_INT(h[0].chunk_id, l.b0);
	CHECK_INT(h[1].chunk_id, l.b1);
	/* a filter naming another owner's document finds nothing of it */
	docs[0] = l.doc_c;
	docs[1] = l.doc_b;
	n = find(ix, "alice", docs, 2, 16, h);
	CHECK_INT(n, 2);
	CHECK_INT(h[0].chunk_id, l.b0);
	docs[0] = l.doc_c;
	n = find(ix, "alice", docs, 1, 16, h);
	CHECK_INT(n, 0);
	vectors_index_free(ix);
	lib_close(&l);
}

static void test_ties_rank_lower_chunk_id_first(void)
{
	struct lib l;
	struct vectors_index *ix = vectors_index_new(MODEL);
	struct vectors_hit h[16];
	size_t n;

	CHECK(lib_open(&l));
	/* a2 and a0 become identical to a1 */
	CHECK_INT(put1(l.st, MODEL, l.a2, 1, 0, 0, 0), DC_OK);
	CHECK_INT(put1(l.st, MODEL, l.a0, 1, 0, 0, 0), DC_OK);
	CHECK(refresh(ix, l.st));
	n = find(ix, "", NULL, 0, 2, h);
	CHECK_INT(n, 2);
	CHECK_INT(h[0].chunk_id, l.a0);
	CHECK_INT(h[1].chunk_id, l.a1);
	n = find(ix, "", NULL, 0, 3, h);
	CHECK_INT(h[2].chunk_id, l.a2);
	vectors_index_free(ix);
	lib_close(&l);
}

static void test_dimension_mismatch_is_an_error(void)
{
	struct lib l;
	struct vectors_index *ix = vectors_index_new(MODEL);
	struct vectors_hit h[4];
	char err[DC_ERRMAX] = "";
	size_t n = 9;

	CHECK(lib_open(&l));
	CHECK(refresh(ix, l.st));
	CHECK_INT(vectors_index_search(ix, qx, 3, "", NULL, 0, 4, h, &n, err, sizeof(err)),
		  DC_BADREQ);
	CHECK_INT(n, 0);
	CHECK_STR(err, "vector search: the question's embedding has 3 dimensions, the stored "
		  "ones 4 (was the model changed? embed the documents again)");
	vectors_index_free(ix);
	lib_close(&l);
}

static void test_empty_index_finds_nothing(void)
{
	struct store *st = fresh();
	struct vectors_index *ix = vectors_index_new(MODEL);
	struct vectors_hit h[4];
	int dim = 7;

	CHECK(refresh(ix, st));
	CHECK_INT(vectors_index_count(ix, &dim), 0);
	CHECK_INT(dim, 0);
	CHECK_INT(find(ix, "", NULL, 0, 4, h), 0);
	vectors_index_free(ix);
	store_close(st);
}

static long long token(struct store *st)
{
	char err[DC_ERRMAX] = "";
	long long t = -5;

	if (store_embeddings_token(st, &t, err, sizeof(err)) != DC_OK)
		printf("# token: %s\n", err);
	return t;
}

static void test_refresh_sees_insert_replace_and_delete(void)
{
	static const char *const d[] = { "delta one" };
	struct lib l;
	struct vectors_index *ix = vectors_index_new(MODEL);
	struct vectors_hit h[16];
	char err[DC_ERRMAX] = "";
	long long t0, t1, t2, t3, doc_d, d0;
	struct store_session s;

	CHECK(lib_open(&l));
	CHECK(refresh(ix, l.st));
	t0 = token(l.st);
	CHECK_INT(t0, 6);	/* six vectors put, one step each */
	/* unrelated writes leave the token alone */
	CHECK_INT(store_session_create(l.st, "", "x", &s, err, sizeof(err)), DC_OK);
	store_session_clear(&s);
	CHECK_INT(token(l.st), t0);
	/* insert: a new document and its vector */
	doc_d = add_doc(l.st, "", "d.md", d, 1);
	CHECK_INT(token(l.st), t0);	/* chunks alone have no vector yet */
	d0 = chunk_id(l.st, "delta one");
	CHECK_INT(put1(l.st, MODEL, d0, 0.9f, 0, 0, 0.43588989f), DC_OK);
	t1 = token(l.st);
	CHECK(t1 > t0);
	CHECK_INT(find(ix, "", NULL, 0, 16, h), 3);	/* not refreshed yet */
	CHECK(refresh(ix, l.st));
	CHECK_INT(vectors_index_count(ix, NULL), 7);
	CHECK_INT(find(ix, "", NULL, 0, 16, h), 4);
	CHECK_INT(h[1].chunk_id, d0);
	CHECK_INT(h[1].document_id, doc_d);
	/* replace: a1 turns away from the query */
	CHECK_INT(put1(l.st, MODEL, l.a1, 0, 0, 0, 1), DC_OK);
	t2 = token(l.st);
	CHECK(t2 > t1);
	CHECK(refresh(ix, l.st));
	CHECK_INT(find(ix, "", NULL, 0, 1, h), 1);
	CHECK_INT(h[0].chunk_id, d0);
	/* delete: removing document A cascades to its chunks' vectors */
	CHECK_INT(store_document_delete(l.st, "", l.doc_a, err, sizeof(err)), DC_OK);
	t3 = token(l.st);
	CHECK(t3 >= t2 + 3);
	CHECK_INT(raw("SELECT count(*) FROM embeddings"), 4);
	CHECK(refresh(ix, l.st));
	CHECK_INT(vectors_index_count(ix, NULL), 4);
	CHECK_INT(find(ix, "", NULL, 0, 16, h), 1);
	CHECK_INT(h[0].chunk_id, d0);
	vectors_index_free(ix);
	lib_close(&l);
}

static void test_refresh_sees_other_connections(void)
{
	struct lib l;
	struct store *other = NULL;
	struct vectors_index *ix = vectors_index_new(MODEL);
	struct vectors_hit h[16];
	char err[DC_ERRMAX] = "";

	CHECK(lib_open(&l));
	CHECK_INT(store_open(dbpath, &other, err, sizeof(err)), DC_OK);
	CHECK(refresh(ix, l.st));
	CHECK_INT(vectors_index_count(ix, NULL), 6);
	/* a write through another connection (another process, in production) */
	CHECK_INT(store_document_delete(other, "alice", l.doc_b, err, sizeof(err)), DC_OK);
	CHECK(refresh(ix, l.st));
	CHECK_INT(vectors_index_count(ix, NULL), 4);
	CHECK_INT(find(ix, "alice", NULL, 0, 16, h), 3);
	store_close(other);
	vectors_index_free(ix);
	lib_close(&l);
}

static void test_pending_and_model_switch(void)
{
	struct lib l;
	struct store_pending *p = NULL;
	struct vectors_index *ix = vectors_index_new(MODEL);
	char err[DC_ERRMAX] = "";
	size_t n = 0;

	CHECK(lib_open(&l));
	CHECK_INT(store_chunks_unembedded(l.st, MODEL, 0, 10, &p, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 0);
	store_pending_free(p, n);
	/* for another model every chunk is pending; pages follow the ids */
	CHECK_INT(store_chunks_unembedded(l.st, "openai:other", 0, 4, &p, &n, err, sizeof(err)),
		  DC_OK);
	CHECK_INT(n, 4);
	CHECK_INT(p[0].id, l.a0);
	CHECK_STR(p[0].text, "alpha one");
	CHECK_INT(p[3].id, l.b0);
	store_pending_free(p, n);
	CHECK_INT(store_chunks_unembedded(l.st, "openai:other", l.b0, 4, &p, &n, err,
					  sizeof(err)), DC_OK);
	CHECK_INT(n, 2);
	CHECK_INT(p[0].id, l.b1);
	CHECK_INT(p[1].id, l.c0);
	store_pending_free(p, n);
	/* embedding a0 with the other model replaces its vector */
	CHECK_INT(put1(l.st, "openai:other", l.a0, 1, 0, 0, 0), DC_OK);
	CHECK_INT(store_chunks_unembedded(l.st, MODEL, 0, 10, &p, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 1);
	CHECK_INT(p[0].id, l.a0);
	store_pending_free(p, n);
	CHECK(refresh(ix, l.st));
	CHECK_INT(vectors_index_count(ix, NULL), 5);
	vectors_index_free(ix);
	lib_close(&l);
}

static void test_put_rejects_bad_vectors(void)
{
	struct lib l;
	float v[2 * DIM] = { 1, 0, 0, 0, NAN, 0, 0, 0 };
	long long ids[2];
	char err[DC_ERRMAX] = "";

	CHECK(lib_open(&l));
	ids[0] = l.a0;
	ids[1] = l.a1;
	CHECK_INT(store_embeddings_put(l.st, "m2", ids, v, 2, DIM, err, sizeof(err)), DC_BADREQ);
	CHECK_STR(err, "store embeddings: the vector of chunk 2 is not finite");
	CHECK_INT(raw("SELECT count(*) FROM embeddings WHERE model = 'm2'"), 0);
	CHECK_INT(store_embeddings_put(l.st, "m2", ids, v, 1, 8193, err, sizeof(err)), DC_BADREQ);
	CHECK_INT(store_embeddings_put(l.st, "m2", ids, v, 1, 0, err, sizeof(err)), DC_BADREQ);
	/* a chunk deleted meanwhile is skipped, the rest stored */
	ids[1] = 999999;
	v[4] = 1;
	CHECK_INT(store_embeddings_put(l.st, "m2", ids, v, 2, DIM, err, sizeof(err)), DC_OK);
	CHECK_INT(raw("SELECT count(*) FROM embeddings WHERE model = 'm2'"), 1);
	lib_close(&l);
}

static void test_damaged_rows_are_reported(void)
{
	struct lib l;
	struct vectors_index *ix = vectors_index_new(MODEL);
	char err[DC_ERRMAX] = "";

	CHECK(lib_open(&l));
	CHECK(refresh(ix, l.st));
	/* a NaN smuggled in by hand (the CHECK constraints cannot see inside the blob) */
	CHECK(raw("UPDATE embeddings SET vector = X'0000C07F000000000000000000000000'"
		  " WHERE chunk_id = 1") >= 0);
	CHECK_INT(vectors_index_refresh(ix, l.st, err, sizeof(err)), DC_DB);
	CHECK_STR(err, "load embeddings: chunk 1: the vector is not finite");
	/* the vectors loaded before stay in use */
	CHECK_INT(vectors_index_count(ix, NULL), 6);
	vectors_index_free(ix);
	lib_close(&l);
}

static void test_migration_from_version_1(void)
{
	struct store *st = fresh();
	char err[DC_ERRMAX] = "";

	store_close(st);
	/* make it look like a database written by the first release */
	CHECK_INT(raw("DROP TRIGGER embeddings_gen_insert; DROP TRIGGER embeddings_gen_update;"
		      " DROP TRIGGER embeddings_gen_delete; DROP TABLE embeddings; DROP TABLE meta;"
		      " ALTER TABLE messages DROP COLUMN worker; DROP TABLE tokens;"
		      " DROP TABLE limit_streams; DROP TABLE limit_rate;"
		      " PRAGMA user_version = 1; PRAGMA user_version"), 1);
	CHECK_INT(raw("SELECT count(*) FROM sqlite_master WHERE name = 'embeddings'"), 0);
	st = NULL;
	CHECK_INT(store_open(dbpath, &st, err, sizeof(err)), DC_OK);
	CHECK_INT(raw("PRAGMA user_version"), 5);
	CHECK_INT(raw("SELECT count(*) FROM pragma_table_info('messages') WHERE name = 'worker'"), 1);
	CHECK_INT(raw("SELECT count(*) FROM sqlite_master WHERE name = 'tokens'"), 1);
	CHECK_INT(raw("SELECT count(*) FROM sqlite_master WHERE name = 'embeddings'"), 1);
	CHECK_INT(token(st), 0);
	CHECK_INT(store_health(st, err, sizeof(err)), DC_OK);
	store_close(st);
}

static void test_fusion_math(void)
{
	static const long long kw[] = { 10, 20, 30 }, vec[] = { 20, 40 };
	static const long long kw2[] = { 6, 5 }, vec2[] = { 5, 6 };
	static const long long kw3[] = { 2 }, vec3[] = { 1 };
	struct search_fused f[8];
	size_t n;

	n = search_fuse(kw, 3, vec, 2, f);
	CHECK_INT(n, 4);
	CHECK_INT(f[0].chunk_id, 20);
	CHECK(fabs(f[0].rrf - (1.0 / 62 + 1.0 / 61)) < 1e-15);
	CHECK_INT(f[0].keyword_rank, 2);
	CHECK_INT(f[0].vector_rank, 1);
	CHECK_INT(f[1].chunk_id, 10);
	CHECK(fabs(f[1].rrf - 1.0 / 61) < 1e-15);
	CHECK_INT(f[1].vector_rank, 0);
	CHECK_INT(f[2].chunk_id, 40);
	CHECK(fabs(f[2].rrf - 1.0 / 62) < 1e-15);
	CHECK_INT(f[2].keyword_rank, 0);
	CHECK_INT(f[3].chunk_id, 30);
	CHECK(fabs(f[3].rrf - 1.0 / 63) < 1e-15);
	/* equal sums and equal best ranks: the better keyword rank first, not the lower id */
	n = search_fuse(kw2, 2, vec2, 2, f);
	CHECK_INT(n, 2);
	CHECK_INT(f[0].chunk_id, 6);
	CHECK_INT(f[1].chunk_id, 5);
	/* first in one list each: the keyword list's first */
	n = search_fuse(kw3, 1, vec3, 1, f);
	CHECK_INT(f[0].chunk_id, 2);
	CHECK_INT(f[1].chunk_id, 1);
	/* one list empty */
	n = search_fuse(NULL, 0, vec, 2, f);
	CHECK_INT(n, 2);
	CHECK_INT(f[0].chunk_id, 20);
}

static void test_score_mappings(void)
{
	CHECK(fabs(search_score_rrf(2.0 / 61) - 1.0) < 1e-12);
	CHECK(fabs(search_score_rrf(1.0 / 61) - 0.5) < 1e-12);
	CHECK(fabs(search_score_rrf(1.0 / 62 + 1.0 / 63) - (61.0 / 124 + 61.0 / 126)) < 1e-12);
	CHECK(search_score_rrf(0) == 0.0);
	CHECK(search_score_rrf(NAN) == 0.0);
	CHECK(search_score_cosine(-0.3) == 0.0);
	CHECK(search_score_cosine(0.25) == 0.25);
	CHECK(search_score_cosine(1.0000001) == 1.0);
	CHECK(search_score_cosine(NAN) == 0.0);
	CHECK(fabs(search_score_bm25(-3.0) - 0.75) < 1e-12);
}

static void test_mode_names(void)
{
	enum search_mode m = SEARCH_AUTO;

	CHECK(search_mode_parse("hybrid", &m) && m == SEARCH_HYBRID);
	CHECK(search_mode_parse("vector", &m) && m == SEARCH_VECTOR);
	CHECK(search_mode_parse("keyword", &m) && m == SEARCH_KEYWORD);
	CHECK(!search_mode_parse("auto", &m));
	CHECK(!search_mode_parse("Hybrid", &m));
	CHECK(!search_mode_parse(NULL, &m));
	CHECK_STR(search_mode_name(SEARCH_HYBRID), "hybrid");
	CHECK_STR(search_mode_name(SEARCH_AUTO), "auto");
}

static char cfg_model[] = MODEL;
static char cfg_url[] = "http://127.0.0.1:1";
static char cfg_provider[] = "ollama";
static char cfg_none[] = "";

static void cfg_init(struct config *cfg, int with_model)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->embed_model = with_model ? cfg_model : cfg_none;
	cfg->embed_batch = 8;
	cfg->ollama_url = cfg_url;
	cfg->openai_url = cfg_url;
	cfg->default_provider = cfg_provider;
	cfg->upstream_connect_s = 2;
	cfg->upstream_idle_s = 2;
}

/* Three chunks where keyword and vector search disagree: "apple" matches c3 best and
 * c1 next by BM25; the question's vector is nearest to c2, then c3, then c1. */
static void test_vector_and_hybrid_ranking(void)
{
	static const char *const t[] = { "apple banana kiwi", "cherry", "apple" };
	static const float q[DIM] = { 0, 0.8f, 0.6f, 0 };
	struct store *st = fresh();
	struct config cfg;
	struct search_hit *h = NULL;
	char err[DC_ERRMAX] = "";
	long long c1, c2, c3;
	size_t n = 0;

	cfg_init(&cfg, 1);
	add_doc(st, "", "fruit.md", t, 3);
	c1 = chunk_id(st, "apple banana kiwi");
	c2 = chunk_id(st, "cherry");
	c3 = chunk_id(st, "apple");
	CHECK_INT(put1(st, MODEL, c1, 1, 0, 0, 0), DC_OK);
	CHECK_INT(put1(st, MODEL, c2, 0, 1, 0, 0), DC_OK);
	CHECK_INT(put1(st, MODEL, c3, 0, 0, 1, 0), DC_OK);
	/* keyword order, the basis of the fusion below */
	CHECK_INT(search_keyword(st, "", "apple", NULL, 0, 5, &h, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 2);
	CHECK_INT(h[0].h.chunk_id, c3);
	CHECK_INT(h[1].h.chunk_id, c1);
	search_hits_free(h, n);
	/* vector: cosine is the score */
	CHECK_INT(search_run_embedded(st, &cfg, "", "apple", q, DIM, SEARCH_VECTOR, NULL, 0, 2,
				      &h, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 2);
	CHECK_INT(h[0].h.chunk_id, c2);
	CHECK_STR(h[0].h.text, "cherry");
	CHECK_STR(h[0].h.document, "fruit.md");
	CHECK(fabs(h[0].score - 0.8) < EPS);
	CHECK_INT(h[1].h.chunk_id, c3);
	CHECK(fabs(h[1].score - 0.6) < EPS);
	search_hits_free(h, n);
	/* hybrid: c3 is 1st by keyword and 2nd by vector, c1 2nd and 3rd, c2 only 1st */
	CHECK_INT(search_run_embedded(st, &cfg, "", "apple", q, DIM, SEARCH_HYBRID, NULL, 0, 3,
				      &h, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 3);
	CHECK_INT(h[0].h.chunk_id, c3);
	CHECK(fabs(h[0].score - (0.5 + 61.0 / 124)) < 1e-9);
	CHECK_INT(h[1].h.chunk_id, c1);
	CHECK(fabs(h[1].score - (61.0 / 124 + 61.0 / 126)) < 1e-9);
	CHECK_INT(h[2].h.chunk_id, c2);
	CHECK(fabs(h[2].score - 0.5) < 1e-9);
	CHECK_STR(h[2].h.text, "cherry");
	search_hits_free(h, n);
	/* top_k 1 keeps the best only */
	CHECK_INT(search_run_embedded(st, &cfg, "", "apple", q, DIM, SEARCH_HYBRID, NULL, 0, 1,
				      &h, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 1);
	CHECK_INT(h[0].h.chunk_id, c3);
	search_hits_free(h, n);
	store_close(st);
}

static void test_fallback_when_embedding_server_is_down(void)
{
	static const char *const t[] = { "apple pie recipe", "cherry tart" };
	static const char refused[] = "ollama: cannot reach http://127.0.0.1:1/api/embed: ";
	struct store *st = fresh();
	struct config cfg;
	struct search_used used;
	struct search_hit *h = NULL;
	char err[DC_ERRMAX] = "";
	size_t n = 0;

	add_doc(st, "", "baking.md", t, 2);
	cfg_init(&cfg, 1);
	/* the default with a model is hybrid; port 1 refuses, so keyword answers */
	CHECK_INT(search_run(st, &cfg, "", "apple", SEARCH_AUTO, NULL, 0, 5, &h, &n, &used, err,
			     sizeof(err)), DC_OK);
	CHECK_INT(used.mode, SEARCH_KEYWORD);
	CHECK(strncmp(used.fallback, refused, strlen(refused)) == 0);
	CHECK_INT(n, 1);
	CHECK_STR(h[0].h.text, "apple pie recipe");
	search_hits_free(h, n);
	/* asking for vector mode explicitly falls back the same way */
	CHECK_INT(search_run(st, &cfg, "", "cherry", SEARCH_VECTOR, NULL, 0, 5, &h, &n, &used, err,
			     sizeof(err)), DC_OK);
	CHECK_INT(used.mode, SEARCH_KEYWORD);
	CHECK_INT(n, 1);
	CHECK_STR(h[0].h.text, "cherry tart");
	search_hits_free(h, n);
	/* without a model: keyword by default, vector and hybrid refused */
	cfg_init(&cfg, 0);
	CHECK_INT(search_run(st, &cfg, "", "apple", SEARCH_AUTO, NULL, 0, 5, &h, &n, &used, err,
			     sizeof(err)), DC_OK);
	CHECK_INT(used.mode, SEARCH_KEYWORD);
	CHECK_STR(used.fallback, "");
	CHECK_INT(n, 1);
	search_hits_free(h, n);
	CHECK_INT(search_run(st, &cfg, "", "apple", SEARCH_HYBRID, NULL, 0, 5, &h, &n, &used, err,
			     sizeof(err)), DC_BADREQ);
	CHECK_STR(err, "DOCCHAT_EMBED_MODEL is not set: only keyword search is available");
	CHECK(h == NULL && n == 0);
	store_close(st);
}

/* ---- concurrency: searches on every thread while the vectors change ---- */

struct worker {
	pthread_t tid;
	struct vectors_index *ix;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct store *st = NULL;
	struct vectors_hit h[16];
	char err[DC_ERRMAX] = "";
	size_t n;
	int i;

	if (store_open(dbpath, &st, err, sizeof(err)) != DC_OK) {
		w->failures++;
		return NULL;
	}
	for (i = 0; i < THREAD_ROUNDS; i++) {
		if (vectors_index_refresh(w->ix, st, err, sizeof(err)) != DC_OK ||
		    vectors_index_search(w->ix, qx, DIM, "", NULL, 0, 16, h, &n, err,
					 sizeof(err)) != DC_OK) {
			w->failures++;
			continue;
		}
		/* the shared library always holds a1, the best match */
		if (n < 3 || h[0].cosine < 0.999f)
			w->failures++;
	}
	store_close(st);
	return NULL;
}

static void test_concurrent_search_and_reload(void)
{
	struct lib l;
	struct vectors_index *ix = vectors_index_new(MODEL);
	struct worker w[THREADS];
	int i, failures = 0;

	CHECK(lib_open(&l));
	for (i = 0; i < THREADS; i++) {
		w[i].ix = ix;
		w[i].failures = 0;
		CHECK_INT(pthread_create(&w[i].tid, NULL, worker_main, &w[i]), 0);
	}
	/* keep moving the token so that workers reload while others search */
	for (i = 0; i < THREAD_ROUNDS; i++)
		put1(l.st, MODEL, l.a0, (float)(i % 2) * 0.6f, 0.8f, (float)((i + 1) % 2) * 0.6f, 0);
	for (i = 0; i < THREADS; i++) {
		pthread_join(w[i].tid, NULL);
		failures += w[i].failures;
	}
	CHECK_INT(failures, 0);
	vectors_index_free(ix);
	lib_close(&l);
}

static void test_shared_index_is_one_per_model(void)
{
	char err[DC_ERRMAX] = "";
	struct vectors_index *a = vectors_index_shared("ollama:a", err, sizeof(err));
	struct vectors_index *b = vectors_index_shared("ollama:b", err, sizeof(err));

	CHECK(a != NULL && b != NULL && a != b);
	CHECK(vectors_index_shared("ollama:a", err, sizeof(err)) == a);
}

/* ---- the quantized scan against a float scan of every vector ---- */

#define BIG_DIM 2050		/* not a multiple of the quantized block, and enough
				 * work (BIG_DOCS * BIG_CHUNKS * BIG_DIM) for a shared scan */
#define BIG_DOCS 300
#define BIG_CHUNKS 8		/* per document */
#define BIG_MODEL "ollama:test-big"
#define BIG_LANES 8		/* the float dot product's partial sums, as in vectors.c */

static uint64_t big_rng = 0x9E3779B97F4A7C15ULL;

static double big_unit(void)
{
	big_rng ^= big_rng >> 12;
	big_rng ^= big_rng << 25;
	big_rng ^= big_rng >> 27;
	return (double)((big_rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static void big_normalize(float *v)
{
	double sum = 0;
	int i;

	for (i = 0; i < BIG_DIM; i++)
		sum += (double)v[i] * v[i];
	for (i = 0; i < BIG_DIM; i++)
		v[i] = (float)(v[i] / sqrt(sum));
}

/* The float dot product with vectors.c's order of additions, hence its exact value. */
static float big_dot(const float *a, const float *b)
{
	float acc[BIG_LANES] = { 0 }, sum = 0;
	int j = 0, l;

	for (; j + BIG_LANES <= BIG_DIM; j += BIG_LANES)
		for (l = 0; l < BIG_LANES; l++)
			acc[l] += a[j + l] * b[j + l];
	for (; j < BIG_DIM; j++)
		sum += a[j] * b[j];
	for (l = 0; l < BIG_LANES; l++)
		sum += acc[l];
	return sum;
}

struct big_row {
	long long id;
	int owner;		/* 0 shared, 1 alice, 2 bob */
	float cosine;
};

static int big_cmp(const void *pa, const void *pb)
{
	const struct big_row *a = pa, *b = pb;

	if (a->cosine != b->cosine)
		return a->cosine > b->cosine ? -1 : 1;
	return (a->id > b->id) - (a->id < b->id);
}

static void test_quantized_scan_is_exact(void)
{
	static const char *const owners[] = { "", "alice", "bob" };
	static const size_t ks[] = { 1, 5, 20, 100 };
	const size_t total = BIG_DOCS * BIG_CHUNKS;
	struct big_row *rows = calloc(total, sizeof(*rows)), *want = calloc(total, sizeof(*rows));
	float *vecs = calloc(total * BIG_DIM, sizeof(*vecs)), q[BIG_DIM];
	struct vectors_hit *got = calloc(100, sizeof(*got));
	long long *ids = calloc(total, sizeof(*ids));
	struct store_pending *p = NULL;
	struct vectors_index *ix = NULL;
	struct store *st = fresh();
	char err[DC_ERRMAX] = "", name[32];
	const char *texts[BIG_CHUNKS];
	size_t i, j, n = 0, np = 0, m, qi, ki, oi;
	int d, c;

	CHECK(rows && want && vecs && got && ids && st);
	if (!rows || !want || !vecs || !got || !ids || !st)
		goto out;
	for (d = 0; d < BIG_DOCS; d++) {
		static char bufs[BIG_CHUNKS][32];

		for (c = 0; c < BIG_CHUNKS; c++) {
			snprintf(bufs[c], sizeof(bufs[c]), "big %d %d", d, c);
			texts[c] = bufs[c];
		}
		snprintf(name, sizeof(name), "big%d.md", d);
		add_doc(st, owners[d % 3], name, texts, BIG_CHUNKS);
	}
	CHECK_INT(store_chunks_unembedded(st, BIG_MODEL, 0, (int)total, &p, &np, err,
					  sizeof(err)), DC_OK);
	CHECK_INT(np, total);
	if (np != total)
		goto out;
	/* Random directions, but a third of them near-copies of an earlier vector (a
	 * change far below what the bytes can tell apart) and some exact copies (ties). */
	for (i = 0; i < total; i++) {
		float *v = vecs + i * BIG_DIM;

		rows[i].id = p[i].id;
		if (i > 10 && i % 3 == 0) {
			memcpy(v, vecs + (i / 2) * BIG_DIM, BIG_DIM * sizeof(*v));
			if (i % 9 != 0)
				v[i % BIG_DIM] += (float)(1e-5 * (big_unit() - 0.5));
		} else {
			for (j = 0; j < BIG_DIM; j++)
				v[j] = (float)(big_unit() * 2 - 1);
		}
		big_normalize(v);
	}
	for (i = 0; i < total; i++) {
		ids[i] = rows[i].id;
		rows[i].owner = (int)((i / BIG_CHUNKS) % 3);	/* as the documents were added */
	}
	CHECK_INT(store_embeddings_put(st, BIG_MODEL, ids, vecs, total, BIG_DIM, err,
				       sizeof(err)), DC_OK);
	ix = vectors_index_new(BIG_MODEL);
	CHECK(ix && refresh(ix, st));
	if (!ix)
		goto out;
	for (qi = 0; qi < 12; qi++) {
		/* questions: random, and right next to a stored vector */
		for (j = 0; j < BIG_DIM; j++)
			q[j] = qi % 2 ? vecs[(qi * 97) % total * BIG_DIM + j] + (float)(1e-4 *
				      (big_unit() - 0.5)) : (float)(big_unit() * 2 - 1);
		big_normalize(q);
		for (oi = 0; oi < 3; oi++) {
			for (m = i = 0; i < total; i++) {
				if (rows[i].owner != 0 && rows[i].owner != (int)oi)
					continue;
				want[m] = rows[i];
				want[m++].cosine = big_dot(vecs + i * BIG_DIM, q);
			}
			qsort(want, m, sizeof(*want), big_cmp);
			for (ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
				CHECK_INT(vectors_index_search(ix, q, BIG_DIM, owners[oi], NULL, 0,
							       ks[ki], got, &n, err, sizeof(err)),
					  DC_OK);
				CHECK_INT(n, ks[ki]);
				for (j = 0; j < n && j < m; j++) {
					CHECK_INT(got[j].chunk_id, want[j].id);
					CHECK(got[j].cosine == want[j].cosine);
				}
			}
		}
	}
out:
	vectors_index_free(ix);
	store_pending_free(p, np);
	if (st)
		store_close(st);
	free(rows);
	free(want);
	free(vecs);
	free(got);
	free(ids);
}

int main(void)
{
	if (!testdb_setup("dc-vectors"))
		return 1;
	RUN(test_top_k_exact_order_and_similarity);
	RUN(test_owner_filter);
	RUN(test_document_filter);
	RUN(test_ties_rank_lower_chunk_id_first);
	RUN(test_dimension_mismatch_is_an_error);
	RUN(test_empty_index_finds_nothing);
	RUN(test_refresh_sees_insert_replace_and_delete);
	RUN(test_refresh_sees_other_connections);
	RUN(test_pending_and_model_switch);
	RUN(test_put_rejects_bad_vectors);
	RUN(test_damaged_rows_are_reported);
	RUN(test_migration_from_version_1);
	RUN(test_fusion_math);
	RUN(test_score_mappings);
	RUN(test_mode_names);
	RUN(test_vector_and_hybrid_ranking);
	RUN(test_fallback_when_embedding_server_is_down);
	RUN(test_concurrent_search_and_reload);
	RUN(test_shared_index_is_one_per_model);
	RUN(test_quantized_scan_is_exact);
	testdb_cleanup();
	return check_summary();
}
