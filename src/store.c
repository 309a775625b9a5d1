/* store.c - every SQL statement docchat runs (see store.h).
 *
 * Owns the schema, its forward migrations (PRAGMA user_version counts them), the
 * connection settings (WAL, busy timeout, foreign keys) and the validation of every row
 * read back: a value this version does not understand is DC_DB with a cause naming the
 * row, never a crash further up. The FTS5 index over chunks is external-content and kept
 * in step by triggers, so deleting a document (which cascades to its chunks) also drops
 * its index entries; embedding vectors cascade the same way, and triggers count every
 * change to them so that in-memory copies (vectors.c) know when to reload. Keyword
 * ranking is an FTS5 auxiliary function registered on each connection, which keeps
 * only the best rows while FTS5 walks the matches (see "keyword ranking" below). Every
 * statement is prepared with bound parameters; the only SQL built at run time is the
 * user_version pragma, whose number is ours. The one piece of state shared by a
 * process's connections is the list of answer ends the database refused (locked, full,
 * read-only), kept in memory until a connection can write them. Leaves HTTP, JSON and
 * the meaning of the sources/metadata text to the callers, and the FTS5 query syntax to
 * search.c. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "buf.h"
#include "store.h"

#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_DEFERRED_MAX (64u * 1024 * 1024)	/* memory for message ends kept back */
#define STORE_DEFERRED_RETRY_MS 1000	/* pause after a failed write of them */
#define STORE_DEFAULT_TITLE "New chat"
#define STORE_UUID_BYTES 16

struct store {
	sqlite3 *db;
	char *worker;		/* identity written on new messages, or NULL */
};

/* ---- schema ---- */

/* Version 1: the initial schema. Indexes follow the access paths: a session's messages
 * in order, an owner's sessions newest first, a document's chunks in order (the unique
 * index also serves the cascade from documents), documents by owner and hash. */
static const char schema_v1[] =
	"CREATE TABLE sessions ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" owner TEXT NOT NULL DEFAULT '',"
	" title TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL);"
	"CREATE INDEX sessions_owner_updated ON sessions(owner, updated_at);"
	"CREATE TABLE messages ("
	" id INTEGER PRIMARY KEY,"
	" session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
	" role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),"
	" content TEXT NOT NULL DEFAULT '',"
	" status TEXT NOT NULL"
	"  CHECK (status IN ('complete', 'streaming', 'interrupted', 'error')),"
	" model TEXT,"
	" error TEXT,"
	" sources TEXT,"
	" metadata TEXT,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX messages_session ON messages(session_id, id);"
	"CREATE INDEX messages_streaming ON messages(status) WHERE status = 'streaming';"
	"CREATE TABLE documents ("
	" id INTEGER PRIMARY KEY,"
	" owner TEXT NOT NULL DEFAULT '',"
	" name TEXT NOT NULL,"
	" path TEXT,"
	" hash TEXT NOT NULL,"
	" size INTEGER NOT NULL CHECK (size >= 0),"
	" created_at INTEGER NOT NULL,"
	" UNIQUE (owner, hash));"
	"CREATE TABLE chunks ("
	" id INTEGER PRIMARY KEY,"
	" document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
	" ordinal INTEGER NOT NULL,"
	" heading TEXT,"
	" start_off INTEGER NOT NULL,"
	" end_off INTEGER NOT NULL,"
	" page INTEGER NOT NULL DEFAULT 0,"
	" text TEXT NOT NULL);"
	"CREATE UNIQUE INDEX chunks_document ON chunks(document_id, ordinal);"
	"CREATE VIRTUAL TABLE chunks_fts USING fts5(text, heading,"
	" content = 'chunks', content_rowid = 'id',"
	" tokenize = 'porter unicode61 remove_diacritics 2');"
	"CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN"
	" INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading);"
	" END;"
	"CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN"
	" INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)"
	"  VALUES ('delete', old.id, old.text, old.heading);"
	" END;"
	"CREATE TRIGGER chunks_fts_update AFTER UPDATE ON chunks BEGIN"
	" INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)"
	"  VALUES ('delete', old.id, old.text, old.heading);"
	" INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading);"
	" END;";

/* Version 2: embeddings for vector search. One vector per chunk (the chunk id is the
 * key, so switching DOCCHAT_EMBED_MODEL replaces vectors as chunks are embedded again),
 * stored as a BLOB of dim float32 values in the machine's own byte order, which is
 * little-endian on every platform docchat is built for (x86-64, arm64); a database
 * moved to a big-endian machine must be embedded again. The vectors cascade away with
 * their chunk. meta's 'embeddings_generation' counts every change to the table (bumped
 * by the triggers below, in the same transaction as the change), so any process can
 * tell with one indexed read whether the vectors it holds in memory are still those in
 * the database: unlike PRAGMA data_version it also sees its own connection's writes,
 * and unlike a max(rowid) check it sees deletions and replacements. */
static const char schema_v2[] =
	"CREATE TABLE embeddings ("
	" chunk_id INTEGER PRIMARY KEY NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,"
	" model TEXT NOT NULL,"
	" dim INTEGER NOT NULL CHECK (dim BETWEEN 1 AND 8192),"
	" vector BLOB NOT NULL CHECK (length(vector) = 4 * dim));"
	"CREATE TABLE meta ("
	" key TEXT PRIMARY KEY NOT NULL,"
	" value INTEGER NOT NULL);"
	"INSERT INTO meta (key, value) VALUES ('embeddings_generation', 0);"
	"CREATE TRIGGER embeddings_gen_insert AFTER INSERT ON embeddings BEGIN"
	" UPDATE meta SET value = value + 1 WHERE key = 'embeddings_generation';"
	" END;"
	"CREATE TRIGGER embeddings_gen_update AFTER UPDATE ON embeddings BEGIN"
	" UPDATE meta SET value = value + 1 WHERE key = 'embeddings_generation';"
	" END;"
	"CREATE TRIGGER embeddings_gen_delete AFTER DELETE ON embeddings BEGIN"
	" UPDATE meta SET value = value + 1 WHERE key = 'embeddings_generation';"
	" END;";

/* Version 3: which process writes a 'streaming' answer (worker.h), so that start-up
 * recovery interrupts only answers whose writer is gone. NULL for rows from before and
 * for finished rows. */
static const char schema_v3[] =
	"ALTER TABLE messages ADD COLUMN worker TEXT;";

/* Version 4: API tokens (auth.c). A token is shown once when it is made and kept only
 * as the SHA-256 of its text, so the database (or a copy of it) gives no usable token
 * away; prefix, its first characters, is what lists show and what a presented token is
 * looked up by before its hash is compared. Revoked tokens stay, with revoked_at, so
 * the list shows what was revoked when. user is never "" (the shared owner). */
static const char schema_v4[] =
	"CREATE TABLE tokens ("
	" id INTEGER PRIMARY KEY,"
	" user TEXT NOT NULL CHECK (user <> ''),"
	" prefix TEXT NOT NULL,"
	" hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
	" created_at INTEGER NOT NULL,"
	" last_used_at INTEGER,"
	" revoked_at INTEGER);"
	"CREATE INDEX tokens_prefix ON tokens(prefix);";

/* Version 5: per-user limits shared by every process on the database (limit.c).
 * limit_streams holds one row per answer being streamed, tagged with the writing
 * process's identity (worker.h) so that rows left by a process that died can be told
 * from live ones; limit_rate holds each user's current request window. Times are unix
 * milliseconds. Both tables only ever hold short-lived rows and are pruned as they are
 * used. */
static const char schema_v5[] =
	"CREATE TABLE limit_streams ("
	" id INTEGER PRIMARY KEY,"
	" owner TEXT NOT NULL,"
	" worker TEXT,"
	" started_at INTEGER NOT NULL);"
	"CREATE INDEX limit_streams_owner ON limit_streams(owner);"
	"CREATE INDEX limit_streams_started ON limit_streams(started_at);"
	"CREATE TABLE limit_rate ("
	" owner TEXT PRIMARY KEY NOT NULL,"
	" window_start INTEGER NOT NULL,"
	" count INTEGER NOT NULL CHECK (count >= 1)) WITHOUT ROWID;"
	"CREATE INDEX limit_rate_start ON limit_rate(window_start);";

struct migration {
	int version;		/* user_version after this step */
	const char *sql;
};

/* Forward migrations, in order. A new schema change appends a step; old steps never
 * change, because databases in the field have already run them. */
static const struct migration migrations[] = {
	{ 1, schema_v1 },
	{ 2, schema_v2 },
	{ 3, schema_v3 },
	{ 4, schema_v4 },
	{ 5, schema_v5 },
};

#define STORE_SCHEMA_VERSION \
	(migrations[sizeof(migrations) / sizeof(migrations[0]) - 1].version)

static const char *const message_roles[] = { "user", "assistant", NULL };
static const char *const message_statuses[] = {
	"complete", "streaming", "interrupted", "error", NULL
};

/* ---- small helpers ---- */

static enum dc_err db_fail(sqlite3 *db, char *err, size_t errlen, const char *what)
{
	return dc_fail(err, errlen, DC_DB, "%s: %s", what, sqlite3_errmsg(db));
}

static long long now_s(void)
{
	return (long long)time(NULL);
}

static int in_set(const char *s, const char *const *set)
{
	size_t i;

	if (!s)
		return 0;
	for (i = 0; set[i]; i++)
		if (strcmp(s, set[i]) == 0)
			return 1;
	return 0;
}

/* Make room for need elements of size elem in *arr (capacity *cap). */
static enum dc_err grow_array(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return DC_OK;
	ncap = *cap ? *cap : 8;
	while (ncap < need) {
		if (ncap > ((size_t)-1) / 2 / elem)
			return DC_NOMEM;
		ncap *= 2;
	}
	p = realloc(*arr, ncap * elem);
	if (!p)
		return DC_NOMEM;
	memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
	*arr = p;
	*cap = ncap;
	return DC_OK;
}

/* Reads the current row of s into row (an element of a collect_rows array). */
typedef enum dc_err (*row_reader)(sqlite3_stmt *s, void *row, const char *what, char *err,
				  size_t errlen);

/* Step s to its end, appending each row to the array *arr (*len elements of elem bytes,
 * grown as needed) with read. On failure the rows read so far stay in *arr and *len, for
 * the caller to free as usual. */
static enum dc_err collect_rows(struct store *st, sqlite3_stmt *s, void **arr, size_t *len,
				size_t elem, row_reader read, const char *what, char *err,
				size_t errlen)
{
	size_t cap = *len;
	enum dc_err rc;
	int r;

	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		if (grow_array(arr, &cap, *len + 1, elem) != DC_OK)
			return dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", what);
		rc = read(s, (char *)*arr + *len * elem, what, err, errlen);
		if (rc != DC_OK)
			return rc;
		(*len)++;
	}
	if (r != SQLITE_DONE)
		return db_fail(st->db, err, errlen, what);
	return DC_OK;
}

static enum dc_err prepare(struct store *st, const char *sql, sqlite3_stmt **out,
			   const char *what, char *err, size_t errlen)
{
	*out = NULL;
	if (sqlite3_prepare_v2(st->db, sql, -1, out, NULL) != SQLITE_OK) {
		*out = NULL;
		return db_fail(st->db, err, errlen, what);
	}
	return DC_OK;
}

/* Bind a C string, or NULL as SQL NULL. */
static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (!v)
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

/* Run every statement of a fixed script (no parameters, rows ignored). */
static enum dc_err exec_script(sqlite3 *db, const char *sql, const char *what,
			       char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	const char *tail = sql;
	enum dc_err rc = DC_OK;
	int r;

	while (tail && *tail) {
		if (sqlite3_prepare_v2(db, tail, -1, &s, &tail) != SQLITE_OK) {
			s = NULL;
			rc = db_fail(db, err, errlen, what);
			goto out;
		}
		if (!s)		/* only whitespace or a comment was left */
			break;
		while ((r = sqlite3_step(s)) == SQLITE_ROW)
			;
		if (r != SQLITE_DONE) {
			rc = db_fail(db, err, errlen, what);
			goto out;
		}
		sqlite3_finalize(s);
		s = NULL;
	}
out:
	sqlite3_finalize(s);
	return rc;
}

