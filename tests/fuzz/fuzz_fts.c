/* fuzz_fts.c - the FTS5 query builder (search_fts_query) on any question.
 *
 * Whatever a user types must become a query SQLite accepts: the built expression is
 * run with MATCH against an in-memory FTS5 table made with the tokenizer of store.c's
 * chunks_fts, holding a few rows, and must never fail (a syntax error there would be a
 * 500 for an ordinary question). Also checked: the expression is "" exactly when the
 * question has no word bytes (ASCII letters, digits, bytes >= 0x80), holds no NUL, is
 * built only of quoted strings joined by " OR ", and keeps at most 64 words. */
#include <sqlite3.h>

#include "fuzz.h"

#include "buf.h"
#include "search.h"

#define FUZZ_QUERY_MAX (1024 * 1024)
#define FUZZ_MAX_WORDS 64	/* SEARCH_MAX_WORDS in search.c */

static sqlite3 *db;
static sqlite3_stmt *stmt;

static void open_index(void)
{
	static const char *const setup =
		"CREATE VIRTUAL TABLE t USING fts5(text, heading,"
		" tokenize = 'porter unicode61 remove_diacritics 2');"
		"INSERT INTO t VALUES ('How does the write-ahead log work?', 'WAL');"
		"INSERT INTO t VALUES ('Ölçüm ve écoles: naïve café', 'Unicode');"
		"INSERT INTO t VALUES ('日本語のテキストと中文', NULL);"
		"INSERT INTO t VALUES ('NEAR AND OR NOT * ^ : ( ) \"quoted\"', 'syntax');";

	if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
	    sqlite3_exec(db, setup, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT rowid, bm25(t, 1.0, 0.5) AS rank FROM t"
			       " WHERE t MATCH ?1 ORDER BY rank LIMIT 5", -1, &stmt, NULL) != SQLITE_OK) {
		fprintf(stderr, "fuzz_fts: cannot set up the index: %s\n", sqlite3_errmsg(db));
		abort();
	}
}

static int word_byte(unsigned char c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

/* The expression is `"w" OR "w" ...`, each w free of unpaired quotes. Returns the
 * number of strings. */
static size_t check_shape(const char *q, size_t len)
{
	size_t i = 0, strings = 0;

	while (i < len) {
		if (strings) {
			FUZZ_CHECK(len - i >= 4 && memcmp(q + i, " OR ", 4) == 0);
			i += 4;
		}
		FUZZ_CHECK(i < len && q[i] == '"');
		i++;
		for (;;) {
			FUZZ_CHECK(i < len);
			if (q[i] == '"' && i + 1 < len && q[i + 1] == '"') {
				i += 2;
			} else if (q[i] == '"') {
				i++;
				break;
			} else {
				FUZZ_CHECK(word_byte((unsigned char)q[i]));
				i++;
			}
		}
		strings++;
	}
	return strings;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf q;
	size_t i, strings;
	int has_word = 0, rc;

	if (!db)
		open_index();
	for (i = 0; i < size && !has_word; i++)
		has_word = word_byte(data[i]);
	buf_init(&q, FUZZ_QUERY_MAX);
	FUZZ_CHECK(search_fts_query((const char *)data, size, &q) == DC_OK);
	FUZZ_CHECK(fuzz_is_cstring(buf_str(&q), q.len));
	FUZZ_CHECK((q.len == 0) == !has_word);
	strings = check_shape(buf_str(&q), q.len);
	FUZZ_CHECK(strings <= FUZZ_MAX_WORDS);
	if (q.len) {
		/* As store.c binds it: a C string. */
		FUZZ_CHECK(sqlite3_bind_text(stmt, 1, buf_str(&q), -1, SQLITE_STATIC) == SQLITE_OK);
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
			;
		if (rc != SQLITE_DONE)
			fprintf(stderr, "fuzz_fts: MATCH %s: %s\n", buf_str(&q), sqlite3_errmsg(db));
		FUZZ_CHECK(rc == SQLITE_DONE);
		sqlite3_reset(stmt);
		sqlite3_clear_bindings(stmt);
	}
	buf_free(&q);
	return 0;
}
