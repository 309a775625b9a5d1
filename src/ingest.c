/* ingest.c - files and texts into stored, searchable documents (see ingest.h).
 *
 * The path from bytes to stored chunks: the format comes from the name's extension,
 * extract.c turns the bytes into checked UTF-8 text with its headings and pages,
 * chunk.c cuts that into chunks (each with its heading path and page), and store.c
 * keeps document and chunks in one transaction. Nothing here parses a format, and SQL
 * and HTTP are left to their own modules.
 *
 * The content hash decides what is "the same document": for plain text and Markdown
 * the hash of the normalised text (byte order mark dropped, "\n" line ends, so a CRLF
 * copy is the same document), for HTML and PDF the hash of the file's bytes. It is
 * computed before the file is parsed, so a file already stored is skipped without
 * running pdftotext again. Replacing (INGEST_REPLACE) stores the new version first and
 * then deletes what was stored from the same path, so a failure never leaves the
 * library without the document.
 *
 * Directory walks are recursive, in byte order of names, skip dot-files, follow
 * symbolic links but never into a directory already being walked. Every named path is
 * checked and every directory listed before the first file is read, which gives the
 * progress line its total. The log gets one line per file, or on a terminal a progress
 * line redrawn in place (with failures still printed as lines). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "chunk.h"
#include "config.h"
#include "extract.h"
#include "ingest.h"
#include "store.h"

#define INGEST_MAX_FILE (64 * 1024 * 1024)	/* largest file read */
#define INGEST_READ_BLOCK 65536
#define INGEST_DEFAULT_CHUNK 300		/* words per chunk without a config */
#define INGEST_DEFAULT_OVERLAP 50
#define INGEST_MAX_DEPTH 64			/* directory nesting followed */
#define INGEST_HASH_PREFIX "fnv1a64:"
#define INGEST_HASH_LEN (sizeof(INGEST_HASH_PREFIX) - 1 + 16)
#define FNV64_OFFSET 0xcbf29ce484222325ULL
#define FNV64_PRIME 0x100000001b3ULL
#define PROGRESS_WIDTH 24			/* characters of the progress bar */
#define BYTES_PER_MB 1000000.0
#define TTY_CLEAR_LINE "\r\033[K"

/* One thing to ingest. */
struct job {
	struct store *st;
	const struct config *cfg;
	const char *owner;
	const char *name;	/* shown to users, decides the format */
	const char *path;	/* stored with the document, or NULL */
	const char *file;	/* the same bytes on disk, or NULL */
	const char *data;
	size_t len;
	enum extract_format fmt;
	unsigned flags;
};

struct outcome {
	long long doc_id;
	int existed;		/* the content was stored already */
	long long nchunks;	/* chunks stored (0 when it existed) */
	int replaced;		/* older documents from the same path deleted */
};

/* ---- one document ---- */

/* Content hash: 64-bit FNV-1a as "fnv1a64:" and 16 hex digits, of the normalised text
 * for text formats (computed on the fly, see the file comment), else of the bytes. FNV
 * is enough to recognise a file ingested twice by accident; a stronger (cryptographic)
 * hash is planned, under a new prefix, for when shared libraries make collisions
 * matter. */