static enum dc_err tx_begin(struct store *st, const char *what, char *err, size_t errlen)
{
	/* IMMEDIATE takes the write lock now, so a read-then-write inside the transaction
	 * cannot fail half-way with SQLITE_BUSY after another writer got in between. */
	return exec_script(st->db, "BEGIN IMMEDIATE", what, err, errlen);
}

static enum dc_err tx_commit(struct store *st, const char *what, char *err, size_t errlen)
{
	return exec_script(st->db, "COMMIT", what, err, errlen);
}

/* Undo an open transaction; the original error is already in err, so this one's own
 * failure (e.g. SQLite already rolled back) is not reported. */
static void tx_rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		exec_script(st->db, "ROLLBACK", "rollback", NULL, 0);
}

/* ---- validated column reads ---- */

static enum dc_err col_text(sqlite3_stmt *s, int i, int nullable, char **out,
			    const char *what, char *err, size_t errlen)
{
	const unsigned char *p;
	int type = sqlite3_column_type(s, i);
	int n;
	char *copy;

	*out = NULL;
	if (type == SQLITE_NULL) {
		if (nullable)
			return DC_OK;
		return dc_fail(err, errlen, DC_DB, "%s: column %s is NULL", what,
			       sqlite3_column_name(s, i));
	}
	if (type != SQLITE_TEXT)
		return dc_fail(err, errlen, DC_DB, "%s: column %s is not text", what,
			       sqlite3_column_name(s, i));
	p = sqlite3_column_text(s, i);
	n = sqlite3_column_bytes(s, i);
	if (!p || n < 0)
		return dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", what);
	copy = malloc((size_t)n + 1);
	if (!copy)
		return dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", what);
	memcpy(copy, p, (size_t)n);
	copy[n] = '\0';
	*out = copy;
	return DC_OK;
}

static enum dc_err col_int(sqlite3_stmt *s, int i, long long *out, const char *what,
			   char *err, size_t errlen)
{
	if (sqlite3_column_type(s, i) != SQLITE_INTEGER)
		return dc_fail(err, errlen, DC_DB, "%s: column %s is not an integer", what,
			       sqlite3_column_name(s, i));
	*out = sqlite3_column_int64(s, i);
	return DC_OK;
}

/* An int column (ordinal, page) that must fit an int and not be negative. */
static enum dc_err col_small(sqlite3_stmt *s, int i, int *out, const char *what,
			     char *err, size_t errlen)
{
	long long v = 0;
	enum dc_err rc = col_int(s, i, &v, what, err, errlen);

	if (rc != DC_OK)
		return rc;
	if (v < 0 || v > 0x7fffffffLL)
		return dc_fail(err, errlen, DC_DB, "%s: column %s out of range (%lld)", what,
			       sqlite3_column_name(s, i), v);
	*out = (int)v;
	return DC_OK;
}

/* A text column whose value must be one of set, copied into a fixed field. */
static enum dc_err col_enum(sqlite3_stmt *s, int i, const char *const *set, char *dst,
			    size_t dstlen, const char *what, char *err, size_t errlen)
{
	char *v = NULL;
	enum dc_err rc = col_text(s, i, 0, &v, what, err, errlen);
	size_t n;

	if (rc != DC_OK)
		goto out;
	n = strlen(v);
	if (!in_set(v, set) || n >= dstlen) {
		rc = dc_fail(err, errlen, DC_DB, "%s: unknown %s '%.40s'", what,
			     sqlite3_column_name(s, i), v);
		goto out;
	}
	memcpy(dst, v, n + 1);
out:
	free(v);
	return rc;
}

/* ---- open, migrate, health ---- */

/* SQLite's own message for a missing directory is "unable to open database file";
 * say which directory instead. */
static enum dc_err check_dir(const char *path, char *err, size_t errlen)
{
	struct buf dir;
	const char *slash = strrchr(path, '/');
	struct stat sb;
	enum dc_err rc = DC_OK;

	buf_init(&dir, strlen(path) + 2);
	if (!slash)
		rc = buf_appends(&dir, ".");
	else if (slash == path)
		rc = buf_appends(&dir, "/");
	else
		rc = buf_append(&dir, path, (size_t)(slash - path));
	if (rc != DC_OK) {
		rc = dc_fail(err, errlen, rc, "open database %s: out of memory", path);
		goto out;
	}
	if (stat(buf_str(&dir), &sb) != 0) {
		rc = dc_fail(err, errlen, DC_SYSTEM, "open database %s: directory %s: %s", path,
			     buf_str(&dir), strerror(errno));
		goto out;
	}
	if (!S_ISDIR(sb.st_mode)) {
		rc = dc_fail(err, errlen, DC_SYSTEM, "open database %s: %s is not a directory",
			     path, buf_str(&dir));
		goto out;
	}
out:
	buf_free(&dir);
	return rc;
}

static enum dc_err read_version(sqlite3 *db, int *version, const char *what,
				char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc = DC_OK;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW) {
		rc = db_fail(db, err, errlen, what);
		goto out;
	}
	*version = sqlite3_column_int(s, 0);
out:
	sqlite3_finalize(s);
	return rc;
}

/* Run one pragma that answers with a text row and check the answer (journal_mode
 * reports the mode it ended up in, which is not always the one asked for). */
static enum dc_err pragma_expect(sqlite3 *db, const char *path, const char *sql,
				 const char *want, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *got;
	enum dc_err rc = DC_OK;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW) {
		rc = dc_fail(err, errlen, DC_DB, "open database %s: %s: %s", path, sql,
			     sqlite3_errmsg(db));
		goto out;
	}
	got = sqlite3_column_text(s, 0);
	if (!got || strcmp((const char *)got, want) != 0)
		rc = dc_fail(err, errlen, DC_DB, "open database %s: %s gave '%s', not '%s'",
			     path, sql, got ? (const char *)got : "", want);
out:
	sqlite3_finalize(s);
	return rc;
}

/* Another connection holds the write lock: wait and try again, up to
 * STORE_BUSY_TIMEOUT_MS in all. A write here takes well under a millisecond, so the
 * first waits are short (SQLite's own busy timeout starts at 1 ms and soon sleeps 25
 * ms and more, which under many concurrent requests costs far more than the writes). */
static int busy_wait(void *ud, int count)
{
	static const long steps_us[] = { 50, 100, 200, 400, 800, 1000, 2000 };
	const int nsteps = (int)(sizeof steps_us / sizeof steps_us[0]);
	long long waited_us = 0;
	long step;
	struct timespec ts;

	(void)ud;
	/* What the earlier calls of this wait slept, from count alone. */
	for (int i = 0; i < count; i++)
		waited_us += steps_us[i < nsteps ? i : nsteps - 1];
	if (waited_us >= (long long)STORE_BUSY_TIMEOUT_MS * 1000)
		return 0;
	step = steps_us[count < nsteps ? count : nsteps - 1];
	ts.tv_sec = 0;
	ts.tv_nsec = step * 1000;
	nanosleep(&ts, NULL);
	return 1;
}

static enum dc_err configure(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	static const char settings[] =
		"PRAGMA foreign_keys = ON;"
		"PRAGMA synchronous = NORMAL;";
	char what[DC_ERRMAX];
	enum dc_err rc;

	if (sqlite3_busy_handler(db, busy_wait, NULL) != SQLITE_OK)
		return dc_fail(err, errlen, DC_DB, "open database %s: busy handler: %s", path,
			       sqlite3_errmsg(db));
	if (strcmp(path, ":memory:") != 0) {
		rc = pragma_expect(db, path, "PRAGMA journal_mode = WAL", "wal", err, errlen);
		if (rc != DC_OK)
			return rc;
	}
	if (snprintf(what, sizeof(what), "open database %s", path) < 0)
		what[0] = '\0';
	return exec_script(db, settings, what, err, errlen);
}

/* Bring the schema up to STORE_SCHEMA_VERSION. The version is read again inside the
 * write transaction, so two processes opening a new database at once migrate it once. */
static enum dc_err migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	char what[DC_ERRMAX], pragma[64];
	size_t i;
	int version = 0, n;
	enum dc_err rc;

	n = snprintf(what, sizeof(what), "migrate database %s", path);
	if (n < 0)
		what[0] = '\0';
	rc = read_version(db, &version, what, err, errlen);
	if (rc != DC_OK)
		return rc;
	if (version == STORE_SCHEMA_VERSION)
		return DC_OK;
	rc = exec_script(db, "BEGIN IMMEDIATE", what, err, errlen);
	if (rc != DC_OK)
		return rc;
	rc = read_version(db, &version, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (version > STORE_SCHEMA_VERSION || version < 0) {
		rc = dc_fail(err, errlen, DC_DB,
			     "%s: schema version %d is newer than this docchat knows (%d)",
			     what, version, STORE_SCHEMA_VERSION);
		goto out;
	}
	for (i = 0; i < sizeof(migrations) / sizeof(migrations[0]); i++) {
		if (migrations[i].version <= version)
			continue;
		rc = exec_script(db, migrations[i].sql, what, err, errlen);
		if (rc != DC_OK)
			goto out;
		/* A pragma takes no parameters; the number is our own constant. */
		n = snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d",
			     migrations[i].version);
		if (n < 0 || (size_t)n >= sizeof(pragma)) {
			rc = dc_fail(err, errlen, DC_DB, "%s: version pragma too long", what);
			goto out;
		}
		rc = exec_script(db, pragma, what, err, errlen);
		if (rc != DC_OK)
			goto out;
	}
	rc = exec_script(db, "COMMIT", what, err, errlen);
out:
	if (rc != DC_OK && !sqlite3_get_autocommit(db))
		exec_script(db, "ROLLBACK", "rollback", NULL, 0);
	return rc;
}

static enum dc_err fts_functions(sqlite3 *db, const char *path, char *err, size_t errlen);

enum dc_err store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	struct store *st = NULL;
	sqlite3 *db = NULL;
	enum dc_err rc;

	*out = NULL;
	if (!path || !*path)
		return dc_fail(err, errlen, DC_BADREQ, "open database: no path given");
	if (strcmp(path, ":memory:") != 0) {
		rc = check_dir(path, err, errlen);
		if (rc != DC_OK)
			return rc;
	}
	/* NOMUTEX: each thread has its own store, so SQLite's per-connection lock is
	 * not needed. */
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		rc = dc_fail(err, errlen, DC_DB, "open database %s: %s", path,
			     db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	/* SQLite quietly opens a file it may not write read-only. Refuse that before the
	 * first read: a read-only connection creates the -wal and -shm files with the
	 * database's read-only mode, and they would keep every later connection from
	 * writing even after the database's own mode is fixed. */
	if (sqlite3_db_readonly(db, "main") == 1) {
		rc = dc_fail(err, errlen, DC_DB, "open database %s: cannot write to it (check the"
			     " permissions of the file and of its directory)", path);
		goto out;
	}
	sqlite3_extended_result_codes(db, 1);
	rc = configure(db, path, err, errlen);
	if (rc != DC_OK)
		goto out;
	rc = migrate(db, path, err, errlen);
	if (rc == DC_OK)
		rc = fts_functions(db, path, err, errlen);
	if (rc != DC_OK)
		goto out;
	st = calloc(1, sizeof(*st));
	if (!st) {
		rc = dc_fail(err, errlen, DC_NOMEM, "open database %s: out of memory", path);
		goto out;
	}
	st->db = db;
	db = NULL;
	*out = st;
out:
	sqlite3_close(db);
	return rc;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	sqlite3_close(st->db);
	free(st->worker);
	free(st);
}

enum dc_err store_health(struct store *st, char *err, size_t errlen)
{
	int version = 0;
	enum dc_err rc = read_version(st->db, &version, "database health", err, errlen);

	if (rc != DC_OK)
		return rc;
	if (version != STORE_SCHEMA_VERSION)
		return dc_fail(err, errlen, DC_DB, "database health: schema version %d, expected %d",
			       version, STORE_SCHEMA_VERSION);
	return DC_OK;
}

int store_stale(struct store *st)
{
	int moved = 0;

	/* In WAL mode SQLite goes on writing to a file that was deleted or renamed. */
	return sqlite3_file_control(st->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) ==
	       SQLITE_OK && moved;
}

enum dc_err store_set_worker(struct store *st, const char *worker)
{
	char *copy = NULL;

	if (worker) {
		copy = strdup(worker);
		if (!copy)
			return DC_NOMEM;
	}
	free(st->worker);
	st->worker = copy;
	return DC_OK;
}

