/* test_ingest.c - ingest.c: .txt and .md files and texts into the store, a directory
 * walk (sorted, dot-files skipped, symbolic link loop noticed), rejection of non-UTF-8
 * and binary files with the offending byte named, BOM and CRLF normalisation, the
 * content hash and skipping of documents already stored. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "config.h"
#include "ingest.h"
#include "store.h"

static char tmpdir[64];
static char dbpath[128];
static char docs[128];
static struct store *st;

static int write_file(const char *rel, const char *data, size_t len)
{
	char p[256];
	FILE *f;
	int ok;

	if (snprintf(p, sizeof(p), "%s/%s", tmpdir, rel) < 0)
		return 0;
	f = fopen(p, "wb");
	if (!f)
		return 0;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok;
}

static int make_dir(const char *rel)
{
	char p[256];

	return snprintf(p, sizeof(p), "%s/%s", tmpdir, rel) > 0 && mkdir(p, 0755) == 0;
}

static struct store *fresh(void)
{
	struct store *s = NULL;
	char err[DC_ERRMAX] = "", p[160];

	if (snprintf(p, sizeof(p), "%s-wal", dbpath) > 0)
		unlink(p);
	if (snprintf(p, sizeof(p), "%s-shm", dbpath) > 0)
		unlink(p);
	unlink(dbpath);
	if (store_open(dbpath, &s, err, sizeof(err)) != DC_OK)
		printf("# store_open: %s\n", err);
	return s;
}

/* First column of the first row of sql, run on a second connection; -1 on error. */
static long long raw_int(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long v = -1;

	if (sqlite3_open(dbpath, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* Replace every "@" in tmpl with the docs directory. */
static void expand(const char *tmpl, char *out, size_t outlen)
{
	size_t o = 0, dl = strlen(docs);

	for (; *tmpl && o + dl + 1 < outlen; tmpl++) {
		if (*tmpl == '@') {
			memcpy(out + o, docs, dl);
			o += dl;
		} else {
			out[o++] = *tmpl;
		}
	}
	out[o] = '\0';
}

/* ingest_path with the log captured into *log (caller frees). */
static enum dc_err ingest_logged(const char *path, struct ingest_stats *stats, char **log,
				 char *err, size_t errlen)
{
	size_t len = 0;
	FILE *f = open_memstream(log, &len);
	enum dc_err rc;

	if (!f)
		return DC_SYSTEM;
	rc = ingest_path(st, NULL, "", path, stats, f, err, errlen);
	fclose(f);
	return rc;
}

static struct store_hit *search_one(const char *match, size_t *n)
{
	struct store_hit *h = NULL;
	char err[DC_ERRMAX] = "";

	*n = 0;
	if (store_search_fts(st, "", match, NULL, 0, 10, &h, n, err, sizeof(err)) != DC_OK)
		printf("# search: %s\n", err);
	return h;
}

static const char b_md[] = "# Guide\n\nIntro about giraffes.\n\n## Install\n\nRun make to build.\n";

static void test_directory_walk(void)
{
	static const char want1[] =
		"added @/a.txt (1 chunk)\n"
		"added @/b.md (2 chunks)\n"
		"failed @/bad.txt: not valid UTF-8 at byte 6\n"
		"skipped @/image.png (unsupported type)\n"
		"failed @/nul.txt: contains a NUL byte at byte 3 (binary file?)\n"
		"added @/sub/c.markdown (1 chunk)\n"
		"failed @/sub/empty.txt: no text to index (empty file)\n"
		"skipped @/sub/loop (symbolic link loop)\n";
	static const char want2[] =
		"skipped @/a.txt (already stored)\n"
		"skipped @/b.md (already stored)\n"
		"failed @/bad.txt: not valid UTF-8 at byte 6\n"
		"skipped @/image.png (unsupported type)\n"
		"failed @/nul.txt: contains a NUL byte at byte 3 (binary file?)\n"
		"skipped @/sub/c.markdown (already stored)\n"
		"failed @/sub/empty.txt: no text to index (empty file)\n"
		"skipped @/sub/loop (symbolic link loop)\n";
	struct ingest_stats stats;
	struct store_document *d = NULL;
	struct store_hit *h;
	size_t n = 0;
	char *log = NULL, want[2048], err[DC_ERRMAX] = "";

	memset(&stats, 0, sizeof(stats));
	st = fresh();
	CHECK_INT(ingest_logged(docs, &stats, &log, err, sizeof(err)), DC_OK);
	expand(want1, want, sizeof(want));
	CHECK_STR(log, want);
	free(log);
	log = NULL;
	CHECK_INT(stats.files_added, 3);
	CHECK_INT(stats.files_skipped, 0);
	CHECK_INT(stats.files_failed, 3);
	CHECK_INT(stats.chunks, 4);
	CHECK_INT(stats.bytes, 30 + (long long)strlen(b_md) + 30);

	CHECK_INT(store_document_list(st, "", &d, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 3);
	if (n == 3) {
		CHECK_STR(d[0].name, "a.txt");
		CHECK_STR(d[1].name, "b.md");
		CHECK_STR(d[2].name, "c.markdown");
		CHECK(d[0].path && d[0].path[0] == '/');
		CHECK(d[0].path && strlen(d[0].path) > 11 &&
		      strcmp(d[0].path + strlen(d[0].path) - 11, "/docs/a.txt") == 0);
		CHECK_INT(d[1].chunk_count, 2);
		CHECK_INT(d[1].size, (long long)strlen(b_md));
	}
	store_documents_free(d, n);

	h = search_one("\"make\"", &n);
	CHECK_INT(n, 1);
	if (n == 1) {
		CHECK_STR(h[0].heading, "Guide > Install");
		CHECK_STR(h[0].text, "## Install\n\nRun make to build.");
	}
	store_hits_free(h, n);
	h = search_one("\"secret\"", &n);	/* dot-files and dot-dirs are not read */
	CHECK_INT(n, 0);
	store_hits_free(h, n);

	/* a second walk stores nothing new; stats add up */
	CHECK_INT(ingest_logged(docs, &stats, &log, err, sizeof(err)), DC_OK);
	expand(want2, want, sizeof(want));
	CHECK_STR(log, want);
	free(log);
	CHECK_INT(stats.files_added, 3);
	CHECK_INT(stats.files_skipped, 3);
	CHECK_INT(stats.files_failed, 6);
	CHECK_INT(stats.chunks, 4);
	store_close(st);
	st = NULL;
}

static void test_named_files(void)
{
	struct ingest_stats stats;
	char *log = NULL, path[256], want[512], err[DC_ERRMAX] = "";

	memset(&stats, 0, sizeof(stats));
	st = fresh();
	CHECK(snprintf(path, sizeof(path), "%s/image.png", docs) < (int)sizeof(path));
	CHECK_INT(ingest_logged(path, &stats, &log, err, sizeof(err)), DC_BADREQ);
	expand("ingest @/image.png: unsupported file type (docchat reads .txt, .text, .md and "
	       ".markdown)", want, sizeof(want));
	CHECK_STR(err, want);
	CHECK_STR(log, "");
	free(log);

	CHECK(snprintf(path, sizeof(path), "%s/missing.txt", docs) < (int)sizeof(path));
	CHECK_INT(ingest_logged(path, &stats, &log, err, sizeof(err)), DC_SYSTEM);
	expand("ingest @/missing.txt: No such file or directory", want, sizeof(want));
	CHECK_STR(err, want);
	free(log);

	/* a bad file named directly: the call works, the file fails */
	CHECK(snprintf(path, sizeof(path), "%s/bad.txt", docs) < (int)sizeof(path));
	CHECK_INT(ingest_logged(path, &stats, &log, err, sizeof(err)), DC_OK);
	expand("failed @/bad.txt: not valid UTF-8 at byte 6\n", want, sizeof(want));
	CHECK_STR(log, want);
	free(log);

	CHECK(snprintf(path, sizeof(path), "%s/sub/c.markdown", docs) < (int)sizeof(path));
	CHECK_INT(ingest_logged(path, &stats, &log, err, sizeof(err)), DC_OK);
	expand("added @/sub/c.markdown (1 chunk)\n", want, sizeof(want));
	CHECK_STR(log, want);
	free(log);
	CHECK_INT(stats.files_added, 1);
	CHECK_INT(stats.files_failed, 2);
	store_close(st);
	st = NULL;
}

static void test_text_normalised_and_hashed(void)
{
	static const char crlf[] = "\xef\xbb\xbfline one\r\nline two\r\n";
	struct store_document *d = NULL;
	struct store_hit *h;
	size_t n = 0;
	long long id = 0, id2 = 0, nchunks = 0;
	int existed = -1;
	char err[DC_ERRMAX] = "";

	st = fresh();
	CHECK_INT(ingest_text(st, NULL, "", "notes.txt", NULL, crlf, strlen(crlf), &id,
			      &existed, &nchunks, err, sizeof(err)), DC_OK);
	CHECK_INT(existed, 0);
	CHECK_INT(nchunks, 1);
	CHECK_INT(store_document_list(st, "", &d, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 1);
	if (n == 1) {
		CHECK_STR(d[0].hash, "fnv1a64:69e70ffc7ee5f13f");	/* of the LF text */
		CHECK_INT(d[0].size, 23);
		CHECK(d[0].path == NULL);
	}
	store_documents_free(d, n);
	h = search_one("\"line\"", &n);
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK_STR(h[0].text, "line one\nline two");
	store_hits_free(h, n);
	/* offsets are into the normalised text: no BOM, "\n" line ends */
	CHECK_INT(raw_int("SELECT start_off FROM chunks"), 0);
	CHECK_INT(raw_int("SELECT end_off FROM chunks"), 17);

	/* the same text with LF endings is the same document */
	CHECK_INT(ingest_text(st, NULL, "", "copy.txt", NULL, "line one\nline two\n", 18, &id2,
			      &existed, &nchunks, err, sizeof(err)), DC_OK);
	CHECK_INT(existed, 1);
	CHECK_INT(id2, id);
	CHECK_INT(nchunks, 0);
	/* but another owner's copy is theirs */
	CHECK_INT(ingest_text(st, NULL, "alice", "copy.txt", NULL, "line one\nline two\n", 18,
			      &id2, &existed, &nchunks, err, sizeof(err)), DC_OK);
	CHECK_INT(existed, 0);
	CHECK(id2 != id);

	CHECK_INT(ingest_text(st, NULL, "", "mac.txt", NULL, "old\rmac", 7, &id, &existed,
			      &nchunks, err, sizeof(err)), DC_OK);
	h = search_one("\"mac\"", &n);
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK_STR(h[0].text, "old\nmac");
	store_hits_free(h, n);
	store_close(st);
	st = NULL;
}

static void expect_bad(const char *text, size_t len, const char *want)
{
	long long id = 0, nchunks = 0;
	int existed = 0;
	char err[DC_ERRMAX] = "";

	CHECK_INT(ingest_text(st, NULL, "", "bad.txt", NULL, text, len, &id, &existed, &nchunks,
			      err, sizeof(err)), DC_BADREQ);
	CHECK_STR(err, want);
	CHECK_INT(id, 0);
}

static void test_invalid_utf8_rejected_with_offset(void)
{
	long long id = 0, nchunks = 0;
	int existed = 0;
	char err[DC_ERRMAX] = "";

	st = fresh();
	expect_bad("ab\xc0\xaf" "cd", 6, "bad.txt: not valid UTF-8 at byte 2");	/* overlong */
	expect_bad("\xed\xa0\x80", 3, "bad.txt: not valid UTF-8 at byte 0");	/* surrogate */
	expect_bad("abc\xe6\x97", 5, "bad.txt: not valid UTF-8 at byte 3");	/* truncated */
	expect_bad("\xf4\x90\x80\x80", 4, "bad.txt: not valid UTF-8 at byte 0");	/* > U+10FFFF */
	expect_bad("caf\xe9", 4, "bad.txt: not valid UTF-8 at byte 3");		/* Latin-1 */
	expect_bad("a\0b", 3, "bad.txt: contains a NUL byte at byte 1 (binary file?)");
	expect_bad(" \n\n ", 4, "bad.txt: no text to index (empty file)");
	CHECK_INT(raw_int("SELECT count(*) FROM documents"), 0);
	CHECK_INT(ingest_text(st, NULL, "", "ok.txt", NULL, "ok 🎉 ü 日本", strlen("ok 🎉 ü 日本"),
			      &id, &existed, &nchunks, err, sizeof(err)), DC_OK);
	CHECK_INT(nchunks, 1);
	CHECK_INT(raw_int("SELECT count(*) FROM documents"), 1);
	store_close(st);
	st = NULL;
}

static void test_chunk_settings_and_format(void)
{
	static const char words[] = "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12";
	static const char md[] = "# Title\n\nbody of markdown\n";
	static const char txt[] = "# Title\n\nbody of plain text\n";
	struct config cfg;
	struct store_hit *h;
	size_t n = 0;
	long long id = 0, nchunks = 0;
	int existed = 0;
	char err[DC_ERRMAX] = "";

	memset(&cfg, 0, sizeof(cfg));
	st = fresh();
	/* zero settings mean the defaults (300/50): one chunk */
	CHECK_INT(ingest_text(st, &cfg, "", "a.txt", NULL, words, strlen(words), &id, &existed,
			      &nchunks, err, sizeof(err)), DC_OK);
	CHECK_INT(nchunks, 1);
	cfg.chunk_tokens = 5;
	cfg.chunk_overlap = 0;
	CHECK_INT(ingest_text(st, &cfg, "bob", "a.txt", NULL, words, strlen(words), &id,
			      &existed, &nchunks, err, sizeof(err)), DC_OK);
	CHECK_INT(nchunks, 3);

	CHECK_INT(ingest_text(st, NULL, "", "m.md", NULL, md, strlen(md), &id, &existed,
			      &nchunks, err, sizeof(err)), DC_OK);
	CHECK_INT(ingest_text(st, NULL, "", "t.TXT", NULL, txt, strlen(txt), &id, &existed,
			      &nchunks, err, sizeof(err)), DC_OK);
	h = search_one("\"markdown\"", &n);
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK_STR(h[0].heading, "Title");
	store_hits_free(h, n);
	h = search_one("\"plain\"", &n);
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK(h[0].heading == NULL);	/* plain text has no headings */
	store_hits_free(h, n);
	store_close(st);
	st = NULL;
}

static int setup(void)
{
	char p[256];

	if (snprintf(tmpdir, sizeof(tmpdir), "/tmp/docchat-test-ingest-XXXXXX") < 0 ||
	    !mkdtemp(tmpdir) || snprintf(dbpath, sizeof(dbpath), "%s/docchat.db", tmpdir) < 0 ||
	    snprintf(docs, sizeof(docs), "%s/docs", tmpdir) < 0)
		return 0;
	if (!make_dir("docs") || !make_dir("docs/sub") || !make_dir("docs/.git") ||
	    !write_file("docs/a.txt", "Plain text file about zebras.\n", 30) ||
	    !write_file("docs/b.md", b_md, strlen(b_md)) ||
	    !write_file("docs/bad.txt", "hello \xff world\n", 14) ||
	    !write_file("docs/image.png", "\x89PNG", 4) ||
	    !write_file("docs/nul.txt", "abc\0def", 7) ||
	    !write_file("docs/.hidden.txt", "secret\n", 7) ||
	    !write_file("docs/.git/x.txt", "secret\n", 7) ||
	    !write_file("docs/sub/c.markdown", "Nested markdown about okapis.\n", 30) ||
	    !write_file("docs/sub/empty.txt", "", 0))
		return 0;
	return snprintf(p, sizeof(p), "%s/sub/loop", docs) > 0 && symlink("..", p) == 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	int rc;

	if (!setup()) {
		perror("setup");
		return 1;
	}
	RUN(test_directory_walk);
	RUN(test_named_files);
	RUN(test_text_normalised_and_hashed);
	RUN(test_invalid_utf8_rejected_with_offset);
	RUN(test_chunk_settings_and_format);
	rc = check_summary();
	nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
