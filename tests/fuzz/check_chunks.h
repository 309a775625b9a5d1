/* check_chunks.h - what chunk.h promises about any chunking, for the HTML and Markdown
 * harnesses: every chunk is the input bytes [start, end) exactly; chunks advance
 * (starts never go back, ends always move on); nothing but whitespace is left out of
 * all chunks; a chunk holds at most `target` new words and repeats at most `overlap`
 * (and at most target / 2) words of the one before; and from valid UTF-8 come chunks
 * and heading paths in valid UTF-8, each path at most six levels of
 * CHUNK_MAX_HEADING_BYTES. Whitespace is chunk.c's: ASCII space, tab, LF, CR, FF, VT,
 * U+00A0 and U+3000. Words are counted as runs between whitespace, a lower bound of
 * chunk.c's count (it also cuts runs longer than 24 bytes), so the bounds hold. */
#ifndef DC_FUZZ_CHECK_CHUNKS_H
#define DC_FUZZ_CHECK_CHUNKS_H

#include "fuzz.h"

#include "chunk.h"

#define FUZZ_HEADING_PATH_MAX (6 * 200 + 5 * 3)	/* six levels, " > " between */

/* Length of the whitespace character at t[i], or 0. */
static inline size_t fuzz_space_at(const char *text, size_t len, size_t i)
{
	const unsigned char *t = (const unsigned char *)text;

	if (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r' || t[i] == '\f' ||
	    t[i] == '\v')
		return 1;
	if (len - i >= 2 && t[i] == 0xC2 && t[i + 1] == 0xA0)
		return 2;
	if (len - i >= 3 && t[i] == 0xE3 && t[i + 1] == 0x80 && t[i + 2] == 0x80)
		return 3;
	return 0;
}

/* Is t[from..to) only whitespace? */
static inline int fuzz_only_space(const char *t, size_t len, size_t from, size_t to)
{
	while (from < to) {
		size_t k = fuzz_space_at(t, len, from);

		if (!k)
			return 0;
		from += k;
	}
	return 1;
}

/* How many runs of non-whitespace t[from..to) holds (a run cut by from counts). */
static inline size_t fuzz_runs(const char *t, size_t len, size_t from, size_t to)
{
	size_t runs = 0, k;
	int in_run = 0;

	while (from < to) {
		k = fuzz_space_at(t, len, from);
		if (k) {
			in_run = 0;
			from += k;
		} else {
			runs += !in_run;
			in_run = 1;
			from++;
		}
	}
	return runs;
}

static inline void fuzz_check_chunks(const char *text, size_t len, const struct chunk *c,
				     size_t n, int utf8, int paged, int target, int overlap)
{
	size_t covered = 0;	/* everything before this offset is in a chunk or space */
	size_t ovl = overlap < 0 ? 0 : (size_t)overlap;

	if (ovl > (size_t)target / 2)
		ovl = (size_t)target / 2;

	FUZZ_CHECK(n == 0 || c != NULL);
	for (size_t i = 0; i < n; i++) {
		size_t start = (size_t)c[i].start, end = (size_t)c[i].end;

		FUZZ_CHECK(c[i].start >= 0 && c[i].start < c[i].end && end <= len);
		FUZZ_CHECK(c[i].text != NULL);
		FUZZ_CHECK(memcmp(c[i].text, text + start, end - start) == 0);
		FUZZ_CHECK(c[i].text[end - start] == '\0');
		if (i > 0) {
			size_t prev_end = (size_t)c[i - 1].end;

			FUZZ_CHECK(c[i].start >= c[i - 1].start);
			FUZZ_CHECK(c[i].end > c[i - 1].end);
			if (start < prev_end)
				FUZZ_CHECK(fuzz_runs(text, len, start, prev_end) <= ovl);
			FUZZ_CHECK(fuzz_runs(text, len, start > prev_end ? start : prev_end, end) <=
				   (size_t)target);
		} else {
			FUZZ_CHECK(fuzz_runs(text, len, start, end) <= (size_t)target);
		}
		if (start > covered)
			FUZZ_CHECK(fuzz_only_space(text, len, covered, start));
		if (end > covered)
			covered = end;
		FUZZ_CHECK(paged ? c[i].page >= 1 : c[i].page == 0);
		if (c[i].heading) {
			size_t hl = strlen(c[i].heading);

			FUZZ_CHECK(hl > 0 && hl <= FUZZ_HEADING_PATH_MAX);
			if (utf8)
				FUZZ_CHECK(fuzz_utf8_valid(c[i].heading, hl));
		}
		if (utf8)
			FUZZ_CHECK(fuzz_utf8_valid(c[i].text, end - start));
	}
	FUZZ_CHECK(fuzz_only_space(text, len, covered, len));
}

#endif
