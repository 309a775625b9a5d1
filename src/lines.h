/* lines.h - splitting a byte stream into lines across arbitrary reads.
 *
 * Upstream model servers send SSE (OpenAI) or NDJSON (Ollama) over HTTP; a read from the
 * socket may end anywhere, in the middle of a line or of a multi-byte UTF-8 character.
 * This module keeps the partial tail and hands complete lines to a callback, without the
 * terminating "\n" or "\r\n" (a lone "\r" also ends a line, as the SSE spec says).
 * It knows nothing about what a line means. */
#ifndef DC_LINES_H
#define DC_LINES_H

#include <stddef.h>
#include "buf.h"

/* Called once per complete line. line is NUL-terminated (len excludes the NUL) and valid
 * only during the call. Returning anything but DC_OK stops feeding and is returned. */
typedef enum dc_err (*lines_cb)(void *ud, const char *line, size_t len);

struct lines {
	struct buf pending;	/* the unfinished last line */
	int last_cr;		/* the previous chunk ended in "\r": a leading "\n" is its pair */
};

/* maxline: longest line accepted; a longer one makes lines_feed return DC_TOOBIG. */
void lines_init(struct lines *l, size_t maxline);

/* Feed n bytes; calls cb for every line completed by them. */
enum dc_err lines_feed(struct lines *l, const char *p, size_t n, lines_cb cb, void *ud);

/* End of stream: a final line without a terminator is passed to cb (if non-empty). */
enum dc_err lines_finish(struct lines *l, lines_cb cb, void *ud);

void lines_free(struct lines *l);

#endif
