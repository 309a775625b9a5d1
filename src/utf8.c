/* utf8.c - UTF-8 validation (see utf8.h), following the table of well-formed byte
 * sequences in the Unicode standard (chapter 3, "UTF-8"). */
#include "utf8.h"

/* Bytes in the sequence that starts with lead, and the allowed range of the second
 * byte; 0 for a byte that cannot start a sequence. */
static int seq_info(unsigned char lead, unsigned char *lo, unsigned char *hi)
{
	*lo = 0x80;
	*hi = 0xBF;
	if (lead < 0x80)
		return 1;
	if (lead >= 0xC2 && lead <= 0xDF)
		return 2;
	if (lead >= 0xE0 && lead <= 0xEF) {
		if (lead == 0xE0)
			*lo = 0xA0;
		else if (lead == 0xED)
			*hi = 0x9F;
		return 3;
	}
	if (lead >= 0xF0 && lead <= 0xF4) {
		if (lead == 0xF0)
			*lo = 0x90;
		else if (lead == 0xF4)
			*hi = 0x8F;
		return 4;
	}
	return 0;
}

size_t utf8_decode(const char *s, size_t n, unsigned long *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char lo, hi;
	int len = seq_info(p[0], &lo, &hi);
	unsigned long c;

	if (len == 0 || (size_t)len > n)
		return 0;
	if (len == 1) {
		*cp = p[0];
		return 1;
	}
	if (p[1] < lo || p[1] > hi)
		return 0;
	c = p[0] & (0x7Fu >> len);
	for (int k = 1; k < len; k++) {
		if (k > 1 && (p[k] < 0x80 || p[k] > 0xBF))
			return 0;
		c = (c << 6) | (p[k] & 0x3Fu);
	}
	*cp = c;
	return (size_t)len;
}

size_t utf8_valid_prefix(const char *s, size_t n)
{
	size_t i = 0;
	unsigned long cp;

	while (i < n) {
		size_t len = utf8_decode(s + i, n - i, &cp);

		if (len == 0)
			return i;
		i += len;
	}
	return n;
}

int utf8_valid(const char *s, size_t n)
{
	return utf8_valid_prefix(s, n) == n;
}
