/* buf.c - the growable byte buffer (see buf.h). Written here rather than taken from a
 * library because it is small and every module needs its exact failure behaviour. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_MIN_CAP 64

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_free_secret(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	buf_free(b);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Make room for extra more bytes plus the NUL. */
static enum dc_err buf_grow(struct buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > b->max || b->len > b->max - extra) {
		buf_free(b);
		return DC_TOOBIG;
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return DC_OK;
	cap = b->cap ? b->cap : BUF_MIN_CAP;
	while (cap < need)
		cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1 >= need ? b->max + 1 : need;
	p = realloc(b->data, cap);
	if (!p) {
		buf_free(b);
		return DC_NOMEM;
	}
	b->data = p;
	b->cap = cap;
	return DC_OK;
}

enum dc_err buf_append(struct buf *b, const void *p, size_t n)
{
	enum dc_err rc = buf_grow(b, n);

	if (rc != DC_OK)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return DC_OK;
}

enum dc_err buf_appends(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

enum dc_err buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	enum dc_err rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		buf_free(b);
		return DC_NOMEM;
	}
	rc = buf_grow(b, (size_t)n);
	if (rc != DC_OK)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return DC_OK;
}

char *buf_take(struct buf *b, size_t *len)
{
	char *p = b->data;

	if (!p) {
		p = malloc(1);
		if (!p)
			return NULL;
		p[0] = '\0';
	}
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

const char *buf_str(const struct buf *b)
{
	return b->data ? b->data : "";
}