/* Mark one streaming row interrupted (unless it finished meanwhile). */
static enum dc_err interrupt_row(struct store *st, long long id, int *count, char *err,
				 size_t errlen)
{
	sqlite3_stmt *s = NULL;
	static const char what[] = "recover interrupted messages";
	enum dc_err rc = prepare(st, "UPDATE messages SET status = 'interrupted', worker = NULL"
				 " WHERE id = ?1 AND status = 'streaming'", &s, what, err, errlen);

	if (rc == DC_OK && (sqlite3_bind_int64(s, 1, id) != SQLITE_OK ||
			    sqlite3_step(s) != SQLITE_DONE))
		rc = db_fail(st->db, err, errlen, what);
	if (rc == DC_OK)
		*count += sqlite3_changes(st->db);
	sqlite3_finalize(s);
	return rc;
}

enum dc_err store_recover_streaming(struct store *st, int (*alive)(void *ud, const char *worker),
				    void *ud, int *count, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	long long *ids = NULL, *grown;
	size_t n = 0, cap = 0;
	enum dc_err rc;
	int step;
	static const char what[] = "recover interrupted messages";

	*count = 0;
	rc = prepare(st, "SELECT id, worker FROM messages"
		     " WHERE status = 'streaming' AND role = 'assistant'", &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		const char *w = (const char *)sqlite3_column_text(s, 1);

		if (w && alive && alive(ud, w))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(ids, cap * sizeof *ids);
			if (!grown) {
				rc = DC_NOMEM;
				goto out;
			}
			ids = grown;
		}
		ids[n++] = sqlite3_column_int64(s, 0);
	}
	if (step != SQLITE_DONE) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	sqlite3_finalize(s);
	s = NULL;
	for (size_t i = 0; i < n && rc == DC_OK; i++)
		rc = interrupt_row(st, ids[i], count, err, errlen);
out:
	sqlite3_finalize(s);
	free(ids);
	return rc;
}

/* ---- sessions ---- */

void store_session_clear(struct store_session *s)
{
	if (!s)
		return;
	free(s->title);
	memset(s, 0, sizeof(*s));
}

void store_sessions_free(struct store_session *s, size_t n)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < n; i++)
		store_session_clear(&s[i]);
	free(s);
}

/* A random (version 4) UUID in its 36-character text form. */
static enum dc_err new_uuid(char out[STORE_ID_LEN + 1], char *err, size_t errlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[STORE_UUID_BYTES];
	size_t got = 0, i, o = 0;
	ssize_t r;

	while (got < sizeof(b)) {
		r = getrandom(b + got, sizeof(b) - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return dc_fail(err, errlen, DC_SYSTEM, "create session: getrandom: %s",
				       strerror(errno));
		}
		got += (size_t)r;
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);	/* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
	for (i = 0; i < sizeof(b); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0f];
	}
	out[o] = '\0';
	return DC_OK;
}

/* Columns: id, title, created_at, updated_at, message count. */
#define SESSION_COLUMNS \
	"s.id, s.title, s.created_at, s.updated_at," \
	" (SELECT count(*) FROM messages m WHERE m.session_id = s.id)"

static enum dc_err read_session(sqlite3_stmt *s, struct store_session *out,
				const char *what, char *err, size_t errlen)
{
	char *id = NULL;
	enum dc_err rc;

	memset(out, 0, sizeof(*out));
	rc = col_text(s, 0, 0, &id, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (strlen(id) != STORE_ID_LEN) {
		rc = dc_fail(err, errlen, DC_DB, "%s: malformed session id '%.40s'", what, id);
		goto out;
	}
	memcpy(out->id, id, STORE_ID_LEN + 1);
	if ((rc = col_text(s, 1, 0, &out->title, what, err, errlen)) != DC_OK ||
	    (rc = col_int(s, 2, &out->created_at, what, err, errlen)) != DC_OK ||
	    (rc = col_int(s, 3, &out->updated_at, what, err, errlen)) != DC_OK ||
	    (rc = col_int(s, 4, &out->message_count, what, err, errlen)) != DC_OK)
		goto out;
out:
	if (rc != DC_OK)
		store_session_clear(out);
	free(id);
	return rc;
}

static enum dc_err row_session(sqlite3_stmt *s, void *row, const char *what, char *err,
			       size_t errlen)
{
	return read_session(s, row, what, err, errlen);
}

enum dc_err store_session_create(struct store *st, const char *owner, const char *title,
				 struct store_session *out, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	long long now = now_s();
	enum dc_err rc;
	static const char what[] = "create session";

	memset(out, 0, sizeof(*out));
	if (!title || !*title)
		title = STORE_DEFAULT_TITLE;
	rc = new_uuid(out->id, err, errlen);
	if (rc != DC_OK)
		goto out;
	rc = prepare(st, "INSERT INTO sessions (id, owner, title, created_at, updated_at)"
		     " VALUES (?1, ?2, ?3, ?4, ?4)", &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, out->id) != SQLITE_OK || bind_text(s, 2, owner ? owner : "") != SQLITE_OK ||
	    bind_text(s, 3, title) != SQLITE_OK || sqlite3_bind_int64(s, 4, now) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_DONE) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	out->title = strdup(title);
	if (!out->title) {
		rc = dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", what);
		goto out;
	}
	out->created_at = now;
	out->updated_at = now;
	out->message_count = 0;
out:
	if (rc != DC_OK)
		store_session_clear(out);
	sqlite3_finalize(s);
	return rc;
}

enum dc_err store_session_get(struct store *st, const char *owner, const char *id,
			      struct store_session *out, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	int r;
	static const char what[] = "get session";

	memset(out, 0, sizeof(*out));
	rc = prepare(st, "SELECT " SESSION_COLUMNS " FROM sessions s"
		     " WHERE s.id = ?1 AND s.owner = ?2", &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, id ? id : "") != SQLITE_OK ||
	    bind_text(s, 2, owner ? owner : "") != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	r = sqlite3_step(s);
	if (r == SQLITE_DONE) {
		rc = dc_fail(err, errlen, DC_NOTFOUND, "session %.64s not found", id ? id : "");
		goto out;
	}
	if (r != SQLITE_ROW) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	rc = read_session(s, out, what, err, errlen);
out:
	sqlite3_finalize(s);
	return rc;
}

enum dc_err store_session_list(struct store *st, const char *owner,
			       struct store_session **out, size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	struct store_session *arr = NULL;
	size_t len = 0;
	enum dc_err rc;
	static const char what[] = "list sessions";

	*out = NULL;
	*n = 0;
	/* rowid breaks ties between sessions touched in the same second: later first. */
	rc = prepare(st, "SELECT " SESSION_COLUMNS " FROM sessions s WHERE s.owner = ?1"
		     " ORDER BY s.updated_at DESC, s.rowid DESC", &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, owner ? owner : "") != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	rc = collect_rows(st, s, (void **)&arr, &len, sizeof(*arr), row_session, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	*out = arr;
	*n = len;
	arr = NULL;
out:
	store_sessions_free(arr, len);
	sqlite3_finalize(s);
	return rc;
}

/* Run a statement that changes at most one row the caller can see. No row changed is
 * DC_NOTFOUND, with err left for the caller to fill (it knows what was missing). */
static enum dc_err step_one_change(struct store *st, sqlite3_stmt *s, const char *what,
				   char *err, size_t errlen)
{
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_fail(st->db, err, errlen, what);
	if (sqlite3_changes(st->db) == 0)
		return DC_NOTFOUND;
	return DC_OK;
}

enum dc_err store_session_rename(struct store *st, const char *owner, const char *id,
				 const char *title, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	static const char what[] = "rename session";

	if (!title || !*title)
		title = STORE_DEFAULT_TITLE;
	/* Renaming is not activity: updated_at (the list order) stays. */
	rc = prepare(st, "UPDATE sessions SET title = ?1 WHERE id = ?2 AND owner = ?3",
		     &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, title) != SQLITE_OK || bind_text(s, 2, id ? id : "") != SQLITE_OK ||
	    bind_text(s, 3, owner ? owner : "") != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	rc = step_one_change(st, s, what, err, errlen);
	if (rc == DC_NOTFOUND)
		rc = dc_fail(err, errlen, rc, "session %.64s not found", id ? id : "");
out:
	sqlite3_finalize(s);
	return rc;
}

enum dc_err store_session_delete(struct store *st, const char *owner, const char *id,
				 char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	static const char what[] = "delete session";

	rc = prepare(st, "DELETE FROM sessions WHERE id = ?1 AND owner = ?2", &s, what,
		     err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, id ? id : "") != SQLITE_OK ||
	    bind_text(s, 2, owner ? owner : "") != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	rc = step_one_change(st, s, what, err, errlen);
	if (rc == DC_NOTFOUND)
		rc = dc_fail(err, errlen, rc, "session %.64s not found", id ? id : "");
out:
	sqlite3_finalize(s);
	return rc;
}

/* ---- messages ---- */

static void message_clear(struct store_message *m)
{
	free(m->content);
	free(m->model);
	free(m->error);
	free(m->sources);
	free(m->metadata);
	memset(m, 0, sizeof(*m));
}

void store_messages_free(struct store_message *m, size_t n)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < n; i++)
		message_clear(&m[i]);
	free(m);
}

static enum dc_err message_check(const char *role, const char *status, const char *what,
				 char *err, size_t errlen)
{
	if (!in_set(role, message_roles))
		return dc_fail(err, errlen, DC_BADREQ, "%s: unknown role '%.40s'", what,
			       role ? role : "(null)");
	if (!in_set(status, message_statuses))
		return dc_fail(err, errlen, DC_BADREQ, "%s: unknown status '%.40s'", what,
			       status ? status : "(null)");
	return DC_OK;
}

/* Mark the session as used now; DC_NOTFOUND if there is none. In a transaction. */
static enum dc_err session_touch(struct store *st, const char *session_id, long long now,
				 const char *what, char *err, size_t errlen)
{
	sqlite3_stmt *touch = NULL;
	enum dc_err rc;

	rc = prepare(st, "UPDATE sessions SET updated_at = ?1 WHERE id = ?2", &touch, what,
		     err, errlen);
	if (rc != DC_OK)
		return rc;
	if (sqlite3_bind_int64(touch, 1, now) != SQLITE_OK ||
	    bind_text(touch, 2, session_id ? session_id : "") != SQLITE_OK)
		rc = db_fail(st->db, err, errlen, what);
	else
		rc = step_one_change(st, touch, what, err, errlen);
	sqlite3_finalize(touch);
	if (rc == DC_NOTFOUND)
		rc = dc_fail(err, errlen, rc, "session %.64s not found",
			     session_id ? session_id : "");
	return rc;
}

/* Insert one message (validated by message_check); a 'streaming' one carries this
 * connection's worker identity. In a transaction. */
static enum dc_err message_insert(struct store *st, const char *session_id, const char *role,
				  const char *content, const char *status, const char *model,
				  long long now, long long *id_out, const char *what, char *err,
				  size_t errlen)
{
	sqlite3_stmt *ins = NULL;
	enum dc_err rc;

	rc = prepare(st, "INSERT INTO messages (session_id, role, content, status, model,"
		     " created_at, worker) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &ins, what, err,
		     errlen);
	if (rc != DC_OK)
		return rc;
	if (bind_text(ins, 1, session_id) != SQLITE_OK || bind_text(ins, 2, role) != SQLITE_OK ||
	    bind_text(ins, 3, content ? content : "") != SQLITE_OK ||
	    bind_text(ins, 4, status) != SQLITE_OK || bind_text(ins, 5, model) != SQLITE_OK ||
	    sqlite3_bind_int64(ins, 6, now) != SQLITE_OK ||
	    bind_text(ins, 7, strcmp(status, "streaming") == 0 ? st->worker : NULL) != SQLITE_OK ||
	    sqlite3_step(ins) != SQLITE_DONE)
		rc = db_fail(st->db, err, errlen, what);
	else if (id_out)
		*id_out = sqlite3_last_insert_rowid(st->db);
	sqlite3_finalize(ins);
	return rc;
}

