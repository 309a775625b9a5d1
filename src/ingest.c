/* ingest.c - files and texts into stored, searchable documents (see ingest.h).
 *
 * The boundary where document bytes enter docchat: a text is accepted only if it is
 * valid UTF-8 (checked with utf8.c) without NUL bytes; a rejected file is named with
 * the byte offset of the first bad byte, never stored as mojibake. A UTF-8 byte order
 * mark is dropped and line ends become "\n" before chunking, so offsets refer to that
 * normalised text. The content hash (of the normalised text, so a CRLF copy of a file
 * is the same document) lets the store skip files it already has. Directory walks are
 * recursive, in byte order of names, skip dot-files, follow symbolic links but never
 * into a directory already being walked, and report one line per file. Splitting is
 * chunk.c's job, SQL is store.c's; HTTP and other file formats are left to their own
 * modules. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "chunk.h"
#include "config.h"
#include "ingest.h"
#include "store.h"
#include "utf8.h"

#define INGEST_MAX_FILE (64 * 1024 * 1024)	/* largest text file read */
#define INGEST_READ_BLOCK 65536
#define INGEST_DEFAULT_CHUNK 300		/* words per chunk when unset */
#define INGEST_DEFAULT_OVERLAP 50
#define INGEST_MAX_DEPTH 64			/* directory nesting followed */
#define INGEST_HASH_PREFIX "fnv1a64:"
#define INGEST_HASH_LEN (sizeof(INGEST_HASH_PREFIX) - 1 + 16)
#define FNV64_OFFSET 0xcbf29ce484222325ULL
#define FNV64_PRIME 0x100000001b3ULL

static const char *const text_exts[] = { ".txt", ".text", ".md", ".markdown", NULL };
static const char *const markdown_exts[] = { ".md", ".markdown", NULL };

struct walk {
	struct store *st;
	const struct config *cfg;
	const char *owner;
	struct ingest_stats *stats;
	FILE *log;
};

/* A directory on the path being walked, to notice a symbolic link back into it. */
struct dir_id {
	dev_t dev;
	ino_t ino;
	const struct dir_id *up;
};

static void log_line(FILE *log, const char *what, const char *path, const char *detail)
{
	if (log)
		fprintf(log, "%s %s%s\n", what, path, detail);
}

static int has_ext(const char *name, const char *const *exts)
{
	size_t n = strlen(name), e, i;

	for (i = 0; exts[i]; i++) {
		e = strlen(exts[i]);
		if (n > e && strcasecmp(name + n - e, exts[i]) == 0)
			return 1;
	}
	return 0;
}

/* ---- text checks ---- */

/* DC_OK for NUL-free UTF-8, else DC_BADREQ with the offset of the first bad byte. */
static enum dc_err check_text(const char *p, size_t n, char *cause, size_t len)
{
	const char *nul = n ? memchr(p, '\0', n) : NULL;
	size_t valid = utf8_valid_prefix(p, n);

	/* Report whichever problem comes first in the file. */
	if (nul && (size_t)(nul - p) < valid)
		return dc_fail(cause, len, DC_BADREQ, "contains a NUL byte at byte %zu "
			       "(binary file?)", (size_t)(nul - p));
	if (valid < n)
		return dc_fail(cause, len, DC_BADREQ, "not valid UTF-8 at byte %zu", valid);
	return DC_OK;
}

/* Copy of p without a leading byte order mark and with CRLF and lone CR as "\n".
 * The caller frees *out. */
static enum dc_err normalize(const char *p, size_t n, char **out, size_t *outlen)
{
	char *q;
	size_t i = 0, o = 0;

	*out = NULL;
	*outlen = 0;
	if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	q = malloc(n - i + 1);
	if (!q)
		return DC_NOMEM;
	for (; i < n; i++) {
		if (p[i] == '\r') {
			q[o++] = '\n';
			if (i + 1 < n && p[i + 1] == '\n')
				i++;
		} else {
			q[o++] = p[i];
		}
	}
	q[o] = '\0';
	*out = q;
	*outlen = o;
	return DC_OK;
}

/* Content hash: 64-bit FNV-1a as "fnv1a64:" and 16 hex digits. FNV is enough to
 * recognise a file ingested twice by accident; a stronger (cryptographic) hash is
 * planned, under a new prefix, for when shared libraries make collisions matter. */
