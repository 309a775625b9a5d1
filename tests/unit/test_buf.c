/* test_buf.c - the growable buffer: appends, the hard maximum, take, printf. */
#include <stdlib.h>
#include "buf.h"
#include "check.h"

static void test_append_and_terminate(void)
{
	struct buf b;

	buf_init(&b, 100);
	CHECK_STR(buf_str(&b), "");
	CHECK_INT(buf_append(&b, "ab\0c", 4), DC_OK);
	CHECK_INT(b.len, 4);
	CHECK(b.data[4] == '\0');
	CHECK_INT(buf_appends(&b, "xyz"), DC_OK);
	CHECK_INT(b.len, 7);
	CHECK(memcmp(b.data, "ab\0cxyz", 8) == 0);
	buf_reset(&b);
	CHECK_INT(b.len, 0);
	CHECK_STR(buf_str(&b), "");
	buf_free(&b);
}

static void test_maximum_frees(void)
{
	struct buf b;

	buf_init(&b, 5);
	CHECK_INT(buf_appends(&b, "12345"), DC_OK);
	CHECK_INT(buf_appends(&b, "6"), DC_TOOBIG);
	CHECK(b.data == NULL);
	CHECK_INT(b.len, 0);
	CHECK_INT(buf_appends(&b, "abc"), DC_OK);	/* usable again */
	CHECK_STR(buf_str(&b), "abc");
	CHECK_INT(buf_printf(&b, "%d", 123), DC_TOOBIG);
	buf_free(&b);
}

static void test_printf_and_take(void)
{
	struct buf b;
	size_t len = 0;
	char *s;

	buf_init(&b, 1 << 20);
	for (int i = 0; i < 1000; i++)
		CHECK_INT(buf_printf(&b, "%d,", i), DC_OK);
	CHECK_INT(b.len, 3890);
	s = buf_take(&b, &len);
	CHECK_INT(len, 3890);
	CHECK(strncmp(s, "0,1,2,", 6) == 0);
	CHECK(b.data == NULL && b.len == 0);
	free(s);
	s = buf_take(&b, &len);
	CHECK_STR(s, "");
	CHECK_INT(len, 0);
	free(s);
}

int main(void)
{
	RUN(test_append_and_terminate);
	RUN(test_maximum_frees);
	RUN(test_printf_and_take);
	return check_summary();
}
