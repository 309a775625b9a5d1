/* words.h - the word and sentence logic shared by the extractive backend and grounding.
 *
 * Both modules compare texts by their content words, so both must cut and reduce words
 * the same way; this module is that one way. A word is a run of letters and digits in
 * any script; each Han, Hiragana or Katakana character is a word of its own, since those
 * scripts do not separate words with spaces. A word's key is the form that is compared:
 * ASCII and Latin-1 capitals lower-cased, English stop words dropped, and a light suffix
 * stemmer applied to plain ASCII words ("documents", "documented" -> "document").
 * Sentences end at . ! ? (and 。！？) followed by a space, at blank lines and before list
 * items; citation markers such as [1] right after the end stay with their sentence.
 * Knows nothing of sources, prompts, models or transport. */
#ifndef DC_WORDS_H
#define DC_WORDS_H

#include <stddef.h>
#include "dc.h"

struct buf;

/* Room for a word key and its NUL; longer words are compared by their first bytes,
 * cut at a character boundary. */
#define WORDS_KEY_MAX 64

/* The code point standing for a byte that is not valid UTF-8. */
#define WORDS_BAD_CHAR 0xFFFDUL

/* Decode the UTF-8 character starting at s (len > 0 bytes available). Returns its length
 * and stores its code point in *cp; an invalid, overlong or truncated sequence counts as
 * one byte with *cp = WORDS_BAD_CHAR. */
size_t words_utf8_char(const char *s, size_t len, unsigned long *cp);

/* Find the next word in text[*pos, len). Returns 1 and sets *start and *wlen (bytes)
 * and moves *pos past the word, or returns 0 when no word is left. */
int words_next(const char *text, size_t len, size_t *pos, size_t *start, size_t *wlen);

/* Reduce the word w[0, n) (as found by words_next) to its key in out, NUL-terminated.
 * Returns the key's length, or 0 for a stop word (out is then unspecified). */
size_t words_key(const char *w, size_t n, char out[WORDS_KEY_MAX]);

/* Is the lower-case word w[0, n) on the English stop-word list? */
int words_is_stop(const char *w, size_t n);

/* Stem the lower-case word w (length n, NUL-terminated) in place; returns the new length.
 * Only words of ASCII letters are changed. */
size_t words_stem(char *w, size_t n);

/* Length of the citation marker starting at t[i] ("[1]", "[2, 3]", "[4-6]": a "[",
 * a digit, then digits, commas, hyphens or spaces, and "]"), 0 if there is none. */
size_t words_citation_len(const char *t, size_t len, size_t i);

/* A distinct, sorted set of word keys. Zero-initialise or words_set_init before use. */
struct words_set {
	char **v;	/* malloc'd keys, sorted by strcmp, each once */
	size_t n;
	size_t cap;
};

void words_set_init(struct words_set *s);

/* Add the keys of every content word of text[0, len). DC_NOMEM on allocation failure
 * (the set then keeps what it held before or some of the new keys; it stays valid). */
enum dc_err words_set_add_text(struct words_set *s, const char *text, size_t len);

/* The index of key in s, or s->n when it is absent. */
size_t words_set_index(const struct words_set *s, const char *key);

/* How many keys of a are also in b. */
size_t words_set_shared(const struct words_set *a, const struct words_set *b);

/* Free the keys; the set is empty and reusable afterwards. */
void words_set_free(struct words_set *s);

/* A sentence as a byte range of the text it was found in. */
struct words_span {
	size_t start;
	size_t len;
};

/* Split text[0, len) into sentences, each trimmed of surrounding whitespace; spans
 * holding no word at all (a lone "---") are left out. *out is a malloc'd array the
 * caller frees (NULL when *n is 0). */
enum dc_err words_sentences(const char *text, size_t len, struct words_span **out,
			    size_t *n);

/* Append s[0, n) to b with leading and trailing whitespace dropped, each inner run of
 * whitespace made one space, and each byte that is not valid UTF-8 replaced by U+FFFD,
 * so the result is valid UTF-8 whatever came in. Errors are buf_append's. */
enum dc_err words_append_clean(struct buf *b, const char *s, size_t n);

#endif
