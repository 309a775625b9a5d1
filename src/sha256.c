/* sha256.c - SHA-256 as FIPS 180-4 specifies it (see sha256.h for why it is here).
 *
 * Section numbers refer to FIPS 180-4 (August 2015). Big-endian loads and stores are
 * written out byte by byte, so the code is the same on every machine. */
#include <string.h>

#include "sha256.h"

/* 4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64
 * primes. */
static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

/* 5.3.3: the first 32 bits of the fractional parts of the square roots of the first
 * eight primes. */
static const uint32_t H0[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
	0x5be0cd19,
};

/* 3.2 and 4.1.2 */
static uint32_t rotr(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static uint32_t ch(uint32_t x, uint32_t y, uint32_t z)
{
	return (x & y) ^ (~x & z);
}

static uint32_t maj(uint32_t x, uint32_t y, uint32_t z)
{
	return (x & y) ^ (x & z) ^ (y & z);
}

static uint32_t big_sigma0(uint32_t x)
{
	return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22);
}

static uint32_t big_sigma1(uint32_t x)
{
	return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25);
}

static uint32_t small_sigma0(uint32_t x)
{
	return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3);
}

static uint32_t small_sigma1(uint32_t x)
{
	return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10);
}

static uint32_t load_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void store_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* 6.2.2: process one 512-bit block. */
static void compress(uint32_t state[8], const unsigned char block[SHA256_BLOCK_LEN])
{
	uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;
	int t;

	for (t = 0; t < 16; t++)
		w[t] = load_be32(block + 4 * t);
	for (t = 16; t < 64; t++)
		w[t] = small_sigma1(w[t - 2]) + w[t - 7] + small_sigma0(w[t - 15]) + w[t - 16];
	a = state[0];
	b = state[1];
	c = state[2];
	d = state[3];
	e = state[4];
	f = state[5];
	g = state[6];
	h = state[7];
	for (t = 0; t < 64; t++) {
		t1 = h + big_sigma1(e) + ch(e, f, g) + K[t] + w[t];
		t2 = big_sigma0(a) + maj(a, b, c);
		h = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	state[0] += a;
	state[1] += b;
	state[2] += c;
	state[3] += d;
	state[4] += e;
	state[5] += f;
	state[6] += g;
	state[7] += h;
}

void sha256_init(struct sha256 *c)
{
	memcpy(c->state, H0, sizeof(c->state));
	c->bytes = 0;
	c->fill = 0;
}

void sha256_update(struct sha256 *c, const void *p, size_t n)
{
	const unsigned char *in = p;

	if (n == 0)
		return;
	c->bytes += n;
	if (c->fill > 0) {
		size_t take = SHA256_BLOCK_LEN - c->fill;

		if (take > n)
			take = n;
		memcpy(c->block + c->fill, in, take);
		c->fill += take;
		in += take;
		n -= take;
		if (c->fill < SHA256_BLOCK_LEN)
			return;
		compress(c->state, c->block);
		c->fill = 0;
	}
	while (n >= SHA256_BLOCK_LEN) {
		compress(c->state, in);
		in += SHA256_BLOCK_LEN;
		n -= SHA256_BLOCK_LEN;
	}
	if (n > 0) {
		memcpy(c->block, in, n);
		c->fill = n;
	}
}

/* 5.1.1: append the bit 1, zeros up to 448 bits mod 512, and the length in bits as a
 * 64-bit big-endian number. */
void sha256_final(struct sha256 *c, unsigned char out[SHA256_DIGEST_LEN])
{
	uint64_t bits = c->bytes * 8;
	int i;

	c->block[c->fill++] = 0x80;
	if (c->fill > SHA256_BLOCK_LEN - 8) {
		memset(c->block + c->fill, 0, SHA256_BLOCK_LEN - c->fill);
		compress(c->state, c->block);
		c->fill = 0;
	}
	memset(c->block + c->fill, 0, SHA256_BLOCK_LEN - 8 - c->fill);
	store_be32(c->block + SHA256_BLOCK_LEN - 8, (uint32_t)(bits >> 32));
	store_be32(c->block + SHA256_BLOCK_LEN - 4, (uint32_t)bits);
	compress(c->state, c->block);
	for (i = 0; i < 8; i++)
		store_be32(out + 4 * i, c->state[i]);
	memset(c, 0, sizeof(*c));
}

void sha256(const void *p, size_t n, unsigned char out[SHA256_DIGEST_LEN])
{
	struct sha256 c;

	sha256_init(&c);
	sha256_update(&c, p, n);
	sha256_final(&c, out);
}

void sha256_hex(const unsigned char digest[SHA256_DIGEST_LEN], char out[SHA256_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < SHA256_DIGEST_LEN; i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 0x0f];
	}
	out[SHA256_HEX_LEN] = '\0';
}
