/* test_utf8.c - UTF-8 validation against the well-formed byte sequence table. */
#include "check.h"
#include "utf8.h"

static void test_valid_text(void)
{
	CHECK(utf8_valid("", 0));
	CHECK(utf8_valid("plain ascii", 11));
	CHECK(utf8_valid("caf\xc3\xa9", 5));
	CHECK(utf8_valid("\xe6\x97\xa5\xe6\x9c\xac", 6));		/* 日本 */
	CHECK(utf8_valid("\xf0\x9f\x99\x82", 4));			/* 🙂 */
	CHECK(utf8_valid("\xf4\x8f\xbf\xbf", 4));			/* U+10FFFF */
}

static void test_invalid_sequences(void)
{
	CHECK(!utf8_valid("\xc3", 1));					/* truncated */
	CHECK(!utf8_valid("\xc0\xaf", 2));				/* overlong / */
	CHECK(!utf8_valid("\xe0\x80\xaf", 3));				/* overlong */
	CHECK(!utf8_valid("\xed\xa0\x80", 3));				/* surrogate */
	CHECK(!utf8_valid("\xf4\x90\x80\x80", 4));			/* > U+10FFFF */
	CHECK(!utf8_valid("\xff", 1));
	CHECK(!utf8_valid("abc\x80", 4));				/* lone continuation */
	CHECK(!utf8_valid("\xe6\x97", 2));
	CHECK(!utf8_valid("latin1 caf\xe9!", 12));
}

static void test_prefix_length(void)
{
	CHECK_INT(utf8_valid_prefix("ab\xc3\xa9\xe6\x97", 6), 4);
	CHECK_INT(utf8_valid_prefix("\x80", 1), 0);
	CHECK_INT(utf8_valid_prefix("abc", 3), 3);
}

int main(void)
{
	RUN(test_valid_text);
	RUN(test_invalid_sequences);
	RUN(test_prefix_length);
	return check_summary();
}
