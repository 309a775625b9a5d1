/* testdb.h - a scratch SQLite database for the unit tests that need a real file
 * (test_store.c, test_vectors.c): a temporary directory made by testdb_setup, a path in
 * it, fresh() for a new empty database opened through store.c, and raw() for SQL on a
 * second connection, which plays an old, damaged or hand-edited database. */
#ifndef DC_TESTDB_H
#define DC_TESTDB_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"

static char tmpdir[64];
static char dbpath[128];

static void db_remove(void)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char p[160];
	size_t i;

	for (i = 0; i < 3; i++) {
		if (snprintf(p, sizeof(p), "%s%s", dbpath, suffix[i]) > 0)
			unlink(p);
	}
}

static struct store *fresh(void)
{
	struct store *st = NULL;
	char err[DC_ERRMAX] = "";

	db_remove();
	if (store_open(dbpath, &st, err, sizeof(err)) != DC_OK)
		printf("# store_open: %s\n", err);
	return st;
}

/* Run SQL on a second connection; returns the first column of the last row as an
 * integer (or -1 on error). */
static long long raw(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	const char *tail = sql;
	long long v = 0;
	int r;

	if (sqlite3_open(dbpath, &db) != SQLITE_OK)
		v = -1;
	while (v != -1 && tail && *tail) {
		if (sqlite3_prepare_v2(db, tail, -1, &s, &tail) != SQLITE_OK) {
			printf("# raw: %s\n", sqlite3_errmsg(db));
			v = -1;
			break;
		}
		if (!s)
			break;
		while ((r = sqlite3_step(s)) == SQLITE_ROW)
			v = sqlite3_column_int64(s, 0);
		if (r != SQLITE_DONE) {
			printf("# raw: %s\n", sqlite3_errmsg(db));
			v = -1;
		}
		sqlite3_finalize(s);
		s = NULL;
	}
	sqlite3_close(db);
	return v;
}

/* Make the temporary directory (/tmp/PREFIX-XXXXXX) and the database path in it; 0 on
 * failure, said on stdout as a FAIL line. */
static int testdb_setup(const char *prefix)
{
	if (snprintf(tmpdir, sizeof(tmpdir), "/tmp/%s-XXXXXX", prefix) >= (int)sizeof(tmpdir) ||
	    !mkdtemp(tmpdir) ||
	    snprintf(dbpath, sizeof(dbpath), "%s/docchat.db", tmpdir) >= (int)sizeof(dbpath)) {
		printf("FAIL setup: cannot create a temporary directory\n");
		return 0;
	}
	return 1;
}

/* Remove the database and the directory. */
static void testdb_cleanup(void)
{
	db_remove();
	rmdir(tmpdir);
}

#endif
