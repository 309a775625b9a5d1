/* test_store.c - store.c against a real SQLite file in a temporary directory: schema and
 * migration, sessions, owner isolation, messages, recovery, documents, cascades into the
 * FTS index, search filters, row validation and health. A second raw connection plays
 * the part of an old, damaged or hand-edited database. */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "store.h"

#include "testdb.h"

static int contains(const char *s, const char *sub)
{
	return s && strstr(s, sub) != NULL;
}

static void test_open_creates_schema_in_wal(void)
{
	struct store *st = fresh();
	char err[DC_ERRMAX] = "";

	CHECK(st != NULL);
	CHECK_INT(raw("PRAGMA user_version"), 5);
	CHECK_INT(raw("SELECT count(*) FROM sqlite_master WHERE name IN ('sessions',"
		      " 'messages', 'documents', 'chunks', 'chunks_fts',"
		      " 'messages_session', 'sessions_owner_updated', 'chunks_document')"), 8);
	CHECK_INT(raw("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"), 6);
	CHECK_INT(raw("SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
	CHECK_INT(store_health(st, err, sizeof(err)), DC_OK);
	store_close(st);
}

static void test_reopen_keeps_data_and_version(void)
{
	struct store *st = fresh();
	struct store_session s, got;
	char err[DC_ERRMAX] = "";

	memset(&got, 0, sizeof(got));
	CHECK_INT(store_session_create(st, "", "kept", &s, err, sizeof(err)), DC_OK);
	store_close(st);
	st = NULL;
	CHECK_INT(store_open(dbpath, &st, err, sizeof(err)), DC_OK);
	CHECK_INT(raw("PRAGMA user_version"), 5);
	CHECK_INT(store_session_get(st, "", s.id, &got, err, sizeof(err)), DC_OK);
	CHECK_STR(got.title, "kept");
	store_session_clear(&got);
	store_session_clear(&s);
	store_close(st);
}

static void test_open_missing_directory_names_path(void)
{
	struct store *st = (struct store *)1;
	char err[DC_ERRMAX] = "";

	CHECK_INT(store_open("/tmp/docchat-no-such-dir-4711/x.db", &st, err, sizeof(err)),
		  DC_SYSTEM);
	CHECK(st == NULL);
	CHECK_STR(err, "open database /tmp/docchat-no-such-dir-4711/x.db: directory "
		  "/tmp/docchat-no-such-dir-4711: No such file or directory");
	CHECK_INT(store_open("", &st, err, sizeof(err)), DC_BADREQ);
}

static void test_open_refuses_newer_schema(void)
{
	struct store *st = fresh();
	char err[DC_ERRMAX] = "";

	store_close(st);
	st = NULL;
	CHECK_INT(raw("PRAGMA user_version = 99; PRAGMA user_version"), 99);
	CHECK_INT(store_open(dbpath, &st, err, sizeof(err)), DC_DB);
	CHECK(st == NULL);
	CHECK(contains(err, "schema version 99 is newer than this docchat knows (5)"));
	CHECK(contains(err, dbpath));
}

static void test_health_reports_wrong_version(void)
{
	struct store *st = fresh();
	char err[DC_ERRMAX] = "";

	CHECK_INT(raw("PRAGMA user_version = 7; PRAGMA user_version"), 7);
	CHECK_INT(store_health(st, err, sizeof(err)), DC_DB);
	CHECK_STR(err, "database health: schema version 7, expected 5");
	store_close(st);
}

static void test_session_crud(void)
{
	struct store *st = fresh();
	struct store_session a, b, got;
	struct store_session *list = NULL;
	size_t n = 0;
	char err[DC_ERRMAX] = "";

	memset(&got, 0, sizeof(got));
	CHECK_INT(store_session_create(st, "", NULL, &a, err, sizeof(err)), DC_OK);
	CHECK_STR(a.title, "New chat");
	CHECK_INT(strlen(a.id), STORE_ID_LEN);
	CHECK(a.id[8] == '-' && a.id[13] == '-' && a.id[18] == '-' && a.id[23] == '-');
	CHECK(a.id[14] == '4');
	CHECK(strchr("89ab", a.id[19]) != NULL);
	CHECK_INT(a.message_count, 0);
	CHECK(a.created_at > 1600000000LL && a.updated_at == a.created_at);

	CHECK_INT(store_session_create(st, "", "Grüße 日本語 🎉 \"quoted\" 'x'", &b, err,
				       sizeof(err)), DC_OK);
	CHECK(strcmp(a.id, b.id) != 0);
	CHECK_INT(store_session_get(st, "", b.id, &got, err, sizeof(err)), DC_OK);
	CHECK_STR(got.title, "Grüße 日本語 🎉 \"quoted\" 'x'");
	store_session_clear(&got);

	CHECK_INT(store_session_rename(st, "", a.id, "Renamed", err, sizeof(err)), DC_OK);
	CHECK_INT(store_session_get(st, "", a.id, &got, err, sizeof(err)), DC_OK);
	CHECK_STR(got.title, "Renamed");
	store_session_clear(&got);

	CHECK_INT(store_session_list(st, "", &list, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 2);
	store_sessions_free(list, n);

	CHECK_INT(store_session_delete(st, "", a.id, err, sizeof(err)), DC_OK);
	CHECK_INT(store_session_get(st, "", a.id, &got, err, sizeof(err)), DC_NOTFOUND);
	CHECK(contains(err, "not found"));
	CHECK_INT(store_session_delete(st, "", a.id, err, sizeof(err)), DC_NOTFOUND);
	CHECK_INT(store_session_list(st, "", &list, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 1);
	CHECK_STR(list[0].id, b.id);
	store_sessions_free(list, n);
	store_session_clear(&a);
	store_session_clear(&b);
	store_close(st);
}

static void test_session_list_newest_first(void)
{
	struct store *st = fresh();
	struct store_session a, b;
	struct store_session *list = NULL;
	size_t n = 0;
	char err[DC_ERRMAX] = "", sql[256];

	CHECK_INT(store_session_create(st, "", "A", &a, err, sizeof(err)), DC_OK);
	CHECK_INT(store_session_create(st, "", "B", &b, err, sizeof(err)), DC_OK);
	CHECK(snprintf(sql, sizeof(sql), "UPDATE sessions SET updated_at = 200 WHERE id = '%s';"
		       "UPDATE sessions SET updated_at = 100 WHERE id = '%s'", a.id, b.id) <
	      (int)sizeof(sql));
	CHECK_INT(raw(sql), 0);
	CHECK_INT(store_session_list(st, "", &list, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(list[0].title, "A");
		CHECK_STR(list[1].title, "B");
	}
	store_sessions_free(list, n);
	/* a message is activity: B moves to the top */
	CHECK_INT(store_message_add(st, b.id, "user", "hi", "complete", NULL, NULL, err,
				    sizeof(err)), DC_OK);
	CHECK_INT(store_session_list(st, "", &list, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(list[0].title, "B");
		CHECK_INT(list[0].message_count, 1);
		CHECK(list[0].updated_at > 1600000000LL);
	}
	store_sessions_free(list, n);
	store_session_clear(&a);
	store_session_clear(&b);
	store_close(st);
}

static void test_owner_isolation_is_notfound(void)
{
	struct store *st = fresh();
	struct store_session a, got;
	struct store_session *list = NULL;
	size_t n = 9;
	char err[DC_ERRMAX] = "", want[DC_ERRMAX];

	memset(&got, 0, sizeof(got));
	CHECK_INT(store_session_create(st, "alice", "mine", &a, err, sizeof(err)), DC_OK);
	CHECK(snprintf(want, sizeof(want), "session %s not found", a.id) < (int)sizeof(want));
	CHECK_INT(store_session_get(st, "bob", a.id, &got, err, sizeof(err)), DC_NOTFOUND);
	CHECK_STR(err, want);
	CHECK_INT(store_session_get(st, "", a.id, &got, err, sizeof(err)), DC_NOTFOUND);
	CHECK_INT(store_session_rename(st, "bob", a.id, "x", err, sizeof(err)), DC_NOTFOUND);
	CHECK_STR(err, want);
	CHECK_INT(store_session_delete(st, "bob", a.id, err, sizeof(err)), DC_NOTFOUND);
	CHECK_STR(err, want);
	CHECK_INT(store_session_list(st, "bob", &list, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 0);
	store_sessions_free(list, n);
	/* a missing id reads the same as someone else's */
	CHECK_INT(store_session_get(st, "bob", "00000000-0000-4000-8000-000000000000", &got,
				    err, sizeof(err)), DC_NOTFOUND);
	CHECK_STR(err, "session 00000000-0000-4000-8000-000000000000 not found");
	CHECK_INT(store_session_get(st, "alice", a.id, &got, err, sizeof(err)), DC_OK);
	CHECK_STR(got.title, "mine");
	store_session_clear(&got);
	store_session_clear(&a);
	store_close(st);
}

static void test_messages_add_finish_list(void)
{
	struct store *st = fresh();
	struct store_session s, got;
	struct store_message *m = NULL;
	size_t n = 0;
	long long u = 0, a = 0;
	char err[DC_ERRMAX] = "";

	memset(&got, 0, sizeof(got));
	CHECK_INT(store_session_create(st, "", "chat", &s, err, sizeof(err)), DC_OK);
	CHECK_INT(store_message_add(st, s.id, "user", "What is WAL?", "complete", NULL, &u,
				    err, sizeof(err)), DC_OK);
	CHECK_INT(store_message_add(st, s.id, "assistant", "", "streaming", "ollama:llama3",
				    &a, err, sizeof(err)), DC_OK);
	CHECK(u > 0 && a > u);
	CHECK_INT(store_message_finish(st, a, "Write-ahead logging [1].", "complete", NULL,
				       "[{\"n\":1}]", "{\"ms\":12}", err, sizeof(err)), DC_OK);
	CHECK_INT(store_message_list(st, s.id, &m, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_INT(m[0].id, u);
		CHECK_STR(m[0].role, "user");
		CHECK_STR(m[0].status, "complete");
		CHECK_STR(m[0].content, "What is WAL?");
		CHECK(m[0].model == NULL && m[0].error == NULL && m[0].sources == NULL);
		CHECK_INT(m[1].id, a);
		CHECK_STR(m[1].role, "assistant");
		CHECK_STR(m[1].content, "Write-ahead logging [1].");
		CHECK_STR(m[1].model, "ollama:llama3");
		CHECK_STR(m[1].sources, "[{\"n\":1}]");
		CHECK_STR(m[1].metadata, "{\"ms\":12}");
		CHECK(m[1].error == NULL);
	}
	store_messages_free(m, n);
	CHECK_INT(store_session_get(st, "", s.id, &got, err, sizeof(err)), DC_OK);
	CHECK_INT(got.message_count, 2);
	store_session_clear(&got);

	CHECK_INT(store_message_finish(st, a, "partial", "error", "ollama: model 'x' not found",
				       NULL, NULL, err, sizeof(err)), DC_OK);
	CHECK_INT(store_message_list(st, s.id, &m, &n, err, sizeof(err)), DC_OK);
	if (n == 2) {
		CHECK_STR(m[1].status, "error");
		CHECK_STR(m[1].error, "ollama: model 'x' not found");
		CHECK(m[1].sources == NULL);
	}
	store_messages_free(m, n);

	CHECK_INT(store_message_add(st, "no-such-session", "user", "x", "complete", NULL, NULL,
				    err, sizeof(err)), DC_NOTFOUND);
	CHECK_STR(err, "session no-such-session not found");
	CHECK_INT(store_message_add(st, s.id, "system", "x", "complete", NULL, NULL, err,
				    sizeof(err)), DC_BADREQ);
	CHECK_INT(store_message_add(st, s.id, "user", "x", "done", NULL, NULL, err,
				    sizeof(err)), DC_BADREQ);
	CHECK_INT(store_message_finish(st, a, "x", "bogus", NULL, NULL, NULL, err, sizeof(err)),
		  DC_BADREQ);
	CHECK_INT(store_message_finish(st, 999999, "x", "complete", NULL, NULL, NULL, err,
				       sizeof(err)), DC_NOTFOUND);
	CHECK_STR(err, "message 999999 not found");
	/* deleting the session takes its messages */
	CHECK_INT(store_session_delete(st, "", s.id, err, sizeof(err)), DC_OK);
	CHECK_INT(raw("SELECT count(*) FROM messages"), 0);
	store_session_clear(&s);
	store_close(st);
}

static void test_recover_streaming(void)
{
	struct store *st = fresh();
	struct store_session s;
	struct store_message *m = NULL;
	size_t n = 0;
	int count = -1;
	char err[DC_ERRMAX] = "";

	CHECK_INT(store_session_create(st, "", "c", &s, err, sizeof(err)), DC_OK);
	CHECK_INT(store_message_add(st, s.id, "user", "q", "complete", NULL, NULL, err,
				    sizeof(err)), DC_OK);
	CHECK_INT(store_message_add(st, s.id, "assistant", "half", "streaming", "m", NULL, err,
				    sizeof(err)), DC_OK);
	CHECK_INT(store_message_add(st, s.id, "assistant", "done", "complete", "m", NULL, err,
				    sizeof(err)), DC_OK);
	CHECK_INT(store_message_add(st, s.id, "assistant", "", "streaming", "m", NULL, err,
				    sizeof(err)), DC_OK);
	CHECK_INT(store_recover_streaming(st, NULL, NULL, &count, err, sizeof(err)), DC_OK);
	CHECK_INT(count, 2);
	CHECK_INT(store_message_list(st, s.id, &m, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 4);
	if (n == 4) {
		CHECK_STR(m[0].status, "complete");
		CHECK_STR(m[1].status, "interrupted");
		CHECK_STR(m[1].content, "half");
		CHECK_STR(m[2].status, "complete");
		CHECK_STR(m[3].status, "interrupted");
	}
	store_messages_free(m, n);
	CHECK_INT(store_recover_streaming(st, NULL, NULL, &count, err, sizeof(err)), DC_OK);
	CHECK_INT(count, 0);
	store_session_clear(&s);
	store_close(st);
}

static int alive_named(void *ud, const char *worker)
{
	return strcmp(worker, (const char *)ud) == 0;
}

static void test_recovery_spares_answers_of_live_writers(void)
{
	struct store *st = fresh();
	struct store_session s;
	struct store_message *m = NULL;
	size_t n = 0;
	int count = -1;
	char err[DC_ERRMAX] = "";

	CHECK_INT(store_session_create(st, "", "w", &s, err, sizeof(err)), DC_OK);
	CHECK_INT(store_set_worker(st, "111:5"), DC_OK);
	CHECK_INT(store_message_add(st, s.id, "assistant", "live", "streaming", "m", NULL, err,
				    sizeof(err)), DC_OK);
	CHECK_INT(store_set_worker(st, "222:7"), DC_OK);
	CHECK_INT(store_message_add(st, s.id, "assistant", "dead", "streaming", "m", NULL, err,
				    sizeof(err)), DC_OK);
	CHECK_INT(store_set_worker(st, NULL), DC_OK);
	CHECK_INT(store_message_add(st, s.id, "assistant", "old", "streaming", "m", NULL, err,
				    sizeof(err)), DC_OK);
	CHECK_INT(store_recover_streaming(st, alive_named, (void *)"111:5", &count, err,
					  sizeof(err)), DC_OK);
	CHECK_INT(count, 2);
	CHECK_INT(store_message_list(st, s.id, &m, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 3);
	if (n == 3) {
		CHECK_STR(m[0].status, "streaming");
		CHECK_STR(m[1].status, "interrupted");
		CHECK_STR(m[2].status, "interrupted");
	}
	store_messages_free(m, n);
	store_session_clear(&s);
	store_close(st);
}

static void test_rows_read_back_are_validated(void)
{
	struct store *st = fresh();
	struct store_session s;
	struct store_message *m = NULL;
	size_t n = 0;
	long long id = 0;
	char err[DC_ERRMAX] = "", sql[256];

	CHECK_INT(store_session_create(st, "", "c", &s, err, sizeof(err)), DC_OK);
	CHECK_INT(store_message_add(st, s.id, "user", "q", "complete", NULL, &id, err,
				    sizeof(err)), DC_OK);
	CHECK(snprintf(sql, sizeof(sql), "PRAGMA ignore_check_constraints = ON;"
		       " UPDATE messages SET status = 'bogus' WHERE id = %lld", id) <
	      (int)sizeof(sql));
	CHECK_INT(raw(sql), 0);
	CHECK_INT(store_message_list(st, s.id, &m, &n, err, sizeof(err)), DC_DB);
	CHECK(m == NULL && n == 0);
	CHECK_STR(err, "list messages: message 1: unknown status 'bogus'");
	CHECK(snprintf(sql, sizeof(sql), "UPDATE messages SET status = 'complete',"
		       " created_at = 'soon' WHERE id = %lld", id) < (int)sizeof(sql));
	CHECK_INT(raw(sql), 0);
	CHECK_INT(store_message_list(st, s.id, &m, &n, err, sizeof(err)), DC_DB);
	CHECK_STR(err, "list messages: message 1: column created_at is not an integer");
	CHECK(snprintf(sql, sizeof(sql), "UPDATE messages SET created_at = 5,"
		       " content = x'00ff' WHERE id = %lld", id) < (int)sizeof(sql));
	CHECK_INT(raw(sql), 0);
	CHECK_INT(store_message_list(st, s.id, &m, &n, err, sizeof(err)), DC_DB);
	CHECK_STR(err, "list messages: message 1: column content is not text");
	store_session_clear(&s);
	store_close(st);
}

static const struct store_chunk_in doc_a[] = {
	{ "SQLite uses write-ahead logging for concurrency.", "Storage > WAL", 0, 48, 0 },
	{ "Checkpoints move pages back into the database file.", "Storage > WAL", 49, 100, 0 },
	{ "Busy timeouts make writers wait instead of failing.", NULL, 101, 152, 0 },
};
static const struct store_chunk_in doc_b[] = {
	{ "Logging logging logging everywhere.", NULL, 0, 35, 0 },
};

static long long add_doc(struct store *st, const char *owner, const char *name,
			 const char *hash, const struct store_chunk_in *c, size_t n,
			 int *existed)
{
	long long id = 0;
	char err[DC_ERRMAX] = "";

	if (store_document_add(st, owner, name, NULL, hash, 100, c, n, &id, existed, err,
			       sizeof(err)) != DC_OK) {
		printf("# add_doc: %s\n", err);
		return -1;
	}
	return id;
}

static void test_document_add_duplicate_and_list(void)
{
	struct store *st = fresh();
	struct store_document *d = NULL;
	size_t n = 0;
	long long shared, again, mine;
	int existed = -1;
	char err[DC_ERRMAX] = "";

	shared = add_doc(st, "", "wal.md", "fnv1a64:0000000000000001", doc_a, 3, &existed);
	CHECK(shared > 0);
	CHECK_INT(existed, 0);
	again = add_doc(st, "", "copy.md", "fnv1a64:0000000000000001", doc_a, 3, &existed);
	CHECK_INT(existed, 1);
	CHECK_INT(again, shared);
	CHECK_INT(raw("SELECT count(*) FROM chunks"), 3);
	/* the same content is a separate document for another owner */
	mine = add_doc(st, "alice", "b.txt", "fnv1a64:0000000000000001", doc_b, 1, &existed);
	CHECK_INT(existed, 0);
	CHECK(mine > shared);

	CHECK_INT(store_document_list(st, "alice", &d, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(d[0].name, "b.txt");
		CHECK_STR(d[0].owner, "alice");
		CHECK_INT(d[0].chunk_count, 1);
		CHECK_STR(d[1].name, "wal.md");
		CHECK_STR(d[1].owner, "");
		CHECK_STR(d[1].hash, "fnv1a64:0000000000000001");
		CHECK_INT(d[1].size, 100);
		CHECK_INT(d[1].chunk_count, 3);
		CHECK(d[1].path == NULL);
	}
	store_documents_free(d, n);
	CHECK_INT(store_document_list(st, "bob", &d, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 1);
	store_documents_free(d, n);
	CHECK_INT(store_document_add(st, "", "", NULL, "h", 1, doc_b, 1, &again, &existed, err,
				     sizeof(err)), DC_BADREQ);
	store_close(st);
}

static void test_document_delete_cascades_to_chunks_and_index(void)
{
	struct store *st = fresh();
	struct store_hit *h = NULL;
	size_t n = 0;
	long long shared, mine;
	int existed = 0;
	char err[DC_ERRMAX] = "";

	shared = add_doc(st, "", "wal.md", "h1", doc_a, 3, &existed);
	mine = add_doc(st, "alice", "b.txt", "h2", doc_b, 1, &existed);
	/* shared rows: everyone sees them, only owner "" deletes them */
	CHECK_INT(store_document_delete(st, "alice", shared, err, sizeof(err)), DC_NOTFOUND);
	CHECK_INT(store_document_delete(st, "bob", mine, err, sizeof(err)), DC_NOTFOUND);
	CHECK_STR(err, "document 2 not found");
	CHECK_INT(store_document_delete(st, "", mine, err, sizeof(err)), DC_NOTFOUND);
	CHECK_INT(store_document_delete(st, "alice", 12345, err, sizeof(err)), DC_NOTFOUND);
	CHECK_STR(err, "document 12345 not found");

	CHECK_INT(store_search_fts(st, "alice", "\"logging\"", NULL, 0, 10, &h, &n, err,
				   sizeof(err)), DC_OK);
	CHECK_INT(n, 2);
	store_hits_free(h, n);
	CHECK_INT(store_document_delete(st, "", shared, err, sizeof(err)), DC_OK);
	CHECK_INT(raw("SELECT count(*) FROM chunks"), 1);
	CHECK_INT(raw("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'checkpoints'"), 0);
	CHECK_INT(raw("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check');"
		      " SELECT 7"), 7);
	CHECK_INT(store_search_fts(st, "alice", "\"logging\"", NULL, 0, 10, &h, &n, err,
				   sizeof(err)), DC_OK);
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK_INT(h[0].document_id, mine);
	store_hits_free(h, n);
	CHECK_INT(store_document_delete(st, "alice", mine, err, sizeof(err)), DC_OK);
	CHECK_INT(raw("SELECT count(*) FROM chunks"), 0);
	store_close(st);
}

static void test_chunk_update_keeps_index_in_step(void)
{
	struct store *st = fresh();
	struct store_hit *h = NULL;
	size_t n = 0;
	int existed = 0;
	char err[DC_ERRMAX] = "";

	CHECK(add_doc(st, "", "b.txt", "h", doc_b, 1, &existed) > 0);
	CHECK_INT(raw("UPDATE chunks SET text = 'zebras grazing'"), 0);
	CHECK_INT(store_search_fts(st, "", "\"logging\"", NULL, 0, 10, &h, &n, err,
				   sizeof(err)), DC_OK);
	CHECK_INT(n, 0);
	store_hits_free(h, n);
	CHECK_INT(store_search_fts(st, "", "\"zebra\"", NULL, 0, 10, &h, &n, err,
				   sizeof(err)), DC_OK);
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK_STR(h[0].text, "zebras grazing");
	store_hits_free(h, n);
	store_close(st);
}

static void test_search_ranks_filters_and_limits(void)
{
	static const struct store_chunk_in headed[] = {
		{ "nothing relevant in this text at all", "Logging", 0, 10, 3 },
	};
	struct store *st = fresh();
	struct store_hit *h = NULL;
	size_t n = 0;
	long long a, b, c, ids[200];
	int existed = 0, i;
	char err[DC_ERRMAX] = "";

	a = add_doc(st, "", "wal.md", "h1", doc_a, 3, &existed);
	b = add_doc(st, "", "b.txt", "h2", doc_b, 1, &existed);
	c = add_doc(st, "", "h.md", "h3", headed, 1, &existed);
	CHECK_INT(add_doc(st, "carol", "secret.txt", "h4", doc_b, 1, &existed), 4);

	CHECK_INT(store_search_fts(st, "alice", "\"logging\"", NULL, 0, 10, &h, &n, err,
				   sizeof(err)), DC_OK);
	CHECK_INT(n, 3);	/* carol's copy is not visible to alice */
	if (n == 3) {
		/* three mentions in a short text first; a heading-only match last */
		CHECK_INT(h[0].document_id, b);
		CHECK_STR(h[0].document, "b.txt");
		CHECK(h[0].heading == NULL);
		CHECK_INT(h[0].ordinal, 0);
		CHECK_INT(h[1].document_id, a);
		CHECK_STR(h[1].heading, "Storage > WAL");
		CHECK_STR(h[1].text, "SQLite uses write-ahead logging for concurrency.");
		CHECK_INT(h[2].document_id, c);
		CHECK_INT(h[2].page, 3);
		CHECK(h[0].bm25 <= h[1].bm25 && h[1].bm25 <= h[2].bm25 && h[2].bm25 < 0);
	}
	store_hits_free(h, n);

	CHECK_INT(store_search_fts(st, "", "\"logging\" OR \"busy\"", &a, 1, 10, &h, &n, err,
				   sizeof(err)), DC_OK);
	CHECK_INT(n, 2);
	if (n == 2)
		CHECK(h[0].document_id == a && h[1].document_id == a);
	store_hits_free(h, n);

	CHECK_INT(store_search_fts(st, "", "\"logging\"", NULL, 0, 1, &h, &n, err,
				   sizeof(err)), DC_OK);
	CHECK_INT(n, 1);
	store_hits_free(h, n);

	/* a long id list is all placeholders */
	for (i = 0; i < 200; i++)
		ids[i] = 1000 + i;
	ids[150] = c;
	CHECK_INT(store_search_fts(st, "", "\"logging\"", ids, 200, 10, &h, &n, err,
				   sizeof(err)), DC_OK);
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK_INT(h[0].document_id, c);
	store_hits_free(h, n);

	CHECK_INT(store_search_fts(st, "", "", NULL, 0, 10, &h, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 0);
	/* a broken expression (search.c never builds one) is a database error */
	CHECK_INT(store_search_fts(st, "", "\"unbalanced", NULL, 0, 10, &h, &n, err,
				   sizeof(err)), DC_DB);
	CHECK(contains(err, "keyword search: "));
	CHECK(h == NULL && n == 0);
	store_close(st);
}

/* Issue #5: the end of an answer that the database refused (locked past the busy
 * timeout, full, read-only) is kept in memory and written by a later flush; an end whose
 * message is gone meanwhile is dropped, not retried for ever. */
static void test_issue5_deferred_end_is_written_later(void)
{
	struct store *st = fresh();
	struct store_session s;
	struct store_message *m = NULL;
	size_t n = 0, written = 9;
	long long a = 0;
	char err[DC_ERRMAX] = "";

	CHECK_INT(store_deferred_count(), 0);
	CHECK_INT(store_session_create(st, "", "chat", &s, err, sizeof(err)), DC_OK);
	CHECK_INT(store_message_add(st, s.id, "assistant", "", "streaming", "openai:x", &a, err,
				    sizeof(err)), DC_OK);
	CHECK_INT(store_defer_finish(a, "the whole answer", "error", "database: locked", "[]",
				     NULL), DC_OK);
	CHECK_INT(store_defer_finish(999999, "gone", "complete", NULL, NULL, NULL), DC_OK);
	CHECK_INT(store_deferred_count(), 2);
	CHECK_INT(store_flush_deferred(st, &written), 0);
	CHECK_INT(written, 1);
	CHECK_INT(store_message_list(st, s.id, &m, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 1);
	if (n == 1) {
		CHECK_STR(m[0].status, "error");
		CHECK_STR(m[0].content, "the whole answer");
		CHECK_STR(m[0].error, "database: locked");
		CHECK_STR(m[0].sources, "[]");
		CHECK(m[0].metadata == NULL);
	}
	store_messages_free(m, n);
	CHECK_INT(raw("SELECT count(*) FROM messages WHERE worker IS NOT NULL"), 0);
	store_session_clear(&s);
	store_close(st);
}

/* The question and its answer's row go in together, or not at all. */
static void test_exchange_begin_stores_both_rows(void)
{
	struct store *st = fresh();
	struct store_session s;
	struct store_message *m = NULL;
	size_t n = 0;
	long long q = 0, a = 0;
	char err[DC_ERRMAX] = "";

	CHECK_INT(store_set_worker(st, "42:7"), DC_OK);
	CHECK_INT(store_session_create(st, "", "chat", &s, err, sizeof(err)), DC_OK);
	CHECK_INT(store_exchange_begin(st, s.id, "Why WAL?", "openai:m", &q, &a, err,
				       sizeof(err)), DC_OK);
	CHECK(q > 0 && a > q);
	CHECK_INT(store_message_list(st, s.id, &m, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(m[0].role, "user");
		CHECK_STR(m[0].content, "Why WAL?");
		CHECK_STR(m[0].status, "complete");
		CHECK(m[0].model == NULL);
		CHECK_INT(m[1].id, a);
		CHECK_STR(m[1].role, "assistant");
		CHECK_STR(m[1].content, "");
		CHECK_STR(m[1].status, "streaming");
		CHECK_STR(m[1].model, "openai:m");
	}
	store_messages_free(m, n);
	CHECK_INT(raw("SELECT count(*) FROM messages WHERE worker = '42:7'"), 1);
	CHECK_INT(store_exchange_begin(st, "no-such-session", "x", "m", &q, &a, err,
				       sizeof(err)), DC_NOTFOUND);
	CHECK_STR(err, "session no-such-session not found");
	CHECK(q == 0 && a == 0);
	CHECK_INT(raw("SELECT count(*) FROM messages"), 2);
	store_session_clear(&s);
	store_close(st);
}

struct held_lock {
	sqlite3 *db;
	int ms;
};

static void *release_later(void *arg)
{
	struct held_lock *h = arg;
	struct timespec ts = { 0, h->ms * 1000000L };

	nanosleep(&ts, NULL);
	sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
	return NULL;
}

/* Another connection holding the write lock for a while delays a write; it does not
 * fail it. */
static void test_a_held_write_lock_is_waited_for(void)
{
	struct store *st = fresh();
	struct store_session s;
	struct held_lock h = { NULL, 50 };
	pthread_t tid;
	long long q = 0, a = 0;
	char err[DC_ERRMAX] = "";

	CHECK_INT(store_session_create(st, "", "chat", &s, err, sizeof(err)), DC_OK);
	CHECK(sqlite3_open(dbpath, &h.db) == SQLITE_OK);
	CHECK(sqlite3_exec(h.db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
	CHECK(pthread_create(&tid, NULL, release_later, &h) == 0);
	CHECK_INT(store_exchange_begin(st, s.id, "q", "m", &q, &a, err, sizeof(err)), DC_OK);
	pthread_join(tid, NULL);
	sqlite3_close(h.db);
	CHECK(a > 0);
	store_session_clear(&s);
	store_close(st);
}

/* Issue #5: in WAL mode SQLite goes on writing to a database file that was renamed or
 * deleted; store_stale tells the server to open the path again. */
static void test_issue5_stale_when_the_file_moves(void)
{
	struct store *st = fresh();
	char moved[160];

	CHECK(snprintf(moved, sizeof(moved), "%s.moved", dbpath) > 0);
	CHECK_INT(store_stale(st), 0);
	CHECK_INT(rename(dbpath, moved), 0);
	CHECK_INT(store_stale(st), 1);
	CHECK_INT(rename(moved, dbpath), 0);
	CHECK_INT(store_stale(st), 0);
	store_close(st);
}

int main(void)
{
	if (!testdb_setup("docchat-test-store"))
		return 1;
	RUN(test_open_creates_schema_in_wal);
	RUN(test_reopen_keeps_data_and_version);
	RUN(test_open_missing_directory_names_path);
	RUN(test_open_refuses_newer_schema);
	RUN(test_health_reports_wrong_version);
	RUN(test_session_crud);
	RUN(test_session_list_newest_first);
	RUN(test_owner_isolation_is_notfound);
	RUN(test_messages_add_finish_list);
	RUN(test_exchange_begin_stores_both_rows);
	RUN(test_a_held_write_lock_is_waited_for);
	RUN(test_recover_streaming);
	RUN(test_recovery_spares_answers_of_live_writers);
	RUN(test_rows_read_back_are_validated);
	RUN(test_document_add_duplicate_and_list);
	RUN(test_document_delete_cascades_to_chunks_and_index);
	RUN(test_chunk_update_keeps_index_in_step);
	RUN(test_search_ranks_filters_and_limits);
	RUN(test_issue5_deferred_end_is_written_later);
	RUN(test_issue5_stale_when_the_file_moves);
	testdb_cleanup();
	return check_summary();
}
