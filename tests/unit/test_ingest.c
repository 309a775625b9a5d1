/* test_ingest.c - ingest.c: .txt and .md files and texts into the store, a directory
 * walk (sorted, dot-files skipped, symbolic link loop noticed), rejection of non-UTF-8
 * and binary files with the offending byte named, BOM and CRLF normalisation, the
 * content hash and skipping of documents already stored (before parsing: a stored PDF
 * is skipped even without pdftotext); HTML and PDF files whose stored chunks keep
 * heading paths and page numbers; replacing a changed file (INGEST_REPLACE); the
 * problem codes of ingest_bytes; the progress line on a terminal. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "buf.h"
#include "check.h"
#include "testpdf.h"
#include "config.h"
#include "extract.h"
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

/* First column of the first row of sql as text (caller frees), on a second
 * connection; NULL on error or no row. */
static char *raw_text(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char *v = NULL;

	if (sqlite3_open(dbpath, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		v = strdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void raw_text_is(const char *sql, const char *want)
{
	char *got = raw_text(sql);

	CHECK_STR(got, want);
	free(got);
}

/* Replace every "@" in tmpl with dir. */
static void expand_in(const char *dir, const char *tmpl, char *out, size_t outlen)
{
	size_t o = 0, dl = strlen(dir);

	for (; *tmpl && o + dl + 1 < outlen; tmpl++) {
		if (*tmpl == '@') {
			memcpy(out + o, dir, dl);
			o += dl;
		} else {
			out[o++] = *tmpl;
		}
	}
	out[o] = '\0';
}

/* Replace every "@" in tmpl with the docs directory. */
static void expand(const char *tmpl, char *out, size_t outlen)
{
	expand_in(docs, tmpl, out, outlen);
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

/* ingest_paths of one path with cfg, owner and flags; the log must be want (with "@"
 * standing for dir). */
static void ingest_expect(const struct config *cfg, const char *owner, const char *dir,
			  const char *path, unsigned flags, struct ingest_stats *stats,
			  const char *want)
{
	char *log = NULL, full[256], wanted[2048], err[DC_ERRMAX] = "";
	const char *paths[1];
	size_t len = 0;
	FILE *f = open_memstream(&log, &len);

	CHECK(f != NULL);
	if (!f)
		return;
	expand_in(dir, path, full, sizeof(full));
	paths[0] = full;
	CHECK_INT(ingest_paths(st, cfg, owner, paths, 1, flags, stats, f, err, sizeof(err)),
		  DC_OK);
	fclose(f);
	expand_in(dir, want, wanted, sizeof(wanted));
	CHECK_STR(log, wanted);
	free(log);
}

static const char *const two_pages[] = { "First page about striped zebras.",
					  "Second page about shy okapis." };
static const char *const no_text[] = { NULL };
static const char page_html[] =
	"<html><head><title>Espresso</title><style>p { margin: 0 }</style></head><body>"
	"<h1>Aurelia Duo</h1><p>Intro words about crema.</p>"
	"<h2>Cleaning</h2><p>Descale the machine monthly.</p></body></html>\n";

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
	expand("ingest @/image.png: unsupported file type (docchat reads .txt, .text, .md, "
	       ".markdown, .html, .htm, .pdf)", want, sizeof(want));
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
	/* a zero chunk size means the default (300): one chunk */
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

static void test_html_and_pdf_keep_headings_and_pages(void)
{
	static const char want1[] =
		"failed @/latin1.html: not valid UTF-8 at byte 6\n"
		"failed @/notes.htm: no text to index (no visible text)\n"
		"added @/page.html (2 chunks)\n"
		"failed @/scan.pdf: no text found (a scanned PDF needs OCR first)\n"
		"added @/two.pdf (2 chunks)\n";
	/* stored files are skipped before they are parsed: no pdftotext needed */
	static const char want2[] =
		"failed @/latin1.html: not valid UTF-8 at byte 6\n"
		"failed @/notes.htm: no text to index (no visible text)\n"
		"skipped @/page.html (already stored)\n"
		"failed @/scan.pdf: PDF support needs pdftotext: apt-get install poppler-utils\n"
		"skipped @/two.pdf (already stored)\n";
	struct config cfg;
	struct ingest_stats stats;
	struct store_hit *h;
	size_t n = 0;
	char dir[160];

	memset(&cfg, 0, sizeof(cfg));
	memset(&stats, 0, sizeof(stats));
	cfg.chunk_tokens = 8;
	cfg.chunk_overlap = 0;
	CHECK(snprintf(dir, sizeof(dir), "%s/formats", tmpdir) < (int)sizeof(dir));
	st = fresh();
	ingest_expect(&cfg, "", dir, "@", 0, &stats, want1);
	CHECK_INT(stats.files_added, 2);
	CHECK_INT(stats.files_failed, 3);
	CHECK_INT(stats.chunks, 4);

	raw_text_is("SELECT group_concat(x, '|') FROM (SELECT c.page || ':' || c.text AS x"
		    " FROM chunks c JOIN documents d ON d.id = c.document_id"
		    " WHERE d.name = 'two.pdf' ORDER BY c.ordinal)",
		    "1:First page about striped zebras.|2:Second page about shy okapis.");
	raw_text_is("SELECT group_concat(x, '|') FROM (SELECT coalesce(c.heading, '-') || ':'"
		    " || c.page || ':' || c.text AS x FROM chunks c JOIN documents d"
		    " ON d.id = c.document_id WHERE d.name = 'page.html' ORDER BY c.ordinal)",
		    "Aurelia Duo:0:Espresso\n\nAurelia Duo\n\nIntro words about crema.|"
		    "Aurelia Duo > Cleaning:0:Cleaning\n\nDescale the machine monthly.");
	CHECK_INT(raw_int("SELECT size FROM documents WHERE name = 'page.html'"),
		  (long long)strlen(page_html));
	h = search_one("\"okapis\"", &n);
	CHECK_INT(n, 1);
	if (n == 1) {
		CHECK_INT(h[0].page, 2);
		CHECK_STR(h[0].document, "two.pdf");
	}
	store_hits_free(h, n);
	h = search_one("\"descale\"", &n);
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK_STR(h[0].heading, "Aurelia Duo > Cleaning");
	store_hits_free(h, n);

	extract_pdf_hook("docchat-test-no-such-pdftotext", 0);
	ingest_expect(&cfg, "", dir, "@", 0, &stats, want2);
	extract_pdf_hook(NULL, 0);
	CHECK_INT(stats.files_skipped, 2);
	CHECK_INT(raw_int("SELECT count(*) FROM documents"), 2);
	store_close(st);
	st = NULL;
}

static void test_replace_changed_file(void)
{
	struct ingest_stats stats;
	char dir[160];

	memset(&stats, 0, sizeof(stats));
	CHECK(snprintf(dir, sizeof(dir), "%s/replace", tmpdir) < (int)sizeof(dir));
	st = fresh();
	CHECK(write_file("replace/r.txt", "version one of the notes\n", 25));
	ingest_expect(NULL, "", dir, "@/r.txt", INGEST_REPLACE, &stats,
		      "added @/r.txt (1 chunk)\n");
	CHECK(write_file("replace/r.txt", "version two of the notes\n", 25));
	ingest_expect(NULL, "", dir, "@/r.txt", INGEST_REPLACE, &stats,
		      "replaced @/r.txt (1 chunk)\n");
	CHECK_INT(stats.files_added, 1);
	CHECK_INT(stats.files_replaced, 1);
	CHECK_INT(raw_int("SELECT count(*) FROM documents"), 1);
	raw_text_is("SELECT group_concat(text, '|') FROM chunks", "version two of the notes");
	/* the old version's index entries went with it */
	CHECK_INT(raw_int("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'one'"), 0);
	CHECK_INT(raw_int("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'two'"), 1);

	/* unchanged: skipped */
	ingest_expect(NULL, "", dir, "@", INGEST_REPLACE, &stats,
		      "skipped @/r.txt (already stored)\n");
	/* changed without replacing: both versions are kept ... */
	CHECK(write_file("replace/r.txt", "version three of the notes\n", 27));
	ingest_expect(NULL, "", dir, "@", 0, &stats, "added @/r.txt (1 chunk)\n");
	CHECK_INT(raw_int("SELECT count(*) FROM documents"), 2);
	/* ... until a replacing run, which removes the older one */
	ingest_expect(NULL, "", dir, "@", INGEST_REPLACE, &stats,
		      "skipped @/r.txt (already stored; 1 older version removed)\n");
	raw_text_is("SELECT group_concat(text, '|') FROM chunks", "version three of the notes");

	/* another owner's copy from the same path is theirs to replace */
	ingest_expect(NULL, "bob", dir, "@", 0, &stats, "added @/r.txt (1 chunk)\n");
	CHECK(write_file("replace/r.txt", "version four of the notes\n", 26));
	ingest_expect(NULL, "", dir, "@", INGEST_REPLACE, &stats,
		      "replaced @/r.txt (1 chunk)\n");
	CHECK_INT(raw_int("SELECT count(*) FROM documents WHERE owner = 'bob'"), 1);
	raw_text_is("SELECT group_concat(c.text, '|') FROM chunks c JOIN documents d"
		    " ON d.id = c.document_id WHERE d.owner = ''", "version four of the notes");
	store_close(st);
	st = NULL;
}

/* ingest_bytes must fail with rc, why and exactly want. */
static void bytes_refused(const struct config *cfg, const char *name, const char *data,
			  size_t len, enum dc_err rc, enum ingest_problem why_want,
			  const char *want)
{
	long long id = -1, nchunks = -1;
	int existed = -1;
	enum ingest_problem why = INGEST_FINE;
	char err[DC_ERRMAX] = "";

	CHECK_INT(ingest_bytes(st, cfg, "", name, data, len, &id, &existed, &nchunks, &why, err,
			       sizeof(err)), rc);
	CHECK_INT(why, why_want);
	CHECK_STR(err, want);
	CHECK_INT(id, 0);
	CHECK_INT(nchunks, 0);
}

static void test_ingest_bytes_problem_codes(void)
{
	struct config cfg;
	struct buf pdf;
	long long id = 0, id2 = 0, nchunks = 0;
	int existed = -1;
	enum ingest_problem why = INGEST_BROKEN;
	char err[DC_ERRMAX] = "";

	memset(&cfg, 0, sizeof(cfg));
	st = fresh();
	CHECK_INT(ingest_bytes(st, NULL, "", "page.html", page_html, strlen(page_html), &id,
			       &existed, &nchunks, &why, err, sizeof(err)), DC_OK);
	CHECK_INT(why, INGEST_FINE);
	CHECK(id > 0);
	CHECK_INT(existed, 0);
	CHECK_INT(nchunks, 2);	/* the <h2> section starts a chunk */
	CHECK_INT(ingest_bytes(st, NULL, "", "copy.html", page_html, strlen(page_html), &id2,
			       &existed, &nchunks, &why, err, sizeof(err)), DC_OK);
	CHECK_INT(existed, 1);
	CHECK_INT(id2, id);
	CHECK_INT(nchunks, 0);
	/* a directory part is dropped; uploads have no path */
	CHECK_INT(ingest_bytes(st, NULL, "", "up/load/notes.txt", "uploaded words", 14, &id,
			       &existed, &nchunks, &why, err, sizeof(err)), DC_OK);
	raw_text_is("SELECT name || ':' || coalesce(path, '-') FROM documents WHERE id = 2",
		    "notes.txt:-");

	bytes_refused(NULL, "tool.exe", "MZ", 2, DC_BADREQ, INGEST_UNSUPPORTED,
		      "unsupported file type (docchat reads .txt, .text, .md, .markdown, .html, "
		      ".htm, .pdf)");
	bytes_refused(NULL, "", "x", 1, DC_BADREQ, INGEST_UNSUPPORTED,
		      "the file has no name (docchat reads .txt, .text, .md, .markdown, .html, "
		      ".htm, .pdf)");
	cfg.max_upload = 10;
	bytes_refused(&cfg, "big.txt", "eleven byte", 11, DC_TOOBIG, INGEST_TOO_BIG,
		      "too large (11 bytes, limit 10)");
	bytes_refused(NULL, "latin.txt", "caf\xe9", 4, DC_BADREQ, INGEST_NOT_UTF8,
		      "not valid UTF-8 at byte 3");
	bytes_refused(NULL, "wide.md", "\xff\xfe#\0", 4, DC_BADREQ, INGEST_NOT_UTF8,
		      "not valid UTF-8 at byte 0 (UTF-16 byte order mark: save the file as UTF-8)");
	bytes_refused(NULL, "empty.md", "", 0, DC_BADREQ, INGEST_NO_TEXT,
		      "no text to index (empty file)");

	make_pdf(&pdf, no_text, 1);
	bytes_refused(NULL, "scan.pdf", pdf.data, pdf.len, DC_BADREQ, INGEST_NO_TEXT,
		      "no text found (a scanned PDF needs OCR first)");
	buf_free(&pdf);
	make_pdf(&pdf, two_pages, 2);
	CHECK_INT(ingest_bytes(st, NULL, "", "broken.pdf", pdf.data, pdf.len / 2, &id,
			       &existed, &nchunks, &why, err, sizeof(err)), DC_BADREQ);
	CHECK_INT(why, INGEST_BROKEN);
	CHECK(strncmp(err, "not a readable PDF: ", 20) == 0);
	extract_pdf_hook("docchat-test-no-such-pdftotext", 0);
	bytes_refused(NULL, "two.pdf", pdf.data, pdf.len, DC_SYSTEM, INGEST_FINE,
		      "PDF support needs pdftotext: apt-get install poppler-utils");
	extract_pdf_hook(NULL, 0);
	cfg.max_upload = 0;
	cfg.chunk_tokens = 5;
	CHECK_INT(ingest_bytes(st, &cfg, "", "two.pdf", pdf.data, pdf.len, &id, &existed,
			       &nchunks, &why, err, sizeof(err)), DC_OK);
	CHECK_INT(nchunks, 2);
	raw_text_is("SELECT group_concat(page, ',') FROM chunks c JOIN documents d"
		    " ON d.id = c.document_id WHERE d.name = 'two.pdf'", "1,2");
	buf_free(&pdf);
	CHECK_INT(raw_int("SELECT count(*) FROM documents"), 3);
	store_close(st);
	st = NULL;
}

/* Everything readable on the pty's master side, NUL-terminated (caller frees). */
static char *read_all(int fd)
{
	struct buf b;
	char block[4096];
	ssize_t r;

	buf_init(&b, 1 << 20);
	for (;;) {
		r = read(fd, block, sizeof(block));
		if (r <= 0)
			break;
		if (buf_append(&b, block, (size_t)r) != DC_OK)
			break;
	}
	return buf_take(&b, NULL);
}

static void test_progress_line_on_a_terminal(void)
{
	struct ingest_stats stats;
	const char *paths[1];
	char err[DC_ERRMAX] = "", *out = NULL, *name;
	int master = -1, slave = -1;
	FILE *log = NULL;

	memset(&stats, 0, sizeof(stats));
	st = fresh();
	master = posix_openpt(O_RDWR | O_NOCTTY);
	CHECK(master >= 0);
	if (master < 0)
		goto out;
	CHECK(grantpt(master) == 0 && unlockpt(master) == 0);
	name = ptsname(master);
	slave = name ? open(name, O_RDWR | O_NOCTTY) : -1;
	CHECK(slave >= 0);
	log = slave >= 0 ? fdopen(slave, "w") : NULL;
	CHECK(log != NULL);
	if (!log)
		goto out;
	slave = -1;	/* the stream owns it now */
	paths[0] = docs;
	CHECK_INT(ingest_paths(st, NULL, "", paths, 1, 0, &stats, log, err, sizeof(err)), DC_OK);
	fclose(log);
	log = NULL;
	CHECK(fcntl(master, F_SETFL, O_NONBLOCK) == 0);
	out = read_all(master);
	CHECK(out != NULL);
	if (!out)
		goto out;
	CHECK(strstr(out, "\r\033[K[........................] 0/6 files, 0 chunks") != NULL);
	CHECK(strstr(out, "\r\033[K[########################] 6/6 files, 4 chunks") != NULL);
	CHECK(strstr(out, "failed ") != NULL && strstr(out, "bad.txt: not valid UTF-8 at byte 6"));
	CHECK(strstr(out, "added ") == NULL);	/* the progress line stands for these */
	CHECK(strstr(out, "skipped ") == NULL);
	/* the line is cleared at the end, for the caller's summary */
	CHECK(strlen(out) >= 4 && strcmp(out + strlen(out) - 4, "\r\033[K") == 0);
	CHECK_INT(stats.files_added, 3);
out:
	free(out);
	if (log)
		fclose(log);
	if (slave >= 0)
		close(slave);
	if (master >= 0)
		close(master);
	store_close(st);
	st = NULL;
}

static int setup_formats(void)
{
	struct buf pdf;
	int ok;

	if (!make_dir("formats") || !make_dir("replace") ||
	    !write_file("formats/page.html", page_html, strlen(page_html)) ||
	    !write_file("formats/latin1.html", "<p>caf\xe9</p>", 11) ||
	    !write_file("formats/notes.htm", "<script>only()</script>", 23))
		return 0;
	make_pdf(&pdf, two_pages, 2);
	ok = write_file("formats/two.pdf", pdf.data, pdf.len);
	buf_free(&pdf);
	make_pdf(&pdf, no_text, 1);
	ok = ok && write_file("formats/scan.pdf", pdf.data, pdf.len);
	buf_free(&pdf);
	return ok;
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
	return snprintf(p, sizeof(p), "%s/sub/loop", docs) > 0 && symlink("..", p) == 0 &&
	       setup_formats();
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
	RUN(test_html_and_pdf_keep_headings_and_pages);
	RUN(test_replace_changed_file);
	RUN(test_ingest_bytes_problem_codes);
	RUN(test_progress_line_on_a_terminal);
	rc = check_summary();
	nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
