/* chunk.h - splitting extracted text into overlapping chunks on paragraph and heading
 * boundaries. Markdown headings are tracked as a heading path ("Install > Debian") that
 * each chunk carries. Token counts are estimated as words (whitespace-separated runs).
 * Knows nothing of files or storage. */
#ifndef DC_CHUNK_H
#define DC_CHUNK_H

#include <stddef.h>
#include "dc.h"

struct chunk {
	char *text;		/* malloc'd, NUL-terminated */
	char *heading;		/* malloc'd heading path, or NULL */
	long long start, end;	/* byte offsets of the chunk in the input */
};

/* Split text (len bytes, valid UTF-8) into chunks of about target words, each starting
 * with up to overlap words of the previous one. markdown: treat "#" lines as headings.
 * A paragraph longer than target is split on sentence, then word boundaries.
 * *out is a malloc'd array freed with chunks_free. */
enum dc_err chunk_text(const char *text, size_t len, int markdown, int target, int overlap,
		       struct chunk **out, size_t *n);
void chunks_free(struct chunk *c, size_t n);

#endif
