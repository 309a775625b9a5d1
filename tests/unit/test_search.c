/* test_search.c - search.c: user text becomes a safe FTS5 query (every operator
 * character and keyword searched as a word, never parsed), which SQLite accepts and
 * which finds documents with those words; stop words and words half the library holds
 * are left out without losing the others; the pruned ranking gives exactly FTS5's
 * bm25() order and values, and never another owner's chunks; BM25 maps monotonically
 * into [0,1]. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "buf.h"
#include "check.h"
#include "search.h"
#include "store.h"

#define QUERY_MAX 65536

static char tmpdir[64];
static char dbpath[128];
static struct store *st;
static long long doc_ops, doc_fruit, doc_intl;

static void query_is(const char *in, const char *want)
{
	struct buf q;

	buf_init(&q, QUERY_MAX);
	CHECK_INT(search_fts_query(in, strlen(in), &q), DC_OK);
	CHECK_STR(buf_str(&q), want);
	buf_free(&q);
}

static void test_query_quotes_each_word(void)
{
	query_is("how does WAL work?", "\"how\" OR \"does\" OR \"WAL\" OR \"work\"");
	query_is("\"foo\" AND bar* NEAR(x y) ^baz col:qux (unbalanced",
		 "\"foo\" OR \"AND\" OR \"bar\" OR \"NEAR\" OR \"x\" OR \"y\" OR \"baz\" OR "
		 "\"col\" OR \"qux\" OR \"unbalanced\"");
	query_is("\" * ^ : ( ) NEAR AND OR NOT + - {}",
		 "\"NEAR\" OR \"AND\" OR \"OR\" OR \"NOT\"");
	query_is("{text heading}: -x +y", "\"text\" OR \"heading\" OR \"x\" OR \"y\"");
	query_is("it's e-mail_v2.0", "\"it\" OR \"s\" OR \"e\" OR \"mail\" OR \"v2\" OR \"0\"");
}

static void test_query_without_words_is_empty(void)
{
	query_is("", "");
	query_is("   \t\n", "");
	query_is("?! \"\" ** ^: () {} + - ...", "");
}

static void test_query_drops_duplicates_ignoring_ascii_case(void)
{
	query_is("Foo foo FOO bar foo", "\"Foo\" OR \"bar\"");
	/* non-ASCII case is left to the index's tokenizer; bytes differ, both kept */
	query_is("École école École", "\"École\" OR \"école\"");
}

static void test_query_caps_words(void)
{
	struct buf in, q;
	const char *last;
	size_t ors = 0;
	const char *p;
	int i;

	buf_init(&in, QUERY_MAX);
	buf_init(&q, QUERY_MAX);
	for (i = 0; i < 100; i++)
		CHECK_INT(buf_printf(&in, "w%d ", i), DC_OK);
	CHECK_INT(search_fts_query(buf_str(&in), in.len, &q), DC_OK);
	for (p = buf_str(&q); (p = strstr(p, " OR ")) != NULL; p += 4)
		ors++;
	CHECK_INT(ors, 63);
	last = strrchr(buf_str(&q), ' ');
	CHECK_STR(last, " \"w63\"");
	buf_free(&in);
	buf_free(&q);
}

static void test_query_keeps_unicode_words_whole(void)
{
	query_is("café, naïve—日本語テキスト? Ελληνικά",
		 "\"café\" OR \"naïve—日本語テキスト\" OR \"Ελληνικά\"");
	/* invalid UTF-8 and control bytes cannot break the expression either */
	query_is("a\x01" "b \xff\xfe", "\"a\" OR \"b\" OR \"\xff\xfe\"");
}

static void test_query_replaces_previous_contents(void)
{
	struct buf q;

	buf_init(&q, QUERY_MAX);
	CHECK_INT(buf_appends(&q, "stale"), DC_OK);
	CHECK_INT(search_fts_query("new", 3, &q), DC_OK);
	CHECK_STR(buf_str(&q), "\"new\"");
	CHECK_INT(search_fts_query("", 0, &q), DC_OK);
	CHECK_STR(buf_str(&q), "");
	buf_free(&q);
}

