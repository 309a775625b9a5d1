/* ingest.h - turning files into stored, searchable documents.
 *
 * Reads plain text, Markdown, HTML and PDF files through extract.c (text must be valid
 * UTF-8: other encodings are rejected, never stored as mojibake), splits them with
 * chunk.c keeping heading paths and pages, and stores document and chunks in one
 * transaction through store.c. Directories are walked recursively. A file whose
 * content is already stored for the owner is skipped before it is even parsed; with
 * INGEST_REPLACE a changed file replaces what was stored from its path. Knows no HTTP. */
#ifndef DC_INGEST_H
#define DC_INGEST_H

#include <stdio.h>
#include "dc.h"

struct store;
struct config;

struct ingest_stats {
	int files_added;
	int files_replaced;	/* stored in place of an older version (INGEST_REPLACE) */
	int files_skipped;	/* already stored (same content hash) */
	int files_failed;
	long long chunks;	/* of the files added and replaced */
	long long bytes;	/* of the files added and replaced */
};

#define INGEST_REPLACE 1u	/* a changed file replaces the documents stored from its
				 * path (same owner); an unchanged one is skipped */

/* Ingest one file or directory tree as owner ("" = shared library). Progress and
 * per-file errors are printed to log (one line per file); a file that fails does not
 * stop the walk. Returns DC_OK if at least the walk itself worked; stats say how many
 * files failed. stats is added to, not reset, so one struct can total several calls:
 * zero it before the first. A file named directly with an unsupported extension is an
 * error (DC_BADREQ); inside a directory such files are skipped with a log line. */
enum dc_err ingest_path(struct store *st, const struct config *cfg, const char *owner,
			const char *path, struct ingest_stats *stats, FILE *log,
			char *err, size_t errlen);

/* ingest_path for several paths with flags (INGEST_REPLACE). Every path is checked and
 * every directory listed first: a path that does not exist or is not a supported file
 * is the error, and then nothing is ingested. When log is a terminal, a progress line
 * (files done/total, chunks, MB/s) is redrawn in place of the per-file lines, and only
 * failures are printed as lines; the caller prints the summary. */
enum dc_err ingest_paths(struct store *st, const struct config *cfg, const char *owner,
			 const char *const *paths, size_t npaths, unsigned flags,
			 struct ingest_stats *stats, FILE *log, char *err, size_t errlen);

/* Why a file could not be ingested, for callers that must tell a person (HTTP status:
 * UNSUPPORTED 415, TOO_BIG 413, the rest 422). */
enum ingest_problem {
	INGEST_FINE = 0,
	INGEST_UNSUPPORTED,	/* the file type is not one docchat reads */
	INGEST_TOO_BIG,		/* over the size limit */
	INGEST_NOT_UTF8,	/* text in another encoding */
	INGEST_NO_TEXT,		/* nothing to index (empty, scanned PDF, ...) */
	INGEST_BROKEN		/* the file is damaged (a PDF that does not parse, ...) */
};

/* The file types ingestion accepts, for messages: ".txt, .md, ...". Static text. */
const char *ingest_supported(void);

/* Ingest a file held in memory (an upload): the format comes from name's extension.
 * name is the file name shown to users (a directory part is dropped). On failure *why
 * says what kind of problem it was (INGEST_FINE for internal errors such as the
 * database, or pdftotext missing on the server) and err says it in words without the
 * name, which the caller shows its own way. The size limit is the smaller of
 * cfg->max_upload (when set) and 64 MiB. *existed = 1 when the same content was
 * already stored for owner (nothing is parsed then). */
enum dc_err ingest_bytes(struct store *st, const struct config *cfg, const char *owner,
			 const char *name, const char *data, size_t len, long long *doc_id,
			 int *existed, long long *nchunks, enum ingest_problem *why,
			 char *err, size_t errlen);

/* Ingest an in-memory text (name decides the format: .md is Markdown, else plain). */
enum dc_err ingest_text(struct store *st, const struct config *cfg, const char *owner,
			const char *name, const char *path, const char *text, size_t len,
			long long *doc_id, int *existed, long long *nchunks,
			char *err, size_t errlen);

#endif
