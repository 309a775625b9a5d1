/* utf8.h - UTF-8 validation, shared by every boundary that takes text from outside
 * (query strings, uploaded files, model output). */
#ifndef DC_UTF8_H
#define DC_UTF8_H

#include <stddef.h>

/* Decode the character at s[0..n) (n >= 1): its length 1..4 with the code point in *cp,
 * or 0 when s does not start with a well-formed character (*cp untouched). */
size_t utf8_decode(const char *s, size_t n, unsigned long *cp);

/* Length of the longest valid UTF-8 prefix of s[0..n): n when all of it is valid.
 * Rejects overlong forms, surrogates, code points past U+10FFFF and truncated
 * sequences. NUL bytes are valid UTF-8 here; callers that forbid them check alone. */
size_t utf8_valid_prefix(const char *s, size_t n);

/* Is s[0..n) entirely valid UTF-8? */
int utf8_valid(const char *s, size_t n);

#endif
