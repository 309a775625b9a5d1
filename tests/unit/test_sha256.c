/* test_sha256.c - sha256.c against the NIST test vectors (FIPS 180-4 examples and the
 * SHA-256 short/long message values): the empty string, "abc", the 448-bit and 896-bit
 * messages, one million 'a'; then lengths around the padding boundaries (55, 56, 63,
 * 64 ... 128 bytes, digests from an independent implementation) and that feeding a
 * message in pieces of every size gives the one-call digest. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sha256.h"

static const char *hex_of(const void *msg, size_t n)
{
	static char out[SHA256_HEX_LEN + 1];
	unsigned char d[SHA256_DIGEST_LEN];

	sha256(msg, n, d);
	sha256_hex(d, out);
	return out;
}

static void test_nist_empty(void)
{
	CHECK_STR(hex_of("", 0),
		  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CHECK_STR(hex_of(NULL, 0),
		  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_nist_abc(void)
{
	CHECK_STR(hex_of("abc", 3),
		  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_nist_448_bits(void)
{
	static const char m[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	CHECK_INT(strlen(m) * 8, 448);
	CHECK_STR(hex_of(m, strlen(m)),
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_nist_896_bits(void)
{
	static const char m[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
				"hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

	CHECK_INT(strlen(m) * 8, 896);
	CHECK_STR(hex_of(m, strlen(m)),
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_nist_million_a(void)
{
	static const char want[] =
		"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
	size_t n = 1000000;
	char *m = malloc(n);
	unsigned char d[SHA256_DIGEST_LEN];
	char hex[SHA256_HEX_LEN + 1];
	struct sha256 c;

	CHECK(m != NULL);
	if (!m)
		return;
	memset(m, 'a', n);
	CHECK_STR(hex_of(m, n), want);
	/* The same through update() in 1000-byte and uneven 997-byte pieces. */
	sha256_init(&c);
	for (size_t i = 0; i < n; i += 1000)
		sha256_update(&c, m + i, 1000);
	sha256_final(&c, d);
	sha256_hex(d, hex);
	CHECK_STR(hex, want);
	sha256_init(&c);
	for (size_t i = 0; i < n; i += 997)
		sha256_update(&c, m + i, n - i < 997 ? n - i : 997);
	sha256_final(&c, d);
	sha256_hex(d, hex);
	CHECK_STR(hex, want);
	free(m);
}

/* Messages of byte i = i % 251, whose lengths sit on either side of where the length
 * field forces a second padding block (56) and of block ends (64, 128). */
static void test_padding_boundaries(void)
{
	static const struct {
		size_t n;
		const char *hex;
	} v[] = {
		{ 55, "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59" },
		{ 56, "da2ae4d6b36748f2a318f23e7ab1dfdf45acdc9d049bd80e59de82a60895f562" },
		{ 63, "29af2686fd53374a36b0846694cc342177e428d1647515f078784d69cdb9e488" },
		{ 64, "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108" },
		{ 65, "4bfd2c8b6f1eec7a2afeb48b934ee4b2694182027e6d0fc075074f2fabb31781" },
		{ 119, "da18797ed7c3a777f0847f429724a2d8cd5138e6ed2895c3fa1a6d39d18f7ec6" },
		{ 120, "f52b23db1fbb6ded89ef42a23ce0c8922c45f25c50b568a93bf1c075420bbb7c" },
		{ 127, "92ca0fa6651ee2f97b884b7246a562fa71250fedefe5ebf270d31c546bfea976" },
		{ 128, "471fb943aa23c511f6f72f8d1652d9c880cfa392ad80503120547703e56a2be5" },
	};
	unsigned char m[128];

	for (size_t i = 0; i < sizeof m; i++)
		m[i] = (unsigned char)(i % 251);
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		CHECK_STR(hex_of(m, v[i].n), v[i].hex);
}

/* Every split of a 200-byte message into two update() calls, and byte-at-a-time,
 * gives the one-call digest. */
static void test_pieces_match_one_call(void)
{
	unsigned char m[200], whole[SHA256_DIGEST_LEN], d[SHA256_DIGEST_LEN];
	struct sha256 c;
	size_t cut, i;

	for (i = 0; i < sizeof m; i++)
		m[i] = (unsigned char)(i * 7 + 3);
	sha256(m, sizeof m, whole);
	for (cut = 0; cut <= sizeof m; cut++) {
		sha256_init(&c);
		sha256_update(&c, m, cut);
		sha256_update(&c, m + cut, sizeof m - cut);
		sha256_final(&c, d);
		CHECK(memcmp(d, whole, sizeof d) == 0);
	}
	sha256_init(&c);
	for (i = 0; i < sizeof m; i++)
		sha256_update(&c, m + i, 1);
	sha256_final(&c, d);
	CHECK(memcmp(d, whole, sizeof d) == 0);
}

int main(void)
{
	RUN(test_nist_empty);
	RUN(test_nist_abc);
	RUN(test_nist_448_bits);
	RUN(test_nist_896_bits);
	RUN(test_nist_million_a);
	RUN(test_padding_boundaries);
	RUN(test_pieces_match_one_call);
	return check_summary();
}
