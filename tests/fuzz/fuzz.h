/* fuzz.h - what the fuzz harnesses in tests/fuzz/ share.
 *
 * Each harness defines LLVMFuzzerTestOneInput and is built twice: with libFuzzer
 * (clang, tests/fuzz/run) to search for new inputs, and with replay.c's main (the
 * normal build, under ASan and UBSan when configured with --enable-sanitizers) to run
 * the committed corpus in tests/fuzz/corpus/<target>/ on every test run, as SQLite's
 * fuzzcheck replays its corpus.
 *
 * A harness must not only survive its input: it checks what the parser promises about
 * it (valid UTF-8 out, parts inside the body, the same answer however a stream is cut)
 * with FUZZ_CHECK, which aborts so that both libFuzzer and the replay report the input.
 * The helpers here are written independently of src/ on purpose: a check that used
 * utf8.c to judge utf8.c would prove nothing. */
#ifndef DC_FUZZ_H
#define DC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test; on failure name it and abort. */
#define FUZZ_CHECK(cond) do { \
	if (!(cond)) \
		fuzz_fail(__FILE__, __LINE__, #cond); \
} while (0)

static inline void fuzz_fail(const char *file, int line, const char *what)
	__attribute__((noreturn));
static inline void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "invariant failed: %s:%d: %s\n", file, line, what);
	fflush(stderr);
	abort();
}

/* Is s[0..n) well-formed UTF-8 (Unicode chapter 3: no overlong forms, no surrogates,
 * nothing past U+10FFFF, no truncated sequence)? NUL bytes count as valid. Decodes the
 * code point and checks its range, unlike utf8.c, which checks byte ranges. */
static inline int fuzz_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned long cp, min;
		size_t len, k;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xE0) == 0xC0) {
			len = 2, cp = s[i] & 0x1Fu, min = 0x80;
		} else if ((s[i] & 0xF0) == 0xE0) {
			len = 3, cp = s[i] & 0x0Fu, min = 0x800;
		} else if ((s[i] & 0xF8) == 0xF0) {
			len = 4, cp = s[i] & 0x07u, min = 0x10000;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3Fu);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += len;
	}
	return 1;
}

/* A NUL-terminated string of exactly n bytes with no NUL inside? */
static inline int fuzz_is_cstring(const char *s, size_t n)
{
	return s && memchr(s, '\0', n) == NULL && s[n] == '\0';
}

/* A copy of data[0..n) in its own allocation, NUL-terminated, so that ASan catches a
 * read past the end the parser was given (libFuzzer's buffer has no terminator). */
static inline char *fuzz_dup(const uint8_t *data, size_t n)
{
	char *p = malloc(n + 1);

	if (!p)
		abort();
	if (n)
		memcpy(p, data, n);
	p[n] = '\0';
	return p;
}

/* A small deterministic generator, seeded from the input itself, for choices such as
 * where to cut a stream: the same input always takes the same path. */
struct fuzz_rng {
	uint64_t s;
};

static inline void fuzz_rng_seed(struct fuzz_rng *r, const uint8_t *data, size_t n)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	r->s = h ? h : 1;
}

static inline uint64_t fuzz_rng_next(struct fuzz_rng *r)
{
	r->s ^= r->s << 13;	/* xorshift64 */
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return r->s;
}

#endif
