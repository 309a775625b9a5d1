/* test_search.c - search.c: user text becomes a safe FTS5 query (every operator
 * character and keyword searched as a word, never parsed), which SQLite accepts and
 * which finds documents with those words; BM25 maps monotonically into [0,1]. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

	CHECK_INT(search_keyword(st, "", "Which FRUIT: apples or bananas?", NULL, 0, 10, &h, &n,
				 err, sizeof(err)), DC_OK);
	CHECK_INT(n, 2);	/* "or" is in doc_ops too */
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

	CHECK_INT(search_keyword(st, "", "apples or bananas", &doc_ops, 1, 10, &h, &n, err,
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