enum dc_err store_message_add(struct store *st, const char *session_id, const char *role,
			      const char *content, const char *status, const char *model,
			      long long *id_out, char *err, size_t errlen)
{
	long long now = now_s();
	enum dc_err rc;
	static const char what[] = "add message";

	if (id_out)
		*id_out = 0;
	rc = message_check(role, status, what, err, errlen);
	if (rc == DC_OK)
		rc = tx_begin(st, what, err, errlen);
	if (rc != DC_OK)
		return rc;
	rc = session_touch(st, session_id, now, what, err, errlen);
	if (rc == DC_OK)
		rc = message_insert(st, session_id, role, content, status, model, now, id_out,
				    what, err, errlen);
	if (rc == DC_OK)
		rc = tx_commit(st, what, err, errlen);
	if (rc != DC_OK) {
		tx_rollback(st);
		if (id_out)
			*id_out = 0;
	}
	return rc;
}

enum dc_err store_exchange_begin(struct store *st, const char *session_id,
				 const char *question, const char *model, long long *question_id,
				 long long *answer_id, char *err, size_t errlen)
{
	long long now = now_s();
	enum dc_err rc;
	static const char what[] = "store the question";

	*question_id = *answer_id = 0;
	rc = tx_begin(st, what, err, errlen);
	if (rc != DC_OK)
		return rc;
	rc = session_touch(st, session_id, now, what, err, errlen);
	if (rc == DC_OK)
		rc = message_insert(st, session_id, "user", question, "complete", NULL, now,
				    question_id, what, err, errlen);
	if (rc == DC_OK)
		rc = message_insert(st, session_id, "assistant", "", "streaming", model, now,
				    answer_id, what, err, errlen);
	if (rc == DC_OK)
		rc = tx_commit(st, what, err, errlen);
	if (rc != DC_OK) {
		tx_rollback(st);
		*question_id = *answer_id = 0;
	}
	return rc;
}

enum dc_err store_message_finish(struct store *st, long long id, const char *content,
				 const char *status, const char *error, const char *sources,
				 const char *metadata, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	static const char what[] = "finish message";

	if (!in_set(status, message_statuses))
		return dc_fail(err, errlen, DC_BADREQ, "%s: unknown status '%.40s'", what,
			       status ? status : "(null)");
	rc = prepare(st, "UPDATE messages SET worker = NULL, content = ?1, status = ?2, error = ?3,"
		     " sources = ?4, metadata = ?5 WHERE id = ?6", &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, content ? content : "") != SQLITE_OK ||
	    bind_text(s, 2, status) != SQLITE_OK || bind_text(s, 3, error) != SQLITE_OK ||
	    bind_text(s, 4, sources) != SQLITE_OK || bind_text(s, 5, metadata) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 6, id) != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	rc = step_one_change(st, s, what, err, errlen);
	if (rc == DC_NOTFOUND)
		rc = dc_fail(err, errlen, rc, "message %lld not found", id);
out:
	sqlite3_finalize(s);
	return rc;
}

/* ---- message ends kept until the database takes them ---- */

/* One message end that store_message_finish could not write. */
struct deferred {
	struct deferred *next;
	long long id;
	char *content, *status, *error, *sources, *metadata;
	size_t bytes;
};

static pthread_mutex_t deferred_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t deferred_writer = PTHREAD_MUTEX_INITIALIZER;
static struct deferred *deferred_head;	/* oldest first */
static size_t deferred_count_, deferred_bytes;
static struct timespec deferred_failed_at;	/* last failed write, for the retry pace */

static void deferred_free(struct deferred *d)
{
	if (!d)
		return;
	free(d->content);
	free(d->status);
	free(d->error);
	free(d->sources);
	free(d->metadata);
	free(d);
}

/* A copy of s (NULL stays NULL) in *out; 0 when out of memory. */
static int dup_or_null(const char *s, char **out, size_t *bytes)
{
	*out = NULL;
	if (!s)
		return 1;
	*out = strdup(s);
	*bytes += strlen(s) + 1;
	return *out != NULL;
}

enum dc_err store_defer_finish(long long id, const char *content, const char *status,
			       const char *error, const char *sources, const char *metadata)
{
	struct deferred *d = calloc(1, sizeof *d), **tail;
	enum dc_err rc = DC_OK;

	if (!d)
		return DC_NOMEM;
	d->id = id;
	d->bytes = sizeof *d;
	if (!dup_or_null(content ? content : "", &d->content, &d->bytes) ||
	    !dup_or_null(status, &d->status, &d->bytes) ||
	    !dup_or_null(error, &d->error, &d->bytes) ||
	    !dup_or_null(sources, &d->sources, &d->bytes) ||
	    !dup_or_null(metadata, &d->metadata, &d->bytes)) {
		deferred_free(d);
		return DC_NOMEM;
	}
	pthread_mutex_lock(&deferred_lock);
	if (deferred_bytes + d->bytes > STORE_DEFERRED_MAX) {
		rc = DC_TOOBIG;
	} else {
		for (tail = &deferred_head; *tail; tail = &(*tail)->next)
			;
		*tail = d;
		deferred_count_++;
		deferred_bytes += d->bytes;
		d = NULL;
	}
	pthread_mutex_unlock(&deferred_lock);
	deferred_free(d);
	return rc;
}

size_t store_deferred_count(void)
{
	size_t n;

	pthread_mutex_lock(&deferred_lock);
	n = deferred_count_;
	pthread_mutex_unlock(&deferred_lock);
	return n;
}

static long ms_between(const struct timespec *a, const struct timespec *b)
{
	return (long)((b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000);
}

size_t store_flush_deferred(struct store *st, size_t *written)
{
	char err[DC_ERRMAX];
	struct timespec now;
	struct deferred *d;
	size_t left;
	enum dc_err rc;

	if (written)
		*written = 0;
	/* One writer at a time; the others go back to their requests at once. */
	if (pthread_mutex_trylock(&deferred_writer) != 0)
		return store_deferred_count();
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (;;) {
		pthread_mutex_lock(&deferred_lock);
		d = deferred_head;
		if (d && (deferred_failed_at.tv_sec || deferred_failed_at.tv_nsec) &&
		    ms_between(&deferred_failed_at, &now) < STORE_DEFERRED_RETRY_MS)
			d = NULL;	/* failed a moment ago: leave the database be */
		pthread_mutex_unlock(&deferred_lock);
		if (!d)
			break;
		/* Written outside the list lock (a busy database may take the whole busy
		 * timeout); only this writer removes entries, so d stays the head. */
		rc = store_message_finish(st, d->id, d->content, d->status, d->error,
					  d->sources, d->metadata, err, sizeof err);
		pthread_mutex_lock(&deferred_lock);
		if (rc == DC_DB) {
			clock_gettime(CLOCK_MONOTONIC, &deferred_failed_at);
			pthread_mutex_unlock(&deferred_lock);
			break;
		}
		/* Written, or gone for good (its session was deleted meanwhile). */
		deferred_head = d->next;
		deferred_count_--;
		deferred_bytes -= d->bytes;
		deferred_failed_at.tv_sec = deferred_failed_at.tv_nsec = 0;
		pthread_mutex_unlock(&deferred_lock);
		if (rc == DC_OK && written)
			(*written)++;
		deferred_free(d);
	}
	left = store_deferred_count();
	pthread_mutex_unlock(&deferred_writer);
	return left;
}

static enum dc_err read_message(sqlite3_stmt *s, struct store_message *m, char *err,
				size_t errlen)
{
	char what[64];
	enum dc_err rc;
	long long id = sqlite3_column_int64(s, 0);

	memset(m, 0, sizeof(*m));
	if (snprintf(what, sizeof(what), "list messages: message %lld", id) < 0)
		what[0] = '\0';
	if ((rc = col_int(s, 0, &m->id, what, err, errlen)) != DC_OK ||
	    (rc = col_enum(s, 1, message_roles, m->role, sizeof(m->role), what, err,
			   errlen)) != DC_OK ||
	    (rc = col_enum(s, 2, message_statuses, m->status, sizeof(m->status), what, err,
			   errlen)) != DC_OK ||
	    (rc = col_text(s, 3, 0, &m->content, what, err, errlen)) != DC_OK ||
	    (rc = col_text(s, 4, 1, &m->model, what, err, errlen)) != DC_OK ||
	    (rc = col_text(s, 5, 1, &m->error, what, err, errlen)) != DC_OK ||
	    (rc = col_text(s, 6, 1, &m->sources, what, err, errlen)) != DC_OK ||
	    (rc = col_text(s, 7, 1, &m->metadata, what, err, errlen)) != DC_OK ||
	    (rc = col_int(s, 8, &m->created_at, what, err, errlen)) != DC_OK)
		message_clear(m);
	return rc;
}

static enum dc_err row_message(sqlite3_stmt *s, void *row, const char *what, char *err,
			       size_t errlen)
{
	(void)what;
	return read_message(s, row, err, errlen);
}

enum dc_err store_message_list(struct store *st, const char *session_id,
			       struct store_message **out, size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	struct store_message *arr = NULL;
	size_t len = 0;
	enum dc_err rc;
	static const char what[] = "list messages";

	*out = NULL;
	*n = 0;
	rc = prepare(st, "SELECT id, role, status, content, model, error, sources, metadata,"
		     " created_at FROM messages WHERE session_id = ?1 ORDER BY id", &s, what,
		     err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, session_id ? session_id : "") != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	rc = collect_rows(st, s, (void **)&arr, &len, sizeof(*arr), row_message, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	*out = arr;
	*n = len;
	arr = NULL;
out:
	store_messages_free(arr, len);
	sqlite3_finalize(s);
	return rc;
}

/* ---- documents and chunks ---- */

static void document_clear(struct store_document *d)
{
	free(d->name);
	free(d->path);
	free(d->owner);
	free(d->hash);
	memset(d, 0, sizeof(*d));
}

void store_documents_free(struct store_document *d, size_t n)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < n; i++)
		document_clear(&d[i]);
	free(d);
}

/* The id of owner's document with this hash: DC_OK and *id, or DC_NOTFOUND. */
static enum dc_err document_find(struct store *st, const char *owner, const char *hash,
				 long long *id, const char *what, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	int r;

	rc = prepare(st, "SELECT id FROM documents WHERE owner = ?1 AND hash = ?2", &s, what,
		     err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, owner) != SQLITE_OK || bind_text(s, 2, hash) != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	r = sqlite3_step(s);
	if (r == SQLITE_DONE) {
		rc = DC_NOTFOUND;
		goto out;
	}
	if (r != SQLITE_ROW) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	rc = col_int(s, 0, id, what, err, errlen);
out:
	sqlite3_finalize(s);
	return rc;
}

static enum dc_err chunks_insert(struct store *st, long long doc_id,
				 const struct store_chunk_in *chunks, size_t nchunks,
				 const char *what, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	size_t i;

	rc = prepare(st, "INSERT INTO chunks (document_id, ordinal, heading, start_off,"
		     " end_off, page, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &s, what,
		     err, errlen);
	if (rc != DC_OK)
		goto out;
	for (i = 0; i < nchunks; i++) {
		const struct store_chunk_in *c = &chunks[i];

		if (!c->text || c->start < 0 || c->end < c->start || c->page < 0) {
			rc = dc_fail(err, errlen, DC_BADREQ, "%s: chunk %zu is invalid", what, i);
			goto out;
		}
		if (sqlite3_bind_int64(s, 1, doc_id) != SQLITE_OK ||
		    sqlite3_bind_int64(s, 2, (long long)i) != SQLITE_OK ||
		    bind_text(s, 3, c->heading) != SQLITE_OK ||
		    sqlite3_bind_int64(s, 4, c->start) != SQLITE_OK ||
		    sqlite3_bind_int64(s, 5, c->end) != SQLITE_OK ||
		    sqlite3_bind_int(s, 6, c->page) != SQLITE_OK ||
		    bind_text(s, 7, c->text) != SQLITE_OK ||
		    sqlite3_step(s) != SQLITE_DONE) {
			rc = db_fail(st->db, err, errlen, what);
			goto out;
		}
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
out:
	sqlite3_finalize(s);
	return rc;
}

enum dc_err store_document_add(struct store *st, const char *owner, const char *name,
			       const char *path, const char *hash, long long size,
			       const struct store_chunk_in *chunks, size_t nchunks,
			       long long *id_out, int *existed, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	long long id = 0;
	enum dc_err rc;
	static const char what[] = "add document";

	*id_out = 0;
	*existed = 0;
	if (!owner)
		owner = "";
	if (!name || !*name || !hash || !*hash || size < 0 || (nchunks && !chunks))
		return dc_fail(err, errlen, DC_BADREQ, "%s: name, hash and size are required",
			       what);
	rc = tx_begin(st, what, err, errlen);
	if (rc != DC_OK)
		return rc;
	rc = document_find(st, owner, hash, &id, what, err, errlen);
	if (rc == DC_OK) {
		*existed = 1;
		*id_out = id;
		rc = tx_commit(st, what, err, errlen);
		goto out;
	}
	if (rc != DC_NOTFOUND)
		goto out;
	rc = prepare(st, "INSERT INTO documents (owner, name, path, hash, size, created_at)"
		     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, owner) != SQLITE_OK || bind_text(s, 2, name) != SQLITE_OK ||
	    bind_text(s, 3, path) != SQLITE_OK || bind_text(s, 4, hash) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 5, size) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 6, now_s()) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	id = sqlite3_last_insert_rowid(st->db);
	rc = chunks_insert(st, id, chunks, nchunks, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	rc = tx_commit(st, what, err, errlen);
	if (rc == DC_OK)
		*id_out = id;
out:
	sqlite3_finalize(s);
	if (rc != DC_OK)
		tx_rollback(st);
	return rc;
}

