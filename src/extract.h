/* extract.h - turning a file's bytes into UTF-8 text plus its structure.
 *
 * The boundary where document formats enter docchat: plain text and Markdown (checked
 * and normalised here), HTML (extract_html.c) and PDF (extract_pdf.c, through
 * pdftotext). The result is always valid UTF-8 without NUL bytes, with "\n" line ends,
 * and says where its headings and pages are, so that chunk.c can give every chunk a
 * heading path and a page number. The format is chosen by the file name's extension.
 * Knows nothing of chunking, storage or HTTP; the kinds of problem a file can have are
 * ingest.h's (enum ingest_problem), because that is where callers look for them. */
#ifndef DC_EXTRACT_H
#define DC_EXTRACT_H

#include <stddef.h>
#include "dc.h"
#include "ingest.h"

enum extract_format {
	EXTRACT_NONE = 0,	/* not a format docchat reads */
	EXTRACT_TEXT,		/* .txt, .text */
	EXTRACT_MARKDOWN,	/* .md, .markdown */
	EXTRACT_HTML,		/* .html, .htm */
	EXTRACT_PDF		/* .pdf */
};

/* One heading of the extracted text. Its text is a whole line of doc text:
 * [off, off + len) is preceded by the start of the text or "\n", followed by its end or
 * "\n", and holds no "\n". */
struct extract_heading {
	size_t off, len;
	int level;		/* 1 (<h1>) .. 6 */
};

struct extract_doc {
	char *text;		/* malloc'd, NUL-terminated, valid UTF-8, no NUL inside */
	size_t len;
	int markdown;		/* headings are Markdown "#" lines in the text, left for
				 * chunk.c to find (headings is then empty) */
	struct extract_heading *headings;	/* malloc'd, in text order, or NULL */
	size_t nheadings;
	size_t *pages;		/* malloc'd: pages[i] is where page i + 1 begins (pages[0] is
				 * 0); NULL with npages 0 for a text without pages */
	size_t npages;
};

/* Free what doc holds and zero it (a zeroed doc is fine to free). */
void extract_doc_free(struct extract_doc *doc);

/* The format a file name's extension (any case) stands for, EXTRACT_NONE if none. */
enum extract_format extract_format_of(const char *name);

/* The extensions docchat reads, for messages: ".txt, .text, .md, ...". Static text. */
const char *extract_supported(void);

/* Extract data[0..len) in format fmt into *out (the caller frees it with
 * extract_doc_free). file, when not NULL, names a file on disk holding the same bytes
 * (a PDF is then read from there instead of a temporary copy). On failure *out is
 * zeroed, *why says what kind of problem the file has (INGEST_FINE when the fault is
 * not the file's: out of memory, a failed system call) and err says it in words,
 * without the file's name, e.g. "not valid UTF-8 at byte 6". DC_BADREQ for a problem
 * of the file; DC_TOOBIG for INGEST_TOO_BIG; DC_SYSTEM (*why INGEST_FINE) when a
 * needed program is missing ("PDF support needs pdftotext: apt-get install
 * poppler-utils") or failed to start. */
enum dc_err extract_bytes(enum extract_format fmt, const char *data, size_t len,
			  const char *file, struct extract_doc *out, enum ingest_problem *why,
			  char *err, size_t errlen);

/* ---- the format modules, called by extract.c ---- */

/* HTML (extract_html.c): data must be valid UTF-8 (NUL bytes allowed; they are
 * dropped). Never fails on bad markup; errors are out of memory or size only. */
enum dc_err extract_html(const char *data, size_t len, struct extract_doc *out,
			 char *err, size_t errlen);

/* PDF (extract_pdf.c) through pdftotext: from file when not NULL, else from data
 * written to a temporary file. Errors as for extract_bytes. */
enum dc_err extract_pdf(const char *data, size_t len, const char *file,
			struct extract_doc *out, enum ingest_problem *why, char *err,
			size_t errlen);

/* Test hook: run program (a name looked up in PATH, or a path) instead of pdftotext,
 * and give it timeout_ms instead of the default 60 s. NULL and 0 restore the defaults.
 * Not thread-safe: for tests only. */
void extract_pdf_hook(const char *program, int timeout_ms);

#endif