static void content_hash(const char *p, size_t n, char out[INGEST_HASH_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t h = FNV64_OFFSET;
	size_t i, pre = sizeof(INGEST_HASH_PREFIX) - 1;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= FNV64_PRIME;
	}
	memcpy(out, INGEST_HASH_PREFIX, pre);
	for (i = 0; i < 16; i++)
		out[pre + i] = hex[(h >> (60 - 4 * i)) & 0xf];
	out[pre + 16] = '\0';
}

/* ---- one text ---- */

/* Check, normalise, chunk and store one text. cause gets the reason for a failure,
 * without the name (the callers put the name where they want it). */
static enum dc_err ingest_buffer(struct store *st, const struct config *cfg,
				 const char *owner, const char *name, const char *path,
				 const char *text, size_t len, long long *doc_id, int *existed,
				 long long *nchunks, char *cause, size_t causelen)
{
	char *norm = NULL, hash[INGEST_HASH_LEN + 1];
	struct chunk *chunks = NULL;
	struct store_chunk_in *in = NULL;
	size_t nlen = 0, n = 0, i;
	int target = INGEST_DEFAULT_CHUNK, overlap = INGEST_DEFAULT_OVERLAP;
	enum dc_err rc;

	*doc_id = 0;
	*existed = 0;
	*nchunks = 0;
	if (!text && len)
		return dc_fail(cause, causelen, DC_BADREQ, "no text given");
	rc = check_text(text, len, cause, causelen);
	if (rc != DC_OK)
		goto out;
	rc = normalize(text ? text : "", len, &norm, &nlen);
	if (rc != DC_OK) {
		rc = dc_fail(cause, causelen, rc, "out of memory");
		goto out;
	}
	if (cfg && cfg->chunk_tokens > 0)
		target = cfg->chunk_tokens;
	if (cfg && cfg->chunk_overlap > 0)
		overlap = cfg->chunk_overlap;
	rc = chunk_text(norm, nlen, has_ext(name, markdown_exts), target, overlap, &chunks, &n);
	if (rc != DC_OK) {
		rc = dc_fail(cause, causelen, rc, "splitting into chunks: %s", dc_strerror(rc));
		goto out;
	}
	if (n == 0) {
		rc = dc_fail(cause, causelen, DC_BADREQ, "no text to index (empty file)");
		goto out;
	}
	in = calloc(n, sizeof(*in));
	if (!in) {
		rc = dc_fail(cause, causelen, DC_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		in[i].text = chunks[i].text;
		in[i].heading = chunks[i].heading;
		in[i].start = chunks[i].start;
		in[i].end = chunks[i].end;
		in[i].page = 0;
	}
	content_hash(norm, nlen, hash);
	rc = store_document_add(st, owner ? owner : "", name, path, hash, (long long)len, in, n,
				doc_id, existed, cause, causelen);
	if (rc == DC_OK && !*existed)
		*nchunks = (long long)n;
out:
	free(in);
	chunks_free(chunks, n);
	free(norm);
	return rc;
}

enum dc_err ingest_text(struct store *st, const struct config *cfg, const char *owner,
			const char *name, const char *path, const char *text, size_t len,
			long long *doc_id, int *existed, long long *nchunks,
			char *err, size_t errlen)
{
	char cause[DC_ERRMAX];
	enum dc_err rc;

	*doc_id = 0;
	*existed = 0;
	*nchunks = 0;
	if (!name || !*name)
		return dc_fail(err, errlen, DC_BADREQ, "ingest: document name missing");
	cause[0] = '\0';
	rc = ingest_buffer(st, cfg, owner, name, path, text, len, doc_id, existed, nchunks,
			   cause, sizeof(cause));
	if (rc != DC_OK)
		return dc_fail(err, errlen, rc, "%s: %s", name, cause);
	return DC_OK;
}

/* ---- files and directories ---- */

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

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Ingest one file (already known to be regular with a text extension) and log it. */
static void ingest_file(struct walk *w, const char *path)
{
	char cause[DC_ERRMAX], detail[64];
	struct buf data;
	char *abs = NULL;
	long long id = 0, nchunks = 0;
	int existed = 0;
	enum dc_err rc;

	cause[0] = '\0';
	buf_init(&data, INGEST_MAX_FILE);
	rc = read_file(path, &data, cause, sizeof(cause));
	if (rc != DC_OK)
		goto out;
	abs = realpath(path, NULL);	/* stored so the source can be found later */
	rc = ingest_buffer(w->st, w->cfg, w->owner, base_name(path), abs ? abs : path,
			   data.data, data.len, &id, &existed, &nchunks, cause, sizeof(cause));
	if (rc != DC_OK)
		goto out;
	if (existed) {
		w->stats->files_skipped++;
		log_line(w->log, "skipped", path, " (already stored)");
		goto out;
	}
	w->stats->files_added++;
	w->stats->chunks += nchunks;
	w->stats->bytes += (long long)data.len;
	if (snprintf(detail, sizeof(detail), " (%lld chunk%s)", nchunks,
		     nchunks == 1 ? "" : "s") < 0)
		detail[0] = '\0';
	log_line(w->log, "added", path, detail);
out:
	if (rc != DC_OK) {
		w->stats->files_failed++;
		if (w->log)
			fprintf(w->log, "failed %s: %s\n", path, cause);
	}
	free(abs);
	buf_free(&data);
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

static enum dc_err walk_dir(struct walk *w, const char *dir, const struct stat *dsb,
			    const struct dir_id *up, int depth, char *err, size_t errlen);

/* One directory entry: recurse, ingest, or say why not. */
static void walk_entry(struct walk *w, const char *path, const struct dir_id *me, int depth)
{
	struct stat sb;
	char cause[DC_ERRMAX];

	if (stat(path, &sb) != 0) {	/* follows links; a dangling one fails here */
		w->stats->files_failed++;
		if (w->log)
			fprintf(w->log, "failed %s: %s\n", path, strerror(errno));
		return;
	}
	if (S_ISDIR(sb.st_mode)) {
		if (walk_dir(w, path, &sb, me, depth + 1, cause, sizeof(cause)) != DC_OK) {
			w->stats->files_failed++;
			if (w->log)
				fprintf(w->log, "failed %s: %s\n", path, cause);
		}
		return;
	}
	if (!S_ISREG(sb.st_mode))
		log_line(w->log, "skipped", path, " (not a regular file)");
	else if (!has_ext(base_name(path), text_exts))
		log_line(w->log, "skipped", path, " (unsupported type)");
	else
		ingest_file(w, path);
}

static enum dc_err walk_dir(struct walk *w, const char *dir, const struct stat *dsb,
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
			log_line(w->log, "skipped", dir, " (symbolic link loop)");
			goto out;
		}
	}
	if (depth > INGEST_MAX_DEPTH) {
		log_line(w->log, "skipped", dir, " (nested too deep)");
		goto out;
	}
	me.dev = dsb->st_dev;
	me.ino = dsb->st_ino;
	me.up = up;
	rc = list_dir(dir, &names, &n, err, errlen);
	if (rc != DC_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (join_path(&child, dir, names[i]) != DC_OK) {
			w->stats->files_failed++;
			if (w->log)
				fprintf(w->log, "failed %s/%s: path too long\n", dir, names[i]);
			continue;
		}
		walk_entry(w, buf_str(&child), &me, depth);
	}
out:
	names_free(names, n);
	buf_free(&child);
	return rc;
}