static enum dc_err read_document(sqlite3_stmt *s, struct store_document *d, char *err,
				 size_t errlen)
{
	char what[64];
	enum dc_err rc;

	memset(d, 0, sizeof(*d));
	if (snprintf(what, sizeof(what), "list documents: document %lld",
		     sqlite3_column_int64(s, 0)) < 0)
		what[0] = '\0';
	if ((rc = col_int(s, 0, &d->id, what, err, errlen)) != DC_OK ||
	    (rc = col_text(s, 1, 0, &d->name, what, err, errlen)) != DC_OK ||
	    (rc = col_text(s, 2, 1, &d->path, what, err, errlen)) != DC_OK ||
	    (rc = col_text(s, 3, 0, &d->owner, what, err, errlen)) != DC_OK ||
	    (rc = col_text(s, 4, 0, &d->hash, what, err, errlen)) != DC_OK ||
	    (rc = col_int(s, 5, &d->size, what, err, errlen)) != DC_OK ||
	    (rc = col_int(s, 6, &d->created_at, what, err, errlen)) != DC_OK ||
	    (rc = col_int(s, 7, &d->chunk_count, what, err, errlen)) != DC_OK)
		goto out;
	if (d->size < 0)
		rc = dc_fail(err, errlen, DC_DB, "%s: negative size", what);
out:
	if (rc != DC_OK)
		document_clear(d);
	return rc;
}

static enum dc_err row_document(sqlite3_stmt *s, void *row, const char *what, char *err,
				size_t errlen)
{
	(void)what;
	return read_document(s, row, err, errlen);
}

