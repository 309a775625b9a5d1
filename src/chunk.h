/* chunk.h - splitting extracted text into overlapping chunks on paragraph and heading
 * boundaries. Headings (Markdown "#" lines, or those an extractor found, see extract.h)
 * are tracked as a heading path ("Install > Debian") that each chunk carries, and so
 * is the page a chunk starts on when the text has pages. Token counts are estimated as
 * words (whitespace-separated runs). Knows nothing of files, formats or storage. */
#ifndef DC_CHUNK_H
#define DC_CHUNK_H

#include <stddef.h>
#include "dc.h"

struct extract_doc;

struct chunk {
	char *text;		/* malloc'd, NUL-terminated */
	char *heading;		/* malloc'd heading path, or NULL */
	long long start, end;	/* byte offsets of the chunk in the input */
	int page;		/* page of the chunk's first byte, from 1; 0 without pages */
};

/* Split text (len bytes, valid UTF-8) into chunks of about target words, each starting
 * with up to overlap words of the previous one. markdown: treat "#" lines as headings.
 * A paragraph longer than target is split on sentence, then word boundaries.
 * *out is a malloc'd array freed with chunks_free. */
enum dc_err chunk_text(const char *text, size_t len, int markdown, int target, int overlap,
		       struct chunk **out, size_t *n);

/* The same for an extracted document: its Markdown flag, its headings (each a line of
 * its own, which becomes a paragraph of its own) and its page starts. A heading or page
 * list that breaks extract.h's rules (out of order, past the end, a heading that is not
 * a whole line) is DC_BADREQ. */
enum dc_err chunk_doc(const struct extract_doc *doc, int target, int overlap,
		      struct chunk **out, size_t *n);
void chunks_free(struct chunk *c, size_t n);

#endif