/* Every hostile input must run (SQLite accepts the query); *n gets the hit count. */
static enum dc_err run(const char *question, size_t *n)
{
	struct search_hit *h = NULL;
	char err[DC_ERRMAX] = "";
	enum dc_err rc;

	*n = 0;
	rc = search_keyword(st, "", question, NULL, 0, 10, &h, n, err, sizeof(err));
	if (rc != DC_OK)
		printf("# %s: %s\n", question, err);
	search_hits_free(h, *n);
	return rc;
}

static void test_operators_are_accepted_and_searched(void)
{
	static const char *const hostile[] = {
		"\"", "\"\"", "\"unbalanced", "*", "near*", "^near", "col:near", "text:near",
		"heading:near", "(near", "near)", "NEAR(near and, 2)", "near + and", "-near",
		"{text heading}: near", "AND", "OR OR OR", "NOT near", "near AND", "a\x01near",
		"\xff\xfe near", "'; DROP TABLE chunks; --", "near\"\"and", "NEAR/2", "near^",
		"\\near", "near; or", "`near`", "[near]", "near...",
	};
	size_t i, n = 0;

	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		CHECK_INT(run(hostile[i], &n), DC_OK);
		/* every one that names a word of doc_ops finds it */
		if (strstr(hostile[i], "near") || strstr(hostile[i], "AND") ||
		    strstr(hostile[i], "OR") || strstr(hostile[i], "NOT"))
			CHECK_INT(n, 1);
	}
	CHECK_INT(run("\" * ^ : ( ) NEAR AND OR NOT + - {}", &n), DC_OK);
	CHECK_INT(n, 1);
	CHECK_INT(run("*^:(){}+-\"", &n), DC_OK);
	CHECK_INT(n, 0);
	/* the "DROP TABLE" input was only words: the index is still there */
	CHECK_INT(run("door", &n), DC_OK);
	CHECK_INT(n, 1);
}