static void content_hash(enum extract_format fmt, const char *p, size_t n,
			 char out[INGEST_HASH_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	int text = fmt == EXTRACT_TEXT || fmt == EXTRACT_MARKDOWN;
	uint64_t h = FNV64_OFFSET;
	size_t i = 0, pre = sizeof(INGEST_HASH_PREFIX) - 1;
	unsigned char c;

	if (text && n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	for (; i < n; i++) {
		c = (unsigned char)p[i];
		if (text && c == '\r') {
			c = '\n';
			if (i + 1 < n && p[i + 1] == '\n')
				i++;
		}
		h ^= c;
		h *= FNV64_PRIME;
	}
	memcpy(out, INGEST_HASH_PREFIX, pre);
	for (i = 0; i < 16; i++)
		out[pre + i] = hex[(h >> (60 - 4 * i)) & 0xf];
	out[pre + 16] = '\0';
}

/* Chunk size and overlap: the configuration's (an overlap of 0 is none), or the
 * defaults without one. */
static void chunk_settings(const struct config *cfg, int *target, int *overlap)
{
	*target = INGEST_DEFAULT_CHUNK;
	*overlap = INGEST_DEFAULT_OVERLAP;
	if (!cfg)
		return;
	if (cfg->chunk_tokens > 0)
		*target = cfg->chunk_tokens;
	*overlap = cfg->chunk_overlap > 0 ? cfg->chunk_overlap : 0;
}

/* With INGEST_REPLACE, delete what was stored from the job's path other than keep. */
static enum dc_err drop_replaced(const struct job *j, long long keep, struct outcome *o,
				 char *cause, size_t causelen)
{
	if (!(j->flags & INGEST_REPLACE) || !j->path)
		return DC_OK;
	return store_document_delete_by_path(j->st, j->owner, j->path, keep, &o->replaced,
					     cause, causelen);
}

static enum dc_err store_chunks(const struct job *j, const char *hash,
				const struct chunk *chunks, size_t n, struct outcome *o,
				char *cause, size_t causelen)
{
	struct store_chunk_in *in;
	size_t i;
	enum dc_err rc;

	in = calloc(n, sizeof(*in));
	if (!in)
		return dc_fail(cause, causelen, DC_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		in[i].text = chunks[i].text;
		in[i].heading = chunks[i].heading;
		in[i].start = chunks[i].start;
		in[i].end = chunks[i].end;
		in[i].page = chunks[i].page;
	}
	rc = store_document_add(j->st, j->owner, j->name, j->path, hash, (long long)j->len, in,
				n, &o->doc_id, &o->existed, cause, causelen);
	if (rc == DC_OK && !o->existed)
		o->nchunks = (long long)n;
	free(in);
	return rc;
}

/* Hash, look up, extract, chunk and store one document. cause gets the reason for a
 * failure without the name (the callers put the name where they want it). */
static enum dc_err ingest_one(const struct job *j, struct outcome *o,
			      enum ingest_problem *why, char *cause, size_t causelen)
{
	char hash[INGEST_HASH_LEN + 1];
	struct extract_doc doc;
	struct chunk *chunks = NULL;
	size_t n = 0;
	int target, overlap;
	enum dc_err rc;

	memset(o, 0, sizeof(*o));
	memset(&doc, 0, sizeof(doc));
	*why = INGEST_FINE;
	if (j->fmt == EXTRACT_NONE) {
		*why = INGEST_UNSUPPORTED;
		return dc_fail(cause, causelen, DC_BADREQ, "unsupported file type (docchat "
			       "reads %s)", extract_supported());
	}
	content_hash(j->fmt, j->data ? j->data : "", j->data ? j->len : 0, hash);
	rc = store_document_find_by_hash(j->st, j->owner, hash, &o->doc_id, cause, causelen);
	if (rc == DC_OK) {
		o->existed = 1;
		rc = drop_replaced(j, o->doc_id, o, cause, causelen);
		goto out;
	}
	if (rc != DC_NOTFOUND)
		goto out;
	rc = extract_bytes(j->fmt, j->data, j->len, j->file, &doc, why, cause, causelen);
	if (rc != DC_OK)
		goto out;
	chunk_settings(j->cfg, &target, &overlap);
	rc = chunk_doc(&doc, target, overlap, &chunks, &n);
	if (rc != DC_OK) {
		rc = dc_fail(cause, causelen, rc, "splitting into chunks: %s", dc_strerror(rc));
		goto out;
	}
	if (n == 0) {
		*why = INGEST_NO_TEXT;
		rc = dc_fail(cause, causelen, DC_BADREQ, "no text to index (%s)",
			     j->fmt == EXTRACT_HTML ? "no visible text" : "empty file");
		goto out;
	}
	rc = store_chunks(j, hash, chunks, n, o, cause, causelen);
	if (rc == DC_OK)
		rc = drop_replaced(j, o->doc_id, o, cause, causelen);
out:
	chunks_free(chunks, n);
	extract_doc_free(&doc);
	return rc;
}

const char *ingest_supported(void)
{
	return extract_supported();
}

enum dc_err ingest_text(struct store *st, const struct config *cfg, const char *owner,
			const char *name, const char *path, const char *text, size_t len,
			long long *doc_id, int *existed, long long *nchunks,
			char *err, size_t errlen)
{
	char cause[DC_ERRMAX];
	struct job j;
	struct outcome o;
	enum ingest_problem why;
	enum dc_err rc;

	*doc_id = 0;
	*existed = 0;
	*nchunks = 0;
	if (!name || !*name)
		return dc_fail(err, errlen, DC_BADREQ, "ingest: document name missing");
	memset(&j, 0, sizeof(j));
	j.st = st;
	j.cfg = cfg;
	j.owner = owner ? owner : "";
	j.name = name;
	j.path = path;
	j.data = text;
	j.len = len;
	j.fmt = extract_format_of(name) == EXTRACT_MARKDOWN ? EXTRACT_MARKDOWN : EXTRACT_TEXT;
	cause[0] = '\0';
	rc = ingest_one(&j, &o, &why, cause, sizeof(cause));
	if (rc != DC_OK)
		return dc_fail(err, errlen, rc, "%s: %s", name, cause);
	*doc_id = o.doc_id;
	*existed = o.existed;
	*nchunks = o.nchunks;
	return DC_OK;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

enum dc_err ingest_bytes(struct store *st, const struct config *cfg, const char *owner,
			 const char *name, const char *data, size_t len, long long *doc_id,
			 int *existed, long long *nchunks, enum ingest_problem *why,
			 char *err, size_t errlen)
{
	size_t limit = INGEST_MAX_FILE;
	struct job j;
	struct outcome o;
	enum dc_err rc;

	*doc_id = 0;
	*existed = 0;
	*nchunks = 0;
	*why = INGEST_FINE;
	if (cfg && cfg->max_upload > 0 && cfg->max_upload < limit)
		limit = cfg->max_upload;
	if (len > limit) {
		*why = INGEST_TOO_BIG;
		return dc_fail(err, errlen, DC_TOOBIG, "too large (%zu bytes, limit %zu)", len,
			       limit);
	}
	memset(&j, 0, sizeof(j));
	j.st = st;
	j.cfg = cfg;
	j.owner = owner ? owner : "";
	j.name = base_name(name ? name : "");
	j.data = data;
	j.len = len;
	j.fmt = extract_format_of(j.name);
	if (!*j.name) {
		*why = INGEST_UNSUPPORTED;
		return dc_fail(err, errlen, DC_BADREQ, "the file has no name (docchat reads %s)",
			       extract_supported());
	}
	rc = ingest_one(&j, &o, why, err, errlen);
	if (rc != DC_OK)
		return rc;
	*doc_id = o.doc_id;
	*existed = o.existed;
	*nchunks = o.nchunks;
	return DC_OK;
}

/* ---- reading files ---- */

/* Read a whole regular file into b (max INGEST_MAX_FILE). */
static enum dc_err read_file(const char *path, struct buf *b, char *cause, size_t len)
{
	char block[INGEST_READ_BLOCK];
	struct stat sb;
	ssize_t r;
	int fd = -1;
	enum dc_err rc = DC_OK;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = dc_fail(cause, len, DC_SYSTEM, "%s", strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) != 0) {
		rc = dc_fail(cause, len, DC_SYSTEM, "%s", strerror(errno));
		goto out;
	}
	if (sb.st_size > INGEST_MAX_FILE) {
		rc = dc_fail(cause, len, DC_TOOBIG, "too large (%lld bytes, limit %d)",
			     (long long)sb.st_size, INGEST_MAX_FILE);
		goto out;
	}
	for (;;) {
		r = read(fd, block, sizeof(block));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = dc_fail(cause, len, DC_SYSTEM, "%s", strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		rc = buf_append(b, block, (size_t)r);
		if (rc != DC_OK) {
			rc = dc_fail(cause, len, rc, "too large (limit %d bytes)", INGEST_MAX_FILE);
			goto out;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- the plan: every file to read, found before the first is read ---- */

enum entry_kind {
	ENTRY_FILE,		/* to ingest */
	ENTRY_SKIPPED,		/* note says why, e.g. " (unsupported type)" */
	ENTRY_FAILED		/* note is the cause */
};

struct entry {
	enum entry_kind kind;
	char *path;
	char *note;
};

struct plan {
	struct entry *e;
	size_t n, cap;
	size_t files;		/* entries of kind ENTRY_FILE */
};

/* A directory on the path being walked, to notice a symbolic link back into it. */
struct dir_id {
	dev_t dev;
	ino_t ino;
	const struct dir_id *up;
};

static void plan_free(struct plan *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->e[i].path);
		free(p->e[i].note);
	}
	free(p->e);
	memset(p, 0, sizeof(*p));
}

static enum dc_err plan_add(struct plan *p, enum entry_kind kind, const char *path,
			    const char *note)
{
	struct entry *e;

	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;

		e = realloc(p->e, cap * sizeof(*e));
		if (!e)
			return DC_NOMEM;
		p->e = e;
		p->cap = cap;
	}
	e = &p->e[p->n];
	e->kind = kind;
	e->path = strdup(path);
	e->note = strdup(note ? note : "");
	if (!e->path || !e->note) {
		free(e->path);
		free(e->note);
		return DC_NOMEM;
	}
	p->n++;
	if (kind == ENTRY_FILE)
		p->files++;
	return DC_OK;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The entries of dir except dot-files, sorted. cause gets errno's text on failure. */
static enum dc_err list_dir(const char *dir, char ***out, size_t *n, char *cause,
			    size_t len)
{
	DIR *d = NULL;
	struct dirent *de;
	char **names = NULL, **p;
	size_t cnt = 0, cap = 0;
	enum dc_err rc = DC_OK;

	*out = NULL;
	*n = 0;
	d = opendir(dir);
	if (!d) {
		rc = dc_fail(cause, len, DC_SYSTEM, "%s", strerror(errno));
		goto out;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				rc = dc_fail(cause, len, DC_SYSTEM, "%s", strerror(errno));
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 32;
			p = realloc(names, cap * sizeof(*names));
			if (!p) {
				rc = dc_fail(cause, len, DC_NOMEM, "out of memory");
				goto out;
			}
			names = p;
		}
		names[cnt] = strdup(de->d_name);
		if (!names[cnt]) {
			rc = dc_fail(cause, len, DC_NOMEM, "out of memory");
			goto out;
		}
		cnt++;
	}
	if (rc != DC_OK)
		goto out;
	if (cnt)
		qsort(names, cnt, sizeof(*names), name_cmp);
	*out = names;
	*n = cnt;
	names = NULL;
	cnt = 0;
out:
	names_free(names, cnt);
	if (d)
		closedir(d);
	return rc;
}

static enum dc_err join_path(struct buf *b, const char *dir, const char *name)
{
	size_t n = strlen(dir);
	enum dc_err rc;

	buf_reset(b);
	rc = buf_append(b, dir, n);
	if (rc == DC_OK && n && dir[n - 1] != '/')
		rc = buf_append(b, "/", 1);
	if (rc == DC_OK)
		rc = buf_appends(b, name);
	return rc;
}

/* An entry whose path is over PATH_MAX: a failure named with its whole path. */
static enum dc_err too_long(struct plan *p, const char *dir, const char *name)
{
	struct buf b;
	enum dc_err rc;

	buf_init(&b, strlen(dir) + strlen(name) + 2);
	rc = join_path(&b, dir, name);
	if (rc == DC_OK)
		rc = plan_add(p, ENTRY_FAILED, buf_str(&b), "path too long");
	buf_free(&b);
	return rc;
}

static enum dc_err walk_dir(struct plan *p, const char *dir, const struct stat *dsb,
			    const struct dir_id *up, int depth, char *err, size_t errlen);

/* One directory entry into the plan. Only running out of memory is an error. */
static enum dc_err walk_entry(struct plan *p, const char *path, const struct dir_id *me,
			      int depth)
{
	struct stat sb;
	char cause[DC_ERRMAX];
	enum dc_err rc;

	if (stat(path, &sb) != 0)	/* follows links; a dangling one fails here */
		return plan_add(p, ENTRY_FAILED, path, strerror(errno));
	if (S_ISDIR(sb.st_mode)) {
		rc = walk_dir(p, path, &sb, me, depth + 1, cause, sizeof(cause));
		if (rc == DC_NOMEM || rc == DC_OK)
			return rc;
		return plan_add(p, ENTRY_FAILED, path, cause);
	}
	if (!S_ISREG(sb.st_mode))
		return plan_add(p, ENTRY_SKIPPED, path, " (not a regular file)");
	if (extract_format_of(base_name(path)) == EXTRACT_NONE)
		return plan_add(p, ENTRY_SKIPPED, path, " (unsupported type)");
	return plan_add(p, ENTRY_FILE, path, NULL);
}

static enum dc_err walk_dir(struct plan *p, const char *dir, const struct stat *dsb,
			    const struct dir_id *up, int depth, char *err, size_t errlen)
{
	struct dir_id me;
	const struct dir_id *d;
	struct buf child;
	char **names = NULL;
	size_t n = 0, i;
	enum dc_err rc = DC_OK;

	buf_init(&child, PATH_MAX);
	for (d = up; d; d = d->up) {
		if (d->dev == dsb->st_dev && d->ino == dsb->st_ino) {
			rc = plan_add(p, ENTRY_SKIPPED, dir, " (symbolic link loop)");
			goto out;
		}
	}
	if (depth > INGEST_MAX_DEPTH) {
		rc = plan_add(p, ENTRY_SKIPPED, dir, " (nested too deep)");
		goto out;
	}
	me.dev = dsb->st_dev;
	me.ino = dsb->st_ino;
	me.up = up;
	rc = list_dir(dir, &names, &n, err, errlen);
	for (i = 0; rc == DC_OK && i < n; i++) {
		if (join_path(&child, dir, names[i]) != DC_OK) {
			rc = too_long(p, dir, names[i]);
			continue;
		}
		rc = walk_entry(p, buf_str(&child), &me, depth);
	}
	if (rc == DC_NOMEM)
		dc_fail(err, errlen, rc, "out of memory");
out:
	names_free(names, n);
	buf_free(&child);
	return rc;
}

/* Add one named path (a file or a directory tree) to the plan. */
static enum dc_err plan_path(struct plan *p, const char *path, struct ingest_stats *stats,
			     char *err, size_t errlen)
{
	struct stat sb;
	char cause[DC_ERRMAX];
	enum dc_err rc;

	if (!path || !*path)
		return dc_fail(err, errlen, DC_BADREQ, "ingest: no path given");
	if (stat(path, &sb) != 0)
		return dc_fail(err, errlen, DC_SYSTEM, "ingest %s: %s", path, strerror(errno));
	if (S_ISDIR(sb.st_mode)) {
		rc = walk_dir(p, path, &sb, NULL, 0, cause, sizeof(cause));
		if (rc != DC_OK)
			return dc_fail(err, errlen, rc, "ingest %s: %s", path, cause);
		return DC_OK;
	}
	if (!S_ISREG(sb.st_mode)) {
		stats->files_failed++;
		return dc_fail(err, errlen, DC_BADREQ, "ingest %s: not a regular file or directory",
			       path);
	}
	if (extract_format_of(base_name(path)) == EXTRACT_NONE) {
		stats->files_failed++;
		return dc_fail(err, errlen, DC_BADREQ, "ingest %s: unsupported file type "
			       "(docchat reads %s)", path, extract_supported());
	}
	rc = plan_add(p, ENTRY_FILE, path, NULL);
	if (rc != DC_OK)
		return dc_fail(err, errlen, rc, "ingest %s: out of memory", path);
	return DC_OK;
}

/* ---- carrying out the plan, with progress ---- */

struct walk {
	struct store *st;
	const struct config *cfg;
	const char *owner;
	unsigned flags;
	struct ingest_stats *stats;
	FILE *log;
	int tty;		/* log is a terminal: progress line instead of file lines */
	size_t total, done;	/* files */
	long long chunks, bytes;	/* chunks stored, bytes read, for the progress line */
	struct timespec start;
};

static double seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void progress_draw(const struct walk *w)
{
	char bar[PROGRESS_WIDTH + 1];
	size_t fill = w->total ? w->done * PROGRESS_WIDTH / w->total : PROGRESS_WIDTH;
	double secs = seconds_since(&w->start);

	if (!w->tty)
		return;
	memset(bar, '#', fill);
	memset(bar + fill, '.', PROGRESS_WIDTH - fill);
	bar[PROGRESS_WIDTH] = '\0';
	fprintf(w->log, TTY_CLEAR_LINE "[%s] %zu/%zu files, %lld chunks, %.1f MB/s", bar,
		w->done, w->total, w->chunks,
		secs > 0 ? (double)w->bytes / BYTES_PER_MB / secs : 0.0);
	fflush(w->log);
}

/* A per-file line: always for failures, only off a terminal for the rest. */
static void file_line(const struct walk *w, int failure, const char *what,
		      const char *path, const char *sep, const char *detail)
{
	if (!w->log || (w->tty && !failure))
		return;
	if (w->tty)
		fputs(TTY_CLEAR_LINE, w->log);
	fprintf(w->log, "%s %s%s%s\n", what, path, sep, detail);
	progress_draw(w);
}

/* Words for a successful outcome: " (3 chunks)", " (already stored)". */
static void outcome_detail(const struct outcome *o, char *s, size_t len)
{
	int n;

	if (o->existed && o->replaced)
		n = snprintf(s, len, " (already stored; %d older version%s removed)",
			     o->replaced, o->replaced == 1 ? "" : "s");
	else if (o->existed)
		n = snprintf(s, len, " (already stored)");
	else
		n = snprintf(s, len, " (%lld chunk%s)", o->nchunks, o->nchunks == 1 ? "" : "s");
	if (n < 0)
		s[0] = '\0';
}

/* Read and ingest one file of the plan, and report it. */
static void ingest_file(struct walk *w, const char *path)
{
	char cause[DC_ERRMAX], detail[96];
	struct buf data;
	struct job j;
	struct outcome o;
	enum ingest_problem why;
	char *abs = NULL;
	enum dc_err rc;

	cause[0] = '\0';
	buf_init(&data, INGEST_MAX_FILE);
	rc = read_file(path, &data, cause, sizeof(cause));
	if (rc != DC_OK)
		goto out;
	w->bytes += (long long)data.len;
	abs = realpath(path, NULL);	/* stored so the source can be found later */
	memset(&j, 0, sizeof(j));
	j.st = w->st;
	j.cfg = w->cfg;
	j.owner = w->owner;
	j.name = base_name(path);
	j.path = abs ? abs : path;
	j.file = path;
	j.data = data.data ? data.data : "";
	j.len = data.len;
	j.fmt = extract_format_of(j.name);
	j.flags = w->flags;
	rc = ingest_one(&j, &o, &why, cause, sizeof(cause));
	if (rc != DC_OK)
		goto out;
	outcome_detail(&o, detail, sizeof(detail));
	if (o.existed) {
		w->stats->files_skipped++;
		file_line(w, 0, "skipped", path, "", detail);
		goto out;
	}
	if (o.replaced)
		w->stats->files_replaced++;
	else
		w->stats->files_added++;
	w->stats->chunks += o.nchunks;
	w->stats->bytes += (long long)data.len;
	w->chunks += o.nchunks;
	file_line(w, 0, o.replaced ? "replaced" : "added", path, "", detail);
out:
	if (rc != DC_OK) {
		w->stats->files_failed++;
		file_line(w, 1, "failed", path, ": ", cause);
	}
	free(abs);
	buf_free(&data);
}

static void run_plan(struct walk *w, const struct plan *p)
{
	size_t i;

	w->total = p->files;
	clock_gettime(CLOCK_MONOTONIC, &w->start);
	progress_draw(w);
	for (i = 0; i < p->n; i++) {
		const struct entry *e = &p->e[i];

		if (e->kind == ENTRY_SKIPPED) {
			file_line(w, 0, "skipped", e->path, "", e->note);
		} else if (e->kind == ENTRY_FAILED) {
			w->stats->files_failed++;
			file_line(w, 1, "failed", e->path, ": ", e->note);
		} else {
			ingest_file(w, e->path);
			w->done++;
			progress_draw(w);
		}
	}
	if (w->tty) {
		fputs(TTY_CLEAR_LINE, w->log);
		fflush(w->log);
	}
}

enum dc_err ingest_paths(struct store *st, const struct config *cfg, const char *owner,
			 const char *const *paths, size_t npaths, unsigned flags,
			 struct ingest_stats *stats, FILE *log, char *err, size_t errlen)
{
	struct plan plan;
	struct walk w;
	size_t i;
	enum dc_err rc = DC_OK;

	memset(&plan, 0, sizeof(plan));
	memset(&w, 0, sizeof(w));
	w.st = st;
	w.cfg = cfg;
	w.owner = owner ? owner : "";
	w.flags = flags;
	w.stats = stats;
	w.log = log;
	w.tty = log && isatty(fileno(log));
	for (i = 0; rc == DC_OK && i < npaths; i++)
		rc = plan_path(&plan, paths[i], stats, err, errlen);
	if (rc == DC_OK)
		run_plan(&w, &plan);
	plan_free(&plan);
	return rc;
}

enum dc_err ingest_path(struct store *st, const struct config *cfg, const char *owner,
			const char *path, struct ingest_stats *stats, FILE *log,
			char *err, size_t errlen)
{
	return ingest_paths(st, cfg, owner, &path, 1, 0, stats, log, err, errlen);
}
