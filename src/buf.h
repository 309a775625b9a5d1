/* buf.h - a growable, length-carrying byte buffer with a hard maximum.
 *
 * Everything built piece by piece uses it: SSE frames, prompts, lines assembled from
 * upstream reads, request bodies. data is always NUL-terminated (when non-NULL), so it
 * can be handed to string functions, but it may also hold NUL bytes: len is the truth.
 * The maximum set at init turns a runaway upstream line or an oversized body into
 * DC_TOOBIG instead of an out-of-memory. An append that fails frees the buffer (curl's
 * dynbuf habit), so callers need no cleanup on that path beyond buf_free being a no-op. */
#ifndef DC_BUF_H
#define DC_BUF_H

#include <stddef.h>
#include "dc.h"

struct buf {
	char *data;	/* NULL until the first append; owned by the buffer */
	size_t len;	/* bytes used, not counting the terminating NUL */
	size_t cap;	/* bytes allocated */
	size_t max;	/* largest len allowed */
};

/* Start empty with the given maximum length. Allocates nothing. */
void buf_init(struct buf *b, size_t max);

/* Append n bytes. DC_TOOBIG if len would exceed max, DC_NOMEM on allocation
 * failure; on either error the buffer is freed and left empty (still usable). */
enum dc_err buf_append(struct buf *b, const void *p, size_t n);

/* Append a NUL-terminated string. */
enum dc_err buf_appends(struct buf *b, const char *s);

/* Append formatted text; same errors as buf_append. */
enum dc_err buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Forget the contents but keep the allocation. */
void buf_reset(struct buf *b);

/* Free the memory; the buffer is empty and reusable afterwards. */
void buf_free(struct buf *b);

/* buf_free, overwriting the memory first: for buffers that held a secret (an API key in
 * an Authorization header). */
void buf_free_secret(struct buf *b);

/* Hand the contents to the caller, who must free() them; *len (if non-NULL) gets the
 * length. Returns an allocated empty string for an empty buffer, NULL only on
 * allocation failure. The buffer is empty afterwards. */
char *buf_take(struct buf *b, size_t *len);

/* The contents as a string: "" for an empty buffer, never NULL. */
const char *buf_str(const struct buf *b);

#endif