enum dc_err ingest_path(struct store *st, const struct config *cfg, const char *owner,
			const char *path, struct ingest_stats *stats, FILE *log,
			char *err, size_t errlen)
{
	struct walk w;
	struct stat sb;
	char cause[DC_ERRMAX];
	enum dc_err rc;

	w.st = st;
	w.cfg = cfg;
	w.owner = owner ? owner : "";
	w.stats = stats;
	w.log = log;
	if (!path || !*path)
		return dc_fail(err, errlen, DC_BADREQ, "ingest: no path given");
	if (stat(path, &sb) != 0)
		return dc_fail(err, errlen, DC_SYSTEM, "ingest %s: %s", path, strerror(errno));
	if (S_ISDIR(sb.st_mode)) {
		rc = walk_dir(&w, path, &sb, NULL, 0, cause, sizeof(cause));
		if (rc != DC_OK)
			return dc_fail(err, errlen, rc, "ingest %s: %s", path, cause);
		return DC_OK;
	}
	if (!S_ISREG(sb.st_mode)) {
		stats->files_failed++;
		return dc_fail(err, errlen, DC_BADREQ, "ingest %s: not a regular file or directory",
			       path);
	}
	if (!has_ext(base_name(path), text_exts)) {
		stats->files_failed++;
		return dc_fail(err, errlen, DC_BADREQ, "ingest %s: unsupported file type "
			       "(docchat reads .txt, .text, .md and .markdown)", path);
	}
	ingest_file(&w, path);
	return DC_OK;
}
