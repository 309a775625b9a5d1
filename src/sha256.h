/* sha256.h - SHA-256 (FIPS 180-4), for storing API tokens as digests.
 *
 * Written by hand because none of docchat's libraries offers a cryptographic hash to
 * applications: libsqlite3 has none (its sha3() lives in the sqlite3 shell only),
 * libcurl keeps its SHA-256 internal, json-c's and libfcgi's are not cryptographic or
 * absent, and a TLS library only for this would be a new dependency. The code follows
 * FIPS 180-4 section 6.2 and is checked against NIST's test vectors
 * (tests/unit/test_sha256.c).
 *
 * Incremental: init, update any number of times with any lengths, final. A context
 * holds no pointers and needs no cleanup. */
#ifndef DC_SHA256_H
#define DC_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_BLOCK_LEN 64
#define SHA256_HEX_LEN (2 * SHA256_DIGEST_LEN)

struct sha256 {
	uint32_t state[8];
	uint64_t bytes;				/* message length so far */
	unsigned char block[SHA256_BLOCK_LEN];	/* a partial block */
	size_t fill;				/* bytes in block */
};

void sha256_init(struct sha256 *c);
/* Add n bytes at p (p may be NULL when n is 0). */
void sha256_update(struct sha256 *c, const void *p, size_t n);
/* Finish: the digest goes to out; c must be initialised again before reuse. */
void sha256_final(struct sha256 *c, unsigned char out[SHA256_DIGEST_LEN]);

/* The digest of p[0..n) in one call. */
void sha256(const void *p, size_t n, unsigned char out[SHA256_DIGEST_LEN]);

/* digest as 64 lower-case hex digits and a NUL. */
void sha256_hex(const unsigned char digest[SHA256_DIGEST_LEN], char out[SHA256_HEX_LEN + 1]);

#endif