enum dc_err store_document_list(struct store *st, const char *owner,
				struct store_document **out, size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	struct store_document *arr = NULL;
	size_t len = 0;
	enum dc_err rc;
	static const char what[] = "list documents";

	*out = NULL;
	*n = 0;
	rc = prepare(st, "SELECT d.id, d.name, d.path, d.owner, d.hash, d.size, d.created_at,"
		     " (SELECT count(*) FROM chunks c WHERE c.document_id = d.id)"
		     " FROM documents d WHERE d.owner = ?1 OR d.owner = ''"
		     " ORDER BY d.name, d.id", &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, owner ? owner : "") != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	rc = collect_rows(st, s, (void **)&arr, &len, sizeof(*arr), row_document, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	*out = arr;
	*n = len;
	arr = NULL;
out:
	store_documents_free(arr, len);
	sqlite3_finalize(s);
	return rc;
}

enum dc_err store_document_delete(struct store *st, const char *owner, long long id,
				  char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	static const char what[] = "delete document";

	/* Exact owner match: shared rows (owner '') are visible to all but only the
	 * shared owner may delete them. Chunks and their index entries cascade. */
	rc = prepare(st, "DELETE FROM documents WHERE id = ?1 AND owner = ?2", &s, what,
		     err, errlen);
	if (rc != DC_OK)
		goto out;
	if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK ||
	    bind_text(s, 2, owner ? owner : "") != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	rc = step_one_change(st, s, what, err, errlen);
	if (rc == DC_NOTFOUND)
		rc = dc_fail(err, errlen, rc, "document %lld not found", id);
out:
	sqlite3_finalize(s);
	return rc;
}

/* ---- keyword search ---- */

void store_hit_clear(struct store_hit *h)
{
	if (!h)
		return;
	free(h->document);
	free(h->heading);
	free(h->text);
	memset(h, 0, sizeof(*h));
}

void store_hits_free(struct store_hit *h, size_t n)
{
	size_t i;

	if (!h)
		return;
	for (i = 0; i < n; i++)
		store_hit_clear(&h[i]);
	free(h);
}

static enum dc_err read_hit(sqlite3_stmt *s, struct store_hit *h, char *err, size_t errlen)
{
	static const char what[] = "keyword search";
	enum dc_err rc;

	memset(h, 0, sizeof(*h));
	if ((rc = col_int(s, 0, &h->chunk_id, what, err, errlen)) != DC_OK ||
	    (rc = col_int(s, 1, &h->document_id, what, err, errlen)) != DC_OK ||
	    (rc = col_text(s, 2, 0, &h->document, what, err, errlen)) != DC_OK ||
	    (rc = col_text(s, 3, 1, &h->heading, what, err, errlen)) != DC_OK ||
	    (rc = col_text(s, 4, 0, &h->text, what, err, errlen)) != DC_OK ||
	    (rc = col_small(s, 5, &h->ordinal, what, err, errlen)) != DC_OK ||
	    (rc = col_small(s, 6, &h->page, what, err, errlen)) != DC_OK)
		goto out;
	if (sqlite3_column_type(s, 7) != SQLITE_FLOAT) {
		rc = dc_fail(err, errlen, DC_DB, "%s: bm25 is not a number", what);
		goto out;
	}
	h->bm25 = sqlite3_column_double(s, 7);
out:
	if (rc != DC_OK)
		store_hit_clear(h);
	return rc;
}

/* ---- keyword ranking ----
 *
 * BM25 as FTS5's own bm25() computes it (same formula, constants, IDF and column
 * weights, the same floating-point operations in the same order, so the scores are
 * bit for bit those of bm25(chunks_fts, 1.0, 0.5)), but as an FTS5 auxiliary function
 * that keeps the best `limit` rows itself and skips the rows that cannot enter them.
 * bm25() in an ORDER BY reads every matching row's size from the index and sorts them
 * all; with words that many chunks share that is most of a search's time. Here each
 * row's phrase frequencies come from the position lists FTS5 already holds, and an
 * upper bound of the row's score (its true frequencies, a row length no longer than the
 * last position seen, which can only raise each term) is compared with the weakest of
 * the best rows so far: below it, the row is skipped without reading its size. The
 * bound is exact arithmetic on the same expression, so no row that belongs to the
 * result is ever skipped (MaxScore-style pruning without approximation). Who may see a
 * row is asked only for rows that would enter the best list, and not at all when every
 * document in the library is the asker's or shared. */

#define STORE_BM25_K1 1.2
#define STORE_BM25_B 0.75
#define STORE_FTS_COLUMNS 2		/* text, heading */
static const double fts_weight[STORE_FTS_COLUMNS] = { 1.0, 0.5 };	/* text, heading */

/* Pointer types passed to the auxiliary functions through bound parameters. */
#define RANK_POINTER "docchat_rank"
#define COUNT_POINTER "docchat_count"

struct rank_entry {
	long long id;
	double score;		/* -bm25: higher is better */
};

/* One ranking query: its inputs, its state between rows, and its result. */
struct rank_query {
	size_t limit;
	long long rows;		/* with hits: the row count the hits were counted in */
	const long long *hits;	/* rows holding each phrase, or NULL: count them here */
	size_t nhits;
	sqlite3_stmt *who;	/* document and owner of a chunk; NULL: all visible */
	const char *owner;
	const long long *docs;	/* sorted; ndocs 0: every document */
	size_t ndocs;
	int ready;
	int nphrase;
	double avgdl;
	double *idf, *freq;	/* per phrase */
	struct rank_entry *heap;	/* min-heap: the weakest kept row on top */
	size_t nheap;
	int failed;		/* SQLite result code of a failure inside, 0 if none */
};

static int rank_below(const struct rank_entry *a, const struct rank_entry *b)
{
	return a->score < b->score || (a->score == b->score && a->id > b->id);
}

static void rank_sift_down(struct rank_entry *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct rank_entry t;

		if (l < n && rank_below(&h[l], &h[m]))
			m = l;
		if (r < n && rank_below(&h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void rank_offer(struct rank_query *q, const struct rank_entry *e)
{
	size_t i;

	if (q->nheap < q->limit) {
		i = q->nheap++;
		q->heap[i] = *e;
		while (i > 0 && rank_below(&q->heap[i], &q->heap[(i - 1) / 2])) {
			struct rank_entry t = q->heap[i];

			q->heap[i] = q->heap[(i - 1) / 2];
			q->heap[(i - 1) / 2] = t;
			i = (i - 1) / 2;
		}
	} else if (rank_below(&q->heap[0], e)) {
		q->heap[0] = *e;
		rank_sift_down(q->heap, q->nheap, 0);
	}
}

static int cmp_rank_best_first(const void *pa, const void *pb)
{
	const struct rank_entry *a = pa, *b = pb;

	return rank_below(b, a) ? -1 : rank_below(a, b) ? 1 : 0;
}

static int cmp_ll(const void *pa, const void *pb)
{
	long long a = *(const long long *)pa, b = *(const long long *)pb;

	return (a > b) - (a < b);
}

/* FTS5's IDF: log((N - n + 0.5) / (n + 0.5)), at least 1e-6. */
static double fts_idf(long long rows, long long hits)
{
	double idf = log(((double)rows - (double)hits + 0.5) / ((double)hits + 0.5));

	return idf <= 0.0 ? 1e-6 : idf;
}

static int count_cb(const Fts5ExtensionApi *api, Fts5Context *fts, void *ud)
{
	(void)api;
	(void)fts;
	(*(long long *)ud)++;
	return SQLITE_OK;
}

/* The per-query part, done at the first row as bm25() does it. */
static int rank_setup(struct rank_query *q, const Fts5ExtensionApi *api, Fts5Context *fts)
{
	sqlite3_int64 rows = 0, tokens = 0;
	int i, rc;

	q->nphrase = api->xPhraseCount(fts);
	q->idf = calloc((size_t)q->nphrase + 1, sizeof(*q->idf));
	q->freq = calloc((size_t)q->nphrase + 1, sizeof(*q->freq));
	if (!q->idf || !q->freq)
		return SQLITE_NOMEM;
	if ((rc = api->xRowCount(fts, &rows)) != SQLITE_OK ||
	    (rc = api->xColumnTotalSize(fts, -1, &tokens)) != SQLITE_OK)
		return rc;
	q->avgdl = (double)tokens / (double)rows;
	for (i = 0; i < q->nphrase; i++) {
		long long hits = 0;

		/* Counts made just before for this very query save reading each
		 * phrase's whole posting list again. */
		if (q->hits && q->nhits == (size_t)q->nphrase) {
			q->idf[i] = fts_idf(q->rows, q->hits[i]);
			continue;
		}
		rc = api->xQueryPhrase(fts, i, &hits, count_cb);
		if (rc != SQLITE_OK)
			return rc;
		q->idf[i] = fts_idf(rows, hits);
	}
	q->ready = 1;
	return SQLITE_OK;
}

/* Σ idf * f(k1+1) / (f + k1 (1 - b + b D / avgdl)), as fts5_aux.c writes it. */
static double rank_bm25(const struct rank_query *q, double D)
{
	const double k1 = STORE_BM25_K1, b = STORE_BM25_B;
	double score = 0.0;
	int i;

	for (i = 0; i < q->nphrase; i++)
		score += q->idf[i] * ((q->freq[i] * (k1 + 1.0)) /
				      (q->freq[i] + k1 * (1 - b + b * D / q->avgdl)));
	return score;
}

/* May owner see chunk id (and is it in the document filter)? -1 on a database error. */
static int rank_visible(struct rank_query *q, long long id)
{
	const unsigned char *owner;
	long long doc;
	int r, ok = 0;

	if (!q->who)
		return 1;
	if (sqlite3_bind_int64(q->who, 1, id) != SQLITE_OK)
		return -1;
	r = sqlite3_step(q->who);
	if (r == SQLITE_ROW) {
		doc = sqlite3_column_int64(q->who, 0);
		owner = sqlite3_column_text(q->who, 1);
		ok = owner && (!owner[0] || strcmp((const char *)owner, q->owner) == 0) &&
		     (q->ndocs == 0 ||
		      bsearch(&doc, q->docs, q->ndocs, sizeof(*q->docs), cmp_ll) != NULL);
	}
	sqlite3_reset(q->who);
	return r == SQLITE_ROW || r == SQLITE_DONE ? ok : -1;
}

/* docchat_rank(chunks_fts, query): offer the current row to the query's best list.
 * Returns NULL; the result is in the query. */
static void rank_function(const Fts5ExtensionApi *api, Fts5Context *fts,
			  sqlite3_context *ctx, int nval, sqlite3_value **val)
{
	struct rank_query *q = nval == 1 ? sqlite3_value_pointer(val[0], RANK_POINTER) : NULL;
	struct rank_entry e;
	int col, off, i, rc = SQLITE_OK, ntok = 0, vis;
	int last[STORE_FTS_COLUMNS + 1];
	Fts5PhraseIter it;
	double dlow = 0;

	if (!q) {
		sqlite3_result_error(ctx, "docchat_rank: no query", -1);
		return;
	}
	if (!q->ready && (rc = rank_setup(q, api, fts)) != SQLITE_OK)
		goto fail;
	for (i = 0; i <= STORE_FTS_COLUMNS; i++)
		last[i] = -1;
	for (i = 0; i < q->nphrase; i++) {
		q->freq[i] = 0;
		if ((rc = api->xPhraseFirst(fts, i, &it, &col, &off)) != SQLITE_OK)
			goto fail;
		for (; col >= 0; api->xPhraseNext(fts, &it, &col, &off)) {
			int c = col < STORE_FTS_COLUMNS ? col : STORE_FTS_COLUMNS;

			q->freq[i] += col < STORE_FTS_COLUMNS ? fts_weight[col] : 1.0;
			if (off > last[c])
				last[c] = off;
		}
	}
	e.id = api->xRowid(fts);
	if (q->nheap == q->limit) {
		/* The row holds at least one token past the last position seen in each
		 * column, and a shorter row scores higher. */
		for (i = 0; i <= STORE_FTS_COLUMNS; i++)
			dlow += (double)(last[i] + 1);
		e.score = rank_bm25(q, dlow);
		if (rank_below(&e, &q->heap[0]))
			return;
	}
	if ((rc = api->xColumnSize(fts, -1, &ntok)) != SQLITE_OK)
		goto fail;
	e.score = rank_bm25(q, (double)ntok);
	if (q->nheap == q->limit && !rank_below(&q->heap[0], &e))
		return;
	vis = rank_visible(q, e.id);
	if (vis < 0) {
		rc = SQLITE_ERROR;
		goto fail;
	}
	if (vis)
		rank_offer(q, &e);
	return;
fail:
	q->failed = rc;
	sqlite3_result_error_code(ctx, rc);
}

/* docchat_count(chunks_fts, out): at the first row, the rows in the index and those
 * holding phrase 0 into out (two long longs). */
static void count_function(const Fts5ExtensionApi *api, Fts5Context *fts,
			   sqlite3_context *ctx, int nval, sqlite3_value **val)
{
	long long *out = nval == 1 ? sqlite3_value_pointer(val[0], COUNT_POINTER) : NULL;
	sqlite3_int64 rows = 0;
	int rc;

	if (!out) {
		sqlite3_result_error(ctx, "docchat_count: no output", -1);
		return;
	}
	out[1] = 0;
	rc = api->xRowCount(fts, &rows);
	if (rc == SQLITE_OK)
		rc = api->xQueryPhrase(fts, 0, &out[1], count_cb);
	out[0] = rows;
	if (rc != SQLITE_OK)
		sqlite3_result_error_code(ctx, rc);
}

/* Make docchat_rank and docchat_count known to db's FTS5. */
static enum dc_err fts_functions(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	fts5_api *api = NULL;

	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_bind_pointer(s, 1, (void *)&api, "fts5_api_ptr", NULL) == SQLITE_OK)
		sqlite3_step(s);
	sqlite3_finalize(s);
	if (!api || api->iVersion < 2 ||
	    api->xCreateFunction(api, "docchat_rank", NULL, rank_function, NULL) != SQLITE_OK ||
	    api->xCreateFunction(api, "docchat_count", NULL, count_function, NULL) != SQLITE_OK)
		return dc_fail(err, errlen, DC_DB, "open database %s: SQLite's FTS5 is missing or"
			       " too old", path);
	return DC_OK;
}

enum dc_err store_fts_count(struct store *st, const char *phrase, long long *rows,
			    long long *hits, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	long long out[2] = { 0, 0 };
	enum dc_err rc;
	int r;
	static const char what[] = "keyword search: count";

	*rows = 0;
	*hits = 0;
	if (!phrase || !*phrase)
		return DC_OK;
	rc = prepare(st, "SELECT docchat_count(chunks_fts, ?2) FROM chunks_fts"
		     " WHERE chunks_fts MATCH ?1 LIMIT 1", &s, what, err, errlen);
	if (rc != DC_OK)
		return rc;
	if (bind_text(s, 1, phrase) != SQLITE_OK ||
	    sqlite3_bind_pointer(s, 2, out, COUNT_POINTER, NULL) != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	r = sqlite3_step(s);
	if (r != SQLITE_ROW && r != SQLITE_DONE) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	/* No row: nothing holds the phrase, and the row count is not needed. */
	*rows = out[0];
	*hits = out[1];
out:
	sqlite3_finalize(s);
	return rc;
}

/* Is every document in the library owner's or shared? Then no row needs a check. */
static enum dc_err all_visible(struct store *st, const char *owner, int *all, char *err,
			       size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	int r;
	static const char what[] = "keyword search";

	rc = prepare(st, "SELECT 1 FROM documents WHERE owner <> ?1 AND owner <> '' LIMIT 1",
		     &s, what, err, errlen);
	if (rc != DC_OK)
		return rc;
	if (bind_text(s, 1, owner) != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	r = sqlite3_step(s);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		rc = db_fail(st->db, err, errlen, what);
	*all = r == SQLITE_DONE;
out:
	sqlite3_finalize(s);
	return rc;
}

/* Rank every row matching match into q (q->limit best). */
static enum dc_err rank_rows(struct store *st, const char *match, struct rank_query *q,
			     char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	int r;
	static const char what[] = "keyword search";

	/* In the WHERE clause (the function returns NULL) no row comes back up to here. */
	rc = prepare(st, "SELECT count(*) FROM chunks_fts"
		     " WHERE chunks_fts MATCH ?1 AND docchat_rank(chunks_fts, ?2)",
		     &s, what, err, errlen);
	if (rc != DC_OK)
		return rc;
	if (bind_text(s, 1, match) != SQLITE_OK ||
	    sqlite3_bind_pointer(s, 2, q, RANK_POINTER, NULL) != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	while ((r = sqlite3_step(s)) == SQLITE_ROW)
		;
	if (r != SQLITE_DONE) {
		rc = q->failed == SQLITE_NOMEM ? dc_fail(err, errlen, DC_NOMEM,
							 "%s: out of memory", what)
					       : db_fail(st->db, err, errlen, what);
		goto out;
	}
out:
	sqlite3_finalize(s);
	return rc;
}

enum dc_err store_search_fts_counted(struct store *st, const char *owner, const char *match,
				     long long rows, const long long *hits, size_t nhits,
				     const long long *doc_ids, size_t ndocs, int limit,
				     struct store_hit **out, size_t *n, char *err, size_t errlen)
{
	struct rank_query q;
	struct store_hit *arr = NULL;
	long long *docs = NULL, *ids = NULL;
	size_t len = 0, i, j;
	int all = 0, began = 0;
	enum dc_err rc;
	static const char what[] = "keyword search";

	*out = NULL;
	*n = 0;
	memset(&q, 0, sizeof(q));
	if (!match || !*match || limit <= 0)
		return DC_OK;	/* nothing to look for (an empty MATCH is a syntax error) */
	if (ndocs && !doc_ids)
		return dc_fail(err, errlen, DC_BADREQ, "%s: document filter missing", what);
	q.limit = (size_t)limit;
	q.rows = rows;
	q.hits = hits;
	q.nhits = hits ? nhits : 0;
	q.owner = owner ? owner : "";
	q.heap = calloc(q.limit, sizeof(*q.heap));
	if (ndocs) {
		docs = malloc(ndocs * sizeof(*docs));
		if (docs) {
			memcpy(docs, doc_ids, ndocs * sizeof(*docs));
			qsort(docs, ndocs, sizeof(*docs), cmp_ll);
		}
	}
	if (!q.heap || (ndocs && !docs)) {
		rc = dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", what);
		goto out;
	}
	q.docs = docs;
	q.ndocs = ndocs;
	/* One snapshot for ranking and reading the hits, when the caller has none. */
	if (sqlite3_get_autocommit(st->db)) {
		rc = exec_script(st->db, "BEGIN", what, err, errlen);
		if (rc != DC_OK)
			goto out;
		began = 1;
	}
	if (ndocs == 0) {
		rc = all_visible(st, q.owner, &all, err, errlen);
		if (rc != DC_OK)
			goto out;
	}
	if (!all) {
		rc = prepare(st, "SELECT c.document_id, d.owner FROM chunks c"
			     " JOIN documents d ON d.id = c.document_id WHERE c.id = ?1",
			     &q.who, what, err, errlen);
		if (rc != DC_OK)
			goto out;
	}
	rc = rank_rows(st, match, &q, err, errlen);
	if (rc != DC_OK || q.nheap == 0)
		goto out;
	qsort(q.heap, q.nheap, sizeof(*q.heap), cmp_rank_best_first);
	ids = malloc(q.nheap * sizeof(*ids));
	if (!ids) {
		rc = dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", what);
		goto out;
	}
	for (i = 0; i < q.nheap; i++)
		ids[i] = q.heap[i].id;
	rc = store_chunks_get(st, q.owner, ids, q.nheap, &arr, &len, err, errlen);
	if (rc != DC_OK)
		goto out;
	/* arr follows ids' order; within one snapshot nothing was left out. */
	for (i = j = 0; i < len; i++) {
		while (q.heap[j].id != arr[i].chunk_id)
			j++;
		arr[i].bm25 = -q.heap[j].score;
	}
	*out = arr;
	*n = len;
	arr = NULL;
out:
	if (began)
		exec_script(st->db, "COMMIT", "end keyword search", NULL, 0);
	store_hits_free(arr, len);
	sqlite3_finalize(q.who);
	free(ids);
	free(q.heap);
	free(q.idf);
	free(q.freq);
	free(docs);
	return rc;
}

enum dc_err store_search_fts(struct store *st, const char *owner, const char *match,
			     const long long *doc_ids, size_t ndocs, int limit,
			     struct store_hit **out, size_t *n, char *err, size_t errlen)
{
	return store_search_fts_counted(st, owner, match, 0, NULL, 0, doc_ids, ndocs, limit,
					out, n, err, errlen);
}

/* ---- embeddings ---- */

void store_pending_free(struct store_pending *p, size_t n)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < n; i++)
		free(p[i].text);
	free(p);
}

/* A chunk to embed: its id and text. */
static enum dc_err row_chunk_text(sqlite3_stmt *s, void *row, const char *what, char *err,
				  size_t errlen)
{
	struct store_pending *p = row;
	enum dc_err rc = col_int(s, 0, &p->id, what, err, errlen);

	return rc == DC_OK ? col_text(s, 1, 0, &p->text, what, err, errlen) : rc;
}

enum dc_err store_chunks_unembedded(struct store *st, const char *model, long long after_id,
				    int limit, struct store_pending **out, size_t *n,
				    char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	struct store_pending *arr = NULL;
	size_t len = 0;
	enum dc_err rc;
	static const char what[] = "chunks to embed";

	*out = NULL;
	*n = 0;
	if (!model || !*model || limit <= 0)
		return dc_fail(err, errlen, DC_BADREQ, "%s: a model and a limit are required", what);
	rc = prepare(st, "SELECT c.id, c.text FROM chunks c WHERE c.id > ?2 AND NOT EXISTS"
		     " (SELECT 1 FROM embeddings e WHERE e.chunk_id = c.id AND e.model = ?1)"
		     " ORDER BY c.id LIMIT ?3", &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, model) != SQLITE_OK || sqlite3_bind_int64(s, 2, after_id) != SQLITE_OK ||
	    sqlite3_bind_int(s, 3, limit) != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	rc = collect_rows(st, s, (void **)&arr, &len, sizeof(*arr), row_chunk_text, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	*out = arr;
	*n = len;
	arr = NULL;
out:
	store_pending_free(arr, len);
	sqlite3_finalize(s);
	return rc;
}

/* Are all of v[0..n) finite? (A vector with a NaN would poison every ranking.) */
static int floats_finite(const float *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

enum dc_err store_embeddings_put(struct store *st, const char *model, const long long *chunk_ids,
				 const float *vectors, size_t n, int dim, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	size_t i;
	static const char what[] = "store embeddings";

	if (!model || !*model || dim < 1 || dim > STORE_EMBED_DIM_MAX || (n && (!chunk_ids || !vectors)))
		return dc_fail(err, errlen, DC_BADREQ, "%s: a model, ids and vectors of 1..%d"
			       " dimensions are required", what, STORE_EMBED_DIM_MAX);
	for (i = 0; i < n; i++)
		if (!floats_finite(vectors + i * (size_t)dim, (size_t)dim))
			return dc_fail(err, errlen, DC_BADREQ, "%s: the vector of chunk %lld is not"
				       " finite", what, chunk_ids[i]);
	if (n == 0)
		return DC_OK;
	rc = tx_begin(st, what, err, errlen);
	if (rc != DC_OK)
		return rc;
	/* A chunk deleted since it was read is skipped rather than failing the batch. */
	rc = prepare(st, "INSERT INTO embeddings (chunk_id, model, dim, vector)"
		     " SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM chunks WHERE id = ?1)"
		     " ON CONFLICT (chunk_id) DO UPDATE SET model = excluded.model,"
		     " dim = excluded.dim, vector = excluded.vector", &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (sqlite3_bind_int64(s, 1, chunk_ids[i]) != SQLITE_OK ||
		    bind_text(s, 2, model) != SQLITE_OK || sqlite3_bind_int(s, 3, dim) != SQLITE_OK ||
		    sqlite3_bind_blob(s, 4, vectors + i * (size_t)dim, dim * (int)sizeof(float),
				      SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_step(s) != SQLITE_DONE) {
			rc = db_fail(st->db, err, errlen, what);
			goto out;
		}
		sqlite3_reset(s);
	}
	rc = tx_commit(st, what, err, errlen);
out:
	sqlite3_finalize(s);
	if (rc != DC_OK)
		tx_rollback(st);
	return rc;
}

static enum dc_err read_generation(struct store *st, long long *token, const char *what,
				   char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;

	rc = prepare(st, "SELECT value FROM meta WHERE key = 'embeddings_generation'", &s, what,
		     err, errlen);
	if (rc != DC_OK)
		goto out;
	if (sqlite3_step(s) != SQLITE_ROW) {
		rc = dc_fail(err, errlen, DC_DB, "%s: the embeddings generation is missing: %s",
			     what, sqlite3_errmsg(st->db));
		goto out;
	}
	rc = col_int(s, 0, token, what, err, errlen);
out:
	sqlite3_finalize(s);
	return rc;
}

enum dc_err store_embeddings_token(struct store *st, long long *token, char *err,
				   size_t errlen)
{
	*token = -1;
	return read_generation(st, token, "embeddings token", err, errlen);
}

/* One row of the scan, checked and handed to the sink. scratch holds
 * STORE_EMBED_DIM_MAX floats: blobs carry no alignment promise, so they are copied. */
static enum dc_err scan_row(sqlite3_stmt *s, const struct store_vector_sink *sink,
			    float *scratch, const char *what, char *err, size_t errlen)
{
	struct store_vector_row row;
	long long dim = 0;
	const void *blob;
	enum dc_err rc;

	memset(&row, 0, sizeof(row));
	if ((rc = col_int(s, 0, &row.chunk_id, what, err, errlen)) != DC_OK ||
	    (rc = col_int(s, 1, &row.document_id, what, err, errlen)) != DC_OK ||
	    (rc = col_int(s, 3, &dim, what, err, errlen)) != DC_OK)
		return rc;
	if (sqlite3_column_type(s, 2) != SQLITE_TEXT)
		return dc_fail(err, errlen, DC_DB, "%s: chunk %lld: owner is not text", what,
			       row.chunk_id);
	row.owner = (const char *)sqlite3_column_text(s, 2);
	if (!row.owner)
		return dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", what);
	if (dim < 1 || dim > STORE_EMBED_DIM_MAX)
		return dc_fail(err, errlen, DC_DB, "%s: chunk %lld: dimension %lld out of range",
			       what, row.chunk_id, dim);
	blob = sqlite3_column_blob(s, 4);
	if (sqlite3_column_type(s, 4) != SQLITE_BLOB || !blob ||
	    sqlite3_column_bytes(s, 4) != (int)dim * (int)sizeof(float))
		return dc_fail(err, errlen, DC_DB, "%s: chunk %lld: the vector is not %lld floats",
			       what, row.chunk_id, dim);
	memcpy(scratch, blob, (size_t)dim * sizeof(float));
	if (!floats_finite(scratch, (size_t)dim))
		return dc_fail(err, errlen, DC_DB, "%s: chunk %lld: the vector is not finite", what,
			       row.chunk_id);
	row.vector = scratch;
	row.dim = (int)dim;
	return sink->row(sink->ud, &row, err, errlen);
}

enum dc_err store_embeddings_scan(struct store *st, const char *model,
				  const struct store_vector_sink *sink, long long *token,
				  char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	float *scratch = NULL;
	enum dc_err rc;
	int r, began = 0;
	static const char what[] = "load embeddings";

	*token = -1;
	scratch = malloc(STORE_EMBED_DIM_MAX * sizeof(*scratch));
	if (!scratch)
		return dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", what);
	/* One read transaction: the token and the rows come from the same snapshot, so a
	 * change committed meanwhile moves the token past what was loaded. */
	rc = exec_script(st->db, "BEGIN", what, err, errlen);
	if (rc != DC_OK)
		goto out;
	began = 1;
	rc = read_generation(st, token, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	rc = prepare(st, "SELECT e.chunk_id, c.document_id, d.owner, e.dim, e.vector"
		     " FROM embeddings e JOIN chunks c ON c.id = e.chunk_id"
		     " JOIN documents d ON d.id = c.document_id"
		     " WHERE e.model = ?1 ORDER BY e.chunk_id", &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, model ? model : "") != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		rc = scan_row(s, sink, scratch, what, err, errlen);
		if (rc != DC_OK)
			goto out;
	}
	if (r != SQLITE_DONE) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	sqlite3_finalize(s);
	s = NULL;
	began = 0;
	rc = exec_script(st->db, "COMMIT", what, err, errlen);
out:
	sqlite3_finalize(s);
	if (began && !sqlite3_get_autocommit(st->db))
		exec_script(st->db, "ROLLBACK", "rollback", NULL, 0);
	free(scratch);
	if (rc != DC_OK)
		*token = -1;
	return rc;
}

enum dc_err store_chunks_get(struct store *st, const char *owner, const long long *ids,
			     size_t n, struct store_hit **out, size_t *nout, char *err,
			     size_t errlen)
{
	sqlite3_stmt *s = NULL;
	struct store_hit *arr = NULL;
	size_t len = 0, i;
	enum dc_err rc;
	int r;
	static const char what[] = "read chunks";

	*out = NULL;
	*nout = 0;
	if (n == 0)
		return DC_OK;
	arr = calloc(n, sizeof(*arr));
	if (!arr)
		return dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", what);
	/* 0.0 stands in for bm25 so that the row has the keyword search's shape. */
	rc = prepare(st, "SELECT c.id, c.document_id, d.name, c.heading, c.text, c.ordinal,"
		     " c.page, 0.0 FROM chunks c JOIN documents d ON d.id = c.document_id"
		     " WHERE c.id = ?1 AND (d.owner = ?2 OR d.owner = '')", &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (sqlite3_bind_int64(s, 1, ids[i]) != SQLITE_OK ||
		    bind_text(s, 2, owner ? owner : "") != SQLITE_OK) {
			rc = db_fail(st->db, err, errlen, what);
			goto out;
		}
		r = sqlite3_step(s);
		if (r == SQLITE_ROW) {
			rc = read_hit(s, &arr[len], err, errlen);
			if (rc != DC_OK)
				goto out;
			len++;
		} else if (r != SQLITE_DONE) {
			rc = db_fail(st->db, err, errlen, what);
			goto out;
		}
		sqlite3_reset(s);
	}
	*out = arr;
	*nout = len;
	arr = NULL;
out:
	store_hits_free(arr, len);
	sqlite3_finalize(s);
	return rc;
}

/* ---- documents: lookups and removal for ingestion and the command line ---- */

#define DOCUMENT_COLUMNS \
	"SELECT d.id, d.name, d.path, d.owner, d.hash, d.size, d.created_at," \
	" (SELECT count(*) FROM chunks c WHERE c.document_id = d.id) FROM documents d"

enum dc_err store_document_find_by_hash(struct store *st, const char *owner,
					const char *hash, long long *id, char *err,
					size_t errlen)
{
	*id = 0;
	return document_find(st, owner ? owner : "", hash ? hash : "", id, "find document",
			     err, errlen);
}

/* Every row of a prepared DOCUMENT_COLUMNS statement into *out. */
static enum dc_err document_rows(struct store *st, sqlite3_stmt *s, const char *what,
				 struct store_document **out, size_t *n, char *err,
				 size_t errlen)
{
	struct store_document *arr = NULL;
	size_t len = 0;
	enum dc_err rc = DC_OK;

	rc = collect_rows(st, s, (void **)&arr, &len, sizeof(*arr), row_document, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	*out = arr;
	*n = len;
	arr = NULL;
	len = 0;
out:
	store_documents_free(arr, len);
	return rc;
}

enum dc_err store_document_get(struct store *st, long long id, struct store_document **out,
			       char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	struct store_document *arr = NULL;
	size_t n = 0;
	enum dc_err rc;
	static const char what[] = "get document";

	*out = NULL;
	rc = prepare(st, DOCUMENT_COLUMNS " WHERE d.id = ?1", &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	rc = document_rows(st, s, what, &arr, &n, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (n == 0) {
		rc = dc_fail(err, errlen, DC_NOTFOUND, "document %lld not found", id);
		goto out;
	}
	*out = arr;	/* the id is the primary key: one row */
	arr = NULL;
	n = 0;
out:
	store_documents_free(arr, n);
	sqlite3_finalize(s);
	return rc;
}

enum dc_err store_document_list_all(struct store *st, struct store_document **out,
				    size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	static const char what[] = "list all documents";

	*out = NULL;
	*n = 0;
	rc = prepare(st, DOCUMENT_COLUMNS " ORDER BY d.owner, d.name, d.id", &s, what, err,
		     errlen);
	if (rc == DC_OK)
		rc = document_rows(st, s, what, out, n, err, errlen);
	sqlite3_finalize(s);
	return rc;
}

enum dc_err store_document_delete_by_path(struct store *st, const char *owner,
					  const char *path, long long keep_id, int *removed,
					  char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	static const char what[] = "replace document";

	*removed = 0;
	if (!path)
		return DC_OK;
	/* Chunks, their index entries and anything else keyed to them cascade. */
	rc = prepare(st, "DELETE FROM documents WHERE owner = ?1 AND path = ?2 AND id <> ?3",
		     &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, owner ? owner : "") != SQLITE_OK ||
	    bind_text(s, 2, path) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, keep_id) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	*removed = sqlite3_changes(st->db);
out:
	sqlite3_finalize(s);
	return rc;
}

/* ---- limits ---- */

enum dc_err store_rate_hit(struct store *st, const char *owner, long long now_ms,
			   long long window_ms, long long *window_start, long long *count,
			   char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	static const char what[] = "count request";

	*window_start = 0;
	*count = 0;
	/* One statement, so no transaction is needed for two processes to count alike. In
	 * the UPDATE every right-hand side sees the row as it was, so both CASEs decide on
	 * the old window. A clock that went back starts a new window too. */
	rc = prepare(st, "INSERT INTO limit_rate (owner, window_start, count) VALUES (?1, ?2, 1)"
		     " ON CONFLICT (owner) DO UPDATE SET"
		     "  count = CASE WHEN ?2 < window_start OR ?2 - window_start >= ?3"
		     "   THEN 1 ELSE count + 1 END,"
		     "  window_start = CASE WHEN ?2 < window_start OR ?2 - window_start >= ?3"
		     "   THEN ?2 ELSE window_start END"
		     " RETURNING window_start, count", &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, owner ? owner : "") != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, now_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, window_ms) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	if ((rc = col_int(s, 0, window_start, what, err, errlen)) != DC_OK ||
	    (rc = col_int(s, 1, count, what, err, errlen)) != DC_OK)
		goto out;
	if (sqlite3_step(s) != SQLITE_DONE) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	sqlite3_finalize(s);
	s = NULL;
	if (*count != 1)
		goto out;
	/* A window began: drop the windows of every user that have ended, so the table
	 * holds only users seen within the last window. */
	rc = prepare(st, "DELETE FROM limit_rate WHERE window_start <= ?1", &s, what, err, errlen);
	if (rc == DC_OK && (sqlite3_bind_int64(s, 1, now_ms - window_ms) != SQLITE_OK ||
			    sqlite3_step(s) != SQLITE_DONE))
		rc = db_fail(st->db, err, errlen, what);
out:
	sqlite3_finalize(s);
	return rc;
}

/* Delete one limit_streams row by id. */
static enum dc_err stream_row_delete(struct store *st, long long id, const char *what,
				     char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc = prepare(st, "DELETE FROM limit_streams WHERE id = ?1", &s, what, err,
				 errlen);

	if (rc == DC_OK && (sqlite3_bind_int64(s, 1, id) != SQLITE_OK ||
			    sqlite3_step(s) != SQLITE_DONE))
		rc = db_fail(st->db, err, errlen, what);
	sqlite3_finalize(s);
	return rc;
}

/* Count owner's live stream rows into *running and *oldest_ms, collecting the ids of
 * rows whose writer is gone into *dead (n of them; caller frees). */
static enum dc_err stream_rows_scan(struct store *st, const char *owner,
				    int (*alive)(void *ud, const char *worker), void *ud,
				    int *running, long long *oldest_ms, long long **dead,
				    size_t *n, const char *what, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	size_t cap = 0;
	enum dc_err rc;
	int step;

	rc = prepare(st, "SELECT id, worker, started_at FROM limit_streams WHERE owner = ?1",
		     &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, owner) != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		const char *w = (const char *)sqlite3_column_text(s, 1);
		long long started = sqlite3_column_int64(s, 2);

		if (w && alive && !alive(ud, w)) {
			if (grow_array((void **)dead, &cap, *n + 1, sizeof **dead) != DC_OK) {
				rc = dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", what);
				goto out;
			}
			(*dead)[(*n)++] = sqlite3_column_int64(s, 0);
			continue;
		}
		if (*running == 0 || started < *oldest_ms)
			*oldest_ms = started;
		(*running)++;
	}
	if (step != SQLITE_DONE)
		rc = db_fail(st->db, err, errlen, what);
out:
	sqlite3_finalize(s);
	return rc;
}

enum dc_err store_stream_begin(struct store *st, const char *owner, int max, long long now_ms,
			       long long stale_before_ms,
			       int (*alive)(void *ud, const char *worker), void *ud,
			       long long *slot, int *running, long long *oldest_ms,
			       char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	long long *dead = NULL;
	size_t ndead = 0;
	enum dc_err rc;
	static const char what[] = "count streams";

	*slot = 0;
	*running = 0;
	*oldest_ms = 0;
	if (!owner)
		owner = "";
	/* IMMEDIATE: the count and the insert are one step for every process, so two
	 * requests at once cannot both take the last slot. */
	rc = tx_begin(st, what, err, errlen);
	if (rc != DC_OK)
		return rc;
	if (stale_before_ms > 0) {
		rc = prepare(st, "DELETE FROM limit_streams WHERE started_at < ?1", &s, what, err,
			     errlen);
		if (rc == DC_OK && (sqlite3_bind_int64(s, 1, stale_before_ms) != SQLITE_OK ||
				    sqlite3_step(s) != SQLITE_DONE))
			rc = db_fail(st->db, err, errlen, what);
		sqlite3_finalize(s);
		s = NULL;
		if (rc != DC_OK)
			goto out;
	}
	rc = stream_rows_scan(st, owner, alive, ud, running, oldest_ms, &dead, &ndead, what,
			      err, errlen);
	for (size_t i = 0; rc == DC_OK && i < ndead; i++)
		rc = stream_row_delete(st, dead[i], what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (*running < max) {
		rc = prepare(st, "INSERT INTO limit_streams (owner, worker, started_at)"
			     " VALUES (?1, ?2, ?3)", &s, what, err, errlen);
		if (rc != DC_OK)
			goto out;
		if (bind_text(s, 1, owner) != SQLITE_OK || bind_text(s, 2, st->worker) != SQLITE_OK ||
		    sqlite3_bind_int64(s, 3, now_ms) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
			rc = db_fail(st->db, err, errlen, what);
			goto out;
		}
		*slot = sqlite3_last_insert_rowid(st->db);
	}
	rc = tx_commit(st, what, err, errlen);
	if (rc != DC_OK)
		*slot = 0;
out:
	sqlite3_finalize(s);
	free(dead);
	if (rc != DC_OK)
		tx_rollback(st);
	return rc;
}

enum dc_err store_stream_end(struct store *st, long long slot, char *err, size_t errlen)
{
	if (slot <= 0)
		return DC_OK;
	return stream_row_delete(st, slot, "end stream", err, errlen);
}

enum dc_err store_document_count(struct store *st, const char *owner, long long upto,
				 long long *n, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	static const char what[] = "count documents";

	*n = 0;
	rc = prepare(st, "SELECT count(*) FROM documents WHERE owner = ?1 AND (?2 <= 0 OR id <= ?2)",
		     &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, owner ? owner : "") != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, upto) != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	rc = col_int(s, 0, n, what, err, errlen);
out:
	sqlite3_finalize(s);
	return rc;
}

/* ---- API tokens ---- */

void store_tokens_free(struct store_token *t, size_t n)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < n; i++) {
		free(t[i].user);
		free(t[i].prefix);
	}
	free(t);
}

#define TOKEN_COLUMNS \
	"SELECT id, user, prefix, hash, created_at, last_used_at, revoked_at FROM tokens"

/* A nullable time column: NULL reads as 0. */
static enum dc_err col_time_or_zero(sqlite3_stmt *s, int i, long long *out, const char *what,
				    char *err, size_t errlen)
{
	*out = 0;
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return DC_OK;
	return col_int(s, i, out, what, err, errlen);
}

static enum dc_err read_token(sqlite3_stmt *s, struct store_token *t, char *err, size_t errlen)
{
	static const char what[] = "read token";
	const void *hash;
	enum dc_err rc;

	memset(t, 0, sizeof(*t));
	if ((rc = col_int(s, 0, &t->id, what, err, errlen)) != DC_OK ||
	    (rc = col_text(s, 1, 0, &t->user, what, err, errlen)) != DC_OK ||
	    (rc = col_text(s, 2, 0, &t->prefix, what, err, errlen)) != DC_OK ||
	    (rc = col_int(s, 4, &t->created_at, what, err, errlen)) != DC_OK ||
	    (rc = col_time_or_zero(s, 5, &t->last_used_at, what, err, errlen)) != DC_OK ||
	    (rc = col_time_or_zero(s, 6, &t->revoked_at, what, err, errlen)) != DC_OK)
		goto out;
	if (!t->user[0]) {
		rc = dc_fail(err, errlen, DC_DB, "%s: token %lld has no user", what, t->id);
		goto out;
	}
	hash = sqlite3_column_blob(s, 3);
	if (sqlite3_column_type(s, 3) != SQLITE_BLOB || !hash ||
	    sqlite3_column_bytes(s, 3) != STORE_TOKEN_HASH_LEN) {
		rc = dc_fail(err, errlen, DC_DB, "%s: token %lld: the hash is not %d bytes", what,
			     t->id, STORE_TOKEN_HASH_LEN);
		goto out;
	}
	memcpy(t->hash, hash, STORE_TOKEN_HASH_LEN);
out:
	if (rc != DC_OK) {
		free(t->user);
		free(t->prefix);
		memset(t, 0, sizeof(*t));
	}
	return rc;
}

static enum dc_err row_token(sqlite3_stmt *s, void *row, const char *what, char *err,
			     size_t errlen)
{
	(void)what;
	return read_token(s, row, err, errlen);
}

/* Every row of a prepared TOKEN_COLUMNS statement into *out. */
static enum dc_err token_rows(struct store *st, sqlite3_stmt *s, const char *what,
			      struct store_token **out, size_t *n, char *err, size_t errlen)
{
	struct store_token *arr = NULL;
	size_t len = 0;
	enum dc_err rc = DC_OK;

	rc = collect_rows(st, s, (void **)&arr, &len, sizeof(*arr), row_token, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	*out = arr;
	*n = len;
	arr = NULL;
	len = 0;
out:
	store_tokens_free(arr, len);
	return rc;
}

enum dc_err store_token_add(struct store *st, const char *user, const char *prefix,
			    const unsigned char hash[STORE_TOKEN_HASH_LEN], long long *id,
			    char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	static const char what[] = "create token";

	*id = 0;
	if (!user || !*user || !prefix || !*prefix || !hash)
		return dc_fail(err, errlen, DC_BADREQ, "%s: a user, a prefix and a hash are required",
			       what);
	rc = prepare(st, "INSERT INTO tokens (user, prefix, hash, created_at)"
		     " VALUES (?1, ?2, ?3, ?4)", &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, user) != SQLITE_OK || bind_text(s, 2, prefix) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 3, hash, STORE_TOKEN_HASH_LEN, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4, now_s()) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	*id = sqlite3_last_insert_rowid(st->db);
out:
	sqlite3_finalize(s);
	return rc;
}

enum dc_err store_token_find(struct store *st, const char *prefix, struct store_token **out,
			     size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	static const char what[] = "find token";

	*out = NULL;
	*n = 0;
	rc = prepare(st, TOKEN_COLUMNS " WHERE prefix = ?1 ORDER BY id", &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (bind_text(s, 1, prefix ? prefix : "") != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	rc = token_rows(st, s, what, out, n, err, errlen);
out:
	sqlite3_finalize(s);
	return rc;
}

enum dc_err store_token_list(struct store *st, struct store_token **out, size_t *n,
			     char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	static const char what[] = "list tokens";

	*out = NULL;
	*n = 0;
	rc = prepare(st, TOKEN_COLUMNS " ORDER BY id", &s, what, err, errlen);
	if (rc == DC_OK)
		rc = token_rows(st, s, what, out, n, err, errlen);
	sqlite3_finalize(s);
	return rc;
}

enum dc_err store_token_revoke(struct store *st, long long id, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	static const char what[] = "revoke token";

	rc = prepare(st, "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
		     &s, what, err, errlen);
	if (rc != DC_OK)
		goto out;
	if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, now_s()) != SQLITE_OK) {
		rc = db_fail(st->db, err, errlen, what);
		goto out;
	}
	rc = step_one_change(st, s, what, err, errlen);
	if (rc == DC_NOTFOUND)
		rc = dc_fail(err, errlen, rc, "no token %lld that is not revoked", id);
out:
	sqlite3_finalize(s);
	return rc;
}

enum dc_err store_token_touch(struct store *st, long long id, long long now, char *err,
			      size_t errlen)
{
	sqlite3_stmt *s = NULL;
	enum dc_err rc;
	static const char what[] = "note token use";

	rc = prepare(st, "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1", &s, what, err,
		     errlen);
	if (rc != DC_OK)
		goto out;
	if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, now) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE)
		rc = db_fail(st->db, err, errlen, what);
out:
	sqlite3_finalize(s);
	return rc;
}