static void test_keyword_search_scores_and_filters(void)
{
	struct search_hit *h = NULL;
	size_t n = 0, i;
	char err[DC_ERRMAX] = "";

	CHECK_INT(search_keyword(st, "", "Which FRUIT: apples, bananas or a door?", NULL, 0, 10,
				 &h, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 2);	/* "door" is in doc_ops */
	if (n == 2) {
		CHECK_INT(h[0].h.document_id, doc_fruit);
		CHECK_INT(h[1].h.document_id, doc_ops);
		CHECK_STR(h[0].h.document, "fruit.txt");
	}
	for (i = 0; i < n; i++) {
		CHECK(h[i].score > 0.0 && h[i].score < 1.0);
		CHECK(fabs(h[i].score - search_score_bm25(h[i].h.bm25)) < 1e-12);
		if (i)
			CHECK(h[i].score <= h[i - 1].score);
	}
	search_hits_free(h, n);

	CHECK_INT(search_keyword(st, "", "apples bananas door", &doc_ops, 1, 10, &h, &n, err,
				 sizeof(err)), DC_OK);
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK_INT(h[0].h.document_id, doc_ops);
	search_hits_free(h, n);

	CHECK_INT(search_keyword(st, "", "apples or bananas", NULL, 0, 1, &h, &n, err,
				 sizeof(err)), DC_OK);
	CHECK_INT(n, 1);
	search_hits_free(h, n);

	CHECK_INT(search_keyword(st, "", "?!", NULL, 0, 10, &h, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 0);
	CHECK(h == NULL);
	CHECK_INT(search_keyword(st, "", "apples", NULL, 0, 0, &h, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 0);
}

static void test_unicode_words_find_documents(void)
{
	size_t n = 0;

	CHECK_INT(run("café", &n), DC_OK);	/* stored as "Cafe": diacritics removed */
	CHECK_INT(n, 1);
	CHECK_INT(run("日本語", &n), DC_OK);
	CHECK_INT(n, 1);
	CHECK_INT(run("ελληνικά", &n), DC_OK);	/* case folded by the tokenizer */
	CHECK_INT(n, 1);
	CHECK_INT(run("—", &n), DC_OK);		/* a "word" the index has no token for */
	CHECK_INT(n, 0);
	CHECK_INT(run("— cafe", &n), DC_OK);
	CHECK_INT(n, 1);
	CHECK(doc_intl > 0);
}

static void test_stop_words_are_left_out(void)
{
	struct search_hit *h = NULL;
	size_t n = 0;
	char err[DC_ERRMAX] = "";

	/* "it" is in doc_ops; as a stop word it no longer brings that in */
	CHECK_INT(search_keyword(st, "", "Which fruit is it?", NULL, 0, 10, &h, &n, err,
				 sizeof(err)), DC_OK);
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK_INT(h[0].h.document_id, doc_fruit);
	search_hits_free(h, n);
	/* a question of stop words alone searches for them */
	CHECK_INT(search_keyword(st, "", "Or not?", NULL, 0, 10, &h, &n, err, sizeof(err)),
		  DC_OK);
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK_INT(h[0].h.document_id, doc_ops);
	search_hits_free(h, n);
	/* ... and finds nothing, cleanly, when no chunk holds them */
	CHECK_INT(search_keyword(st, "", "Would you?", NULL, 0, 10, &h, &n, err, sizeof(err)),
		  DC_OK);
	CHECK_INT(n, 0);
	CHECK(h == NULL);
}

static void test_prune_terms(void)
{
	unsigned char keep[4];
	const long long rare_common[] = { 3, 900, 0 };
	const long long all_common[] = { 600, 1000 };
	const long long half[] = { 500, 499 };

	/* a rare word is kept, one in most rows dropped, one in none dropped */
	CHECK_INT(search_prune_terms(rare_common, 3, 1000, keep), 1);
	CHECK(keep[0] == 1 && keep[1] == 0 && keep[2] == 0);
	/* never all: when every word is that common they all stay */
	CHECK_INT(search_prune_terms(all_common, 2, 1000, keep), 2);
	CHECK(keep[0] == 1 && keep[1] == 1);
	/* exactly half the rows has IDF 0 in FTS5 (floored): common */
	CHECK_INT(search_prune_terms(half, 2, 1000, keep), 1);
	CHECK(keep[0] == 0 && keep[1] == 1);
	/* nothing holds any word: nothing to search */
	CHECK_INT(search_prune_terms(rare_common + 2, 1, 1000, keep), 0);
	CHECK_INT(keep[0], 0);
	CHECK_INT(search_prune_terms(rare_common, 0, 1000, keep), 0);
}

/* ---- the pruned ranking against FTS5's own bm25() ---- */

#define LIB_DOCS 240
#define LIB_WORDS 40		/* words per chunk */
#define LIB_VOCAB 60

static uint64_t lib_rng = 0x2545F4914F6CDD1DULL;

static unsigned lib_next(unsigned n)
{
	lib_rng ^= lib_rng >> 12;
	lib_rng ^= lib_rng << 25;
	lib_rng ^= lib_rng >> 27;
	return (unsigned)((lib_rng * 0x2545F4914F6CDD1DULL) >> 33) % n;
}

/* Word i of the test vocabulary ("w0" .. "w59"); low numbers are drawn more often. */
static void lib_word(unsigned i, char *out, size_t len)
{
	snprintf(out, len, "w%u", i);
}

static unsigned lib_skewed(void)
{
	return lib_next(lib_next(LIB_VOCAB) + 1);
}

/* A library of three owners ("", alice, bob), each chunk LIB_WORDS skewed words, some
 * with a heading; returns alice's first document id via *alice_doc. */
static struct store *lib_open(long long *alice_doc, char *path, size_t pathlen)
{
	static const char *const owners[] = { "", "alice", "bob" };
	struct store *ls = NULL;
	char err[DC_ERRMAX] = "", text[LIB_WORDS * 8], heading[32], hash[32], name[32];
	int d, w;

	snprintf(path, pathlen, "%s/lib.db", tmpdir);
	if (store_open(path, &ls, err, sizeof(err)) != DC_OK) {
		printf("# lib: %s\n", err);
		return NULL;
	}
	*alice_doc = 0;
	for (d = 0; d < LIB_DOCS; d++) {
		struct store_chunk_in c;
		size_t len = 0;
		long long id = 0;
		int existed = 0;

		for (w = 0; w < LIB_WORDS; w++) {
			char word[16];

			lib_word(lib_skewed(), word, sizeof(word));
			len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s", w ? " " : "",
						word);
		}
		lib_word(lib_skewed(), heading, sizeof(heading));
		snprintf(hash, sizeof(hash), "lib%d", d);
		snprintf(name, sizeof(name), "lib%d.txt", d);
		c.text = text;
		c.heading = d % 3 == 0 ? heading : NULL;
		c.start = 0;
		c.end = (long long)len;
		c.page = 0;
		if (store_document_add(ls, owners[d % 3], name, NULL, hash, (long long)len, &c, 1,
				       &id, &existed, err, sizeof(err)) != DC_OK)
			printf("# lib add: %s\n", err);
		if (d % 3 == 1 && !*alice_doc)
			*alice_doc = id;
	}
	return ls;
}

/* store_search_fts must give what ORDER BY bm25() gives, value for value. */
static void same_as_bm25(struct store *ls, sqlite3 *db, const char *owner, const char *match,
			 const long long *docs, size_t ndocs, int limit)
{
	struct store_hit *h = NULL;
	sqlite3_stmt *s = NULL;
	char err[DC_ERRMAX] = "";
	size_t n = 0, k = 0;

	CHECK_INT(store_search_fts(ls, owner, match, docs, ndocs, limit, &h, &n, err,
				   sizeof(err)), DC_OK);
	CHECK_INT(sqlite3_prepare_v2(db, "SELECT c.id, bm25(chunks_fts, 1.0, 0.5) AS r"
		  " FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid"
		  " JOIN documents d ON d.id = c.document_id WHERE chunks_fts MATCH ?1"
		  " AND (d.owner = ?2 OR d.owner = '') AND (?3 = 0 OR c.document_id = ?3)"
		  " ORDER BY r, c.id LIMIT ?4", -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_text(s, 1, match, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, ndocs ? docs[0] : 0);
	sqlite3_bind_int(s, 4, limit);
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (k < n) {
			CHECK_INT(h[k].chunk_id, sqlite3_column_int64(s, 0));
			CHECK(h[k].bm25 == sqlite3_column_double(s, 1));
		}
		k++;
	}
	CHECK_INT(n, k);
	sqlite3_finalize(s);
	store_hits_free(h, n);
}

static void test_ranking_is_bm25_exactly(void)
{
	static const char *const owners[] = { "", "alice", "bob", "carol" };
	static const int limits[] = { 1, 5, 20, 1000 };
	struct store *ls;
	sqlite3 *db = NULL;
	char path[160], match[256], word[16];
	long long alice_doc = 0;
	int q, o, l, w;

	ls = lib_open(&alice_doc, path, sizeof(path));
	CHECK(ls != NULL);
	if (!ls)
		return;
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	for (q = 0; q < 40; q++) {
		size_t len = 0;
		int words = 1 + (int)lib_next(5);

		for (w = 0; w < words; w++) {
			lib_word(lib_next(LIB_VOCAB + 5), word, sizeof(word));	/* some unknown */
			len += (size_t)snprintf(match + len, sizeof(match) - len, "%s\"%s\"",
						w ? " OR " : "", word);
		}
		for (o = 0; o < 4; o++)
			for (l = 0; l < 4; l++)
				same_as_bm25(ls, db, owners[o], match, NULL, 0, limits[l]);
		same_as_bm25(ls, db, "alice", match, &alice_doc, 1, 5);
		same_as_bm25(ls, db, "bob", match, &alice_doc, 1, 5);	/* not bob's: none */
	}
	sqlite3_close(db);
	store_close(ls);
	unlink(path);
	snprintf(match, sizeof(match), "%s-wal", path);
	unlink(match);
	snprintf(match, sizeof(match), "%s-shm", path);
	unlink(match);
}

static void test_common_words_are_pruned(void)
{
	struct search_hit *h = NULL;
	struct store *ls;
	char path[160], err[DC_ERRMAX] = "";
	long long alice_doc = 0;
	size_t n = 0, m = 0, i;

	ls = lib_open(&alice_doc, path, sizeof(path));
	CHECK(ls != NULL);
	if (!ls)
		return;
	/* w0 is in most chunks, w30 in some: only w30's chunks come back */
	CHECK_INT(search_keyword(ls, "", "w0 w30", NULL, 0, 1000, &h, &n, err, sizeof(err)),
		  DC_OK);
	CHECK(n > 0);
	for (i = 0; i < n; i++)
		CHECK(strstr(h[i].h.text, "w30") != NULL || (h[i].h.heading &&
		      strcmp(h[i].h.heading, "w30") == 0));
	search_hits_free(h, n);
	/* alone, the common word is searched for, and finds more */
	CHECK_INT(search_keyword(ls, "", "w0", NULL, 0, 1000, &h, &m, err, sizeof(err)), DC_OK);
	CHECK(m > n);
	search_hits_free(h, m);
	/* a word no chunk holds does not stop the others */
	CHECK_INT(search_keyword(ls, "", "zzzz w30", NULL, 0, 1000, &h, &m, err, sizeof(err)),
		  DC_OK);
	CHECK_INT(m, n);
	search_hits_free(h, m);
	store_close(ls);
	unlink(path);
}

static void test_score_mapping(void)
{
	double prev = -1.0, b, s;

	CHECK(search_score_bm25(0.0) == 0.0);
	CHECK(search_score_bm25(2.5) == 0.0);
	CHECK(search_score_bm25(-1.0) == 0.5);
	CHECK(search_score_bm25(-3.0) == 0.75);
	CHECK(search_score_bm25(NAN) == 0.0);
	CHECK(search_score_bm25(-INFINITY) == 1.0);
	/* lower bm25 is better: score rises as bm25 falls, and stays in [0,1] */
	for (b = 5.0; b >= -1000.0; b -= 0.25) {
		s = search_score_bm25(b);
		CHECK(s >= 0.0 && s <= 1.0);
		CHECK(s >= prev);
		prev = s;
	}
	CHECK(prev > 0.99);
}

static long long add(const char *name, const char *hash, const char *text)
{
	struct store_chunk_in c = { text, NULL, 0, (long long)strlen(text), 0 };
	long long id = 0;
	int existed = 0;
	char err[DC_ERRMAX] = "";

	if (store_document_add(st, "", name, NULL, hash, (long long)strlen(text), &c, 1, &id,
			       &existed, err, sizeof(err)) != DC_OK)
		printf("# add %s: %s\n", name, err);
	return id;
}

int main(void)
{
	char err[DC_ERRMAX] = "", p[160];

	if (snprintf(tmpdir, sizeof(tmpdir), "/tmp/docchat-test-search-XXXXXX") < 0 ||
	    !mkdtemp(tmpdir) || snprintf(dbpath, sizeof(dbpath), "%s/docchat.db", tmpdir) < 0 ||
	    store_open(dbpath, &st, err, sizeof(err)) != DC_OK) {
		printf("setup: %s\n", err);
		return 1;
	}
	doc_ops = add("ops.txt", "h1", "We stood near the door, and or not, it was col text.");
	doc_fruit = add("fruit.txt", "h2", "Apples, bananas are fruit; apples are red.");
	doc_intl = add("intl.txt", "h3", "Cafe 日本語 ΕΛΛΗΝΙΚΆ");

	RUN(test_query_quotes_each_word);
	RUN(test_query_without_words_is_empty);
	RUN(test_query_drops_duplicates_ignoring_ascii_case);
	RUN(test_query_caps_words);
	RUN(test_query_keeps_unicode_words_whole);
	RUN(test_query_replaces_previous_contents);
	RUN(test_operators_are_accepted_and_searched);
	RUN(test_keyword_search_scores_and_filters);
	RUN(test_unicode_words_find_documents);
	RUN(test_stop_words_are_left_out);
	RUN(test_prune_terms);
	RUN(test_ranking_is_bm25_exactly);
	RUN(test_common_words_are_pruned);
	RUN(test_score_mapping);

	store_close(st);
	if (snprintf(p, sizeof(p), "%s-wal", dbpath) > 0)
		unlink(p);
	if (snprintf(p, sizeof(p), "%s-shm", dbpath) > 0)
		unlink(p);
	unlink(dbpath);
	rmdir(tmpdir);
	return check_summary();
}
