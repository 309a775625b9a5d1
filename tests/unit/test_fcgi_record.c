/* test_fcgi_record.c - unit tests of FastCGI record framing (src/fcgi_record.c): header
 * bytes, splitting long output, the end of a request, and nothing for empty output. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check.h"
#include "fcgi_record.h"

static const unsigned char *bytes(const struct buf *b)
{
	return (const unsigned char *)b->data;
}

static void test_stdout_header(void)
{
	struct buf b;
	const unsigned char *p;

	buf_init(&b, 1 << 20);
	CHECK_INT(fcgi_record_stdout(&b, 0x1234, "data: x\n\n", 9), DC_OK);
	CHECK_INT(b.len, 8 + 9);
	p = bytes(&b);
	CHECK_INT(p[0], 1);		/* version */
	CHECK_INT(p[1], 6);		/* FCGI_STDOUT */
	CHECK_INT(p[2], 0x12);
	CHECK_INT(p[3], 0x34);
	CHECK_INT(p[4], 0);
	CHECK_INT(p[5], 9);
	CHECK_INT(p[6], 0);		/* no padding */
	CHECK(memcmp(p + 8, "data: x\n\n", 9) == 0);
	CHECK_INT(fcgi_record_stdout(&b, 1, "", 0), DC_OK);
	CHECK_INT(b.len, 8 + 9);
	buf_free(&b);
}

static void test_long_output_is_split(void)
{
	size_t n = 65535 + 65535 + 10;
	char *big = malloc(n);
	struct buf b;
	const unsigned char *p;
	size_t off = 0, content = 0, records = 0;

	CHECK(big != NULL);
	if (!big)
		return;
	for (size_t i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	buf_init(&b, 1 << 20);
	CHECK_INT(fcgi_record_stdout(&b, 7, big, n), DC_OK);
	p = bytes(&b);
	while (off + 8 <= b.len) {
		size_t len = (size_t)p[off + 4] << 8 | p[off + 5];

		CHECK_INT(p[off + 1], 6);
		CHECK_INT(p[off + 3], 7);
		CHECK(len > 0 && len <= 65535);
		CHECK(memcmp(p + off + 8, big + content, len) == 0);
		content += len;
		off += 8 + len;
		records++;
	}
	CHECK_INT(off, b.len);
	CHECK_INT(content, n);
	CHECK_INT(records, 3);
	free(big);
	buf_free(&b);
}

static void test_end_request(void)
{
	static const unsigned char want[] = {
		1, 6, 0, 3, 0, 0, 0, 0,		/* empty FCGI_STDOUT */
		1, 3, 0, 3, 0, 8, 0, 0,		/* FCGI_END_REQUEST, 8 bytes */
		0, 0, 1, 2, 0, 0, 0, 0		/* app status 258, request complete */
	};
	struct buf b;

	buf_init(&b, 1024);
	CHECK_INT(fcgi_record_end(&b, 3, 258), DC_OK);
	CHECK_INT(b.len, sizeof want);
	CHECK(memcmp(b.data, want, sizeof want) == 0);
	buf_free(&b);
}

static void test_limit_is_reported(void)
{
	struct buf b;

	buf_init(&b, 16);
	CHECK(fcgi_record_stdout(&b, 1, "0123456789abcdef", 16) != DC_OK);
	buf_free(&b);
}

int main(void)
{
	RUN(test_stdout_header);
	RUN(test_long_output_is_split);
	RUN(test_end_request);
	RUN(test_limit_is_reported);
	return check_summary();
}
