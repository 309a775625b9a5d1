/* lines.c - the line splitter for upstream byte streams (see lines.h).
 *
 * Every byte of a line goes through the pending buffer, so the callback always gets a
 * NUL-terminated copy and the buffer's maximum is the line limit: a line that grows past
 * it fails as soon as the excess arrives, not when (or if) its end comes. A "\r" ends a
 * line at once; whether a "\n" follows is only known with the next byte, possibly in the
 * next feed, so last_cr remembers it. Written by hand: it is a few lines no library
 * offers in this shape. */
#include "lines.h"

void lines_init(struct lines *l, size_t maxline)
{
	buf_init(&l->pending, maxline);
	l->last_cr = 0;
}

void lines_free(struct lines *l)
{
	buf_free(&l->pending);
	l->last_cr = 0;
}

/* Hand the pending line to cb and start a new one. */
static enum dc_err lines_emit(struct lines *l, lines_cb cb, void *ud)
{
	enum dc_err rc;

	rc = cb(ud, buf_str(&l->pending), l->pending.len);
	buf_reset(&l->pending);
	return rc;
}

enum dc_err lines_feed(struct lines *l, const char *p, size_t n, lines_cb cb, void *ud)
{
	size_t i = 0, j;
	enum dc_err rc;

	while (i < n) {
		if (l->last_cr) {
			l->last_cr = 0;
			if (p[i] == '\n') {
				i++;
				continue;
			}
		}
		for (j = i; j < n && p[j] != '\n' && p[j] != '\r'; j++)
			;
		if (j > i) {
			rc = buf_append(&l->pending, p + i, j - i);
			if (rc != DC_OK)
				return rc;
		}
		if (j == n)
			break;
		l->last_cr = p[j] == '\r';
		rc = lines_emit(l, cb, ud);
		if (rc != DC_OK)
			return rc;
		i = j + 1;
	}
	return DC_OK;
}

enum dc_err lines_finish(struct lines *l, lines_cb cb, void *ud)
{
	l->last_cr = 0;
	if (l->pending.len == 0)
		return DC_OK;
	return lines_emit(l, cb, ud);
}
