/* test_lines.c - unit tests of the line splitter (src/lines.c): every line ending, line
 * ends split across feeds, the line limit, end of stream and callback errors. Lines are
 * recorded as "<line>" so that empty lines and their count are visible. */
#include <stdlib.h>

#include "check.h"
#include "lines.h"

#define REC_MAX 4096

struct rec {
	struct buf out;		/* "<line><line>..." */
	int calls;
	int fail_at;		/* return DC_HUP on this call (1-based), 0: never */
};

static void rec_init(struct rec *r)
{
	buf_init(&r->out, REC_MAX);
	r->calls = 0;
	r->fail_at = 0;
}

static enum dc_err rec_line(void *ud, const char *line, size_t len)
{
	struct rec *r = ud;

	r->calls++;
	if (line[len] != '\0')
		return DC_SYSTEM;	/* the contract: NUL-terminated */
	if (r->fail_at && r->calls == r->fail_at)
		return DC_HUP;
	if (buf_append(&r->out, "<", 1) || buf_append(&r->out, line, len) ||
	    buf_append(&r->out, ">", 1))
		return DC_NOMEM;
	return DC_OK;
}

/* Feed s in pieces cut at the given offsets (ascending, ending with n), then finish. */
static enum dc_err feed_cuts(const char *s, size_t n, const size_t *cuts, size_t ncuts,
			     struct rec *r)
{
	struct lines l;
	size_t i, at = 0;
	enum dc_err rc = DC_OK;

	lines_init(&l, 64);
	for (i = 0; i < ncuts && rc == DC_OK; i++) {
		rc = lines_feed(&l, s + at, cuts[i] - at, rec_line, r);
		at = cuts[i];
	}
	if (rc == DC_OK && at < n)
		rc = lines_feed(&l, s + at, n - at, rec_line, r);
	if (rc == DC_OK)
		rc = lines_finish(&l, rec_line, r);
	lines_free(&l);
	return rc;
}

/* The lines of s fed whole. */
static void check_whole(const char *s, const char *want)
{
	struct rec r;

	rec_init(&r);
	CHECK_INT(feed_cuts(s, strlen(s), NULL, 0, &r), DC_OK);
	CHECK_STR(buf_str(&r.out), want);
	buf_free(&r.out);
}

/* The lines of s fed in two pieces cut at every position, and one byte at a time. */
static void check_every_split(const char *s, const char *want)
{
	size_t n = strlen(s), cut, *bytes;
	struct rec r;

	for (cut = 0; cut <= n; cut++) {
		rec_init(&r);
		CHECK_INT(feed_cuts(s, n, &cut, 1, &r), DC_OK);
		CHECK_STR(buf_str(&r.out), want);
		buf_free(&r.out);
	}
	bytes = malloc((n + 1) * sizeof(*bytes));
	for (cut = 0; cut < n; cut++)
		bytes[cut] = cut + 1;
	rec_init(&r);
	CHECK_INT(feed_cuts(s, n, bytes, n, &r), DC_OK);
	CHECK_STR(buf_str(&r.out), want);
	buf_free(&r.out);
	free(bytes);
}

static void test_lf_lines_and_empty_lines(void)
{
	check_whole("a\nbb\n\nccc\n", "<a><bb><><ccc>");
}

static void test_crlf_lines_and_empty_lines(void)
{
	check_whole("a\r\nbb\r\n\r\nccc\r\n", "<a><bb><><ccc>");
}

static void test_lone_cr_ends_a_line(void)
{
	check_whole("a\rbb\r\rccc\r", "<a><bb><><ccc>");
}

static void test_mixed_endings(void)
{
	/* "\r\n" is one end; "\n" after it is another; "\r\r" is two. */
	check_whole("a\r\n\nb\r\rc\n", "<a><><b><><c>");
}

static void test_crlf_split_across_feeds_is_one_end(void)
{
	static const size_t cut1[] = { 2 }, cut2[] = { 1, 2 };
	struct rec r;

	rec_init(&r);
	CHECK_INT(feed_cuts("a\r\nb\n", 5, cut1, 1, &r), DC_OK);
	CHECK_STR(buf_str(&r.out), "<a><b>");
	CHECK_INT(r.calls, 2);
	buf_free(&r.out);

	rec_init(&r);
	CHECK_INT(feed_cuts("a\r\n", 3, cut2, 2, &r), DC_OK);
	CHECK_STR(buf_str(&r.out), "<a>");
	buf_free(&r.out);
}

static void test_cr_at_feed_end_followed_by_text_or_cr(void)
{
	static const size_t cut[] = { 2 };
	struct rec r;

	rec_init(&r);
	CHECK_INT(feed_cuts("a\rb\n", 4, cut, 1, &r), DC_OK);
	CHECK_STR(buf_str(&r.out), "<a><b>");
	buf_free(&r.out);

	rec_init(&r);
	CHECK_INT(feed_cuts("a\r\r\n", 4, cut, 1, &r), DC_OK);
	CHECK_STR(buf_str(&r.out), "<a><>");
	buf_free(&r.out);
}

static void test_every_split_gives_the_same_lines(void)
{
	check_every_split("data: x\r\n\r\n: ping\n\ndata: \xc3\xa9\xe6\x97\xa5\r\rlast\r\n",
			  "<data: x><><: ping><><data: \xc3\xa9\xe6\x97\xa5><><last>");
	check_every_split("one\ntwo\r\nthree\rfour", "<one><two><three><four>");
}

static void test_finish_passes_the_unterminated_tail(void)
{
	struct lines l;
	struct rec r;

	rec_init(&r);
	lines_init(&l, 64);
	CHECK_INT(lines_feed(&l, "x\nabc", 5, rec_line, &r), DC_OK);
	CHECK_STR(buf_str(&r.out), "<x>");
	CHECK_INT(lines_finish(&l, rec_line, &r), DC_OK);
	CHECK_STR(buf_str(&r.out), "<x><abc>");
	/* Nothing pending: finish calls nothing. */
	CHECK_INT(lines_finish(&l, rec_line, &r), DC_OK);
	CHECK_INT(r.calls, 2);
	lines_free(&l);
	buf_free(&r.out);
}

static void test_finish_after_cr_adds_no_line(void)
{
	struct lines l;
	struct rec r;

	rec_init(&r);
	lines_init(&l, 64);
	CHECK_INT(lines_feed(&l, "a\r", 2, rec_line, &r), DC_OK);
	CHECK_INT(lines_finish(&l, rec_line, &r), DC_OK);
	CHECK_STR(buf_str(&r.out), "<a>");
	CHECK_INT(r.calls, 1);
	lines_free(&l);
	buf_free(&r.out);
}

static void test_line_at_the_limit_passes(void)
{
	struct lines l;
	struct rec r;

	rec_init(&r);
	lines_init(&l, 5);
	CHECK_INT(lines_feed(&l, "123", 3, rec_line, &r), DC_OK);
	CHECK_INT(lines_feed(&l, "45\r", 3, rec_line, &r), DC_OK);
	CHECK_INT(lines_feed(&l, "\n12345\n", 7, rec_line, &r), DC_OK);
	CHECK_STR(buf_str(&r.out), "<12345><12345>");
	lines_free(&l);
	buf_free(&r.out);
}

static void test_line_over_the_limit_fails_before_its_end(void)
{
	struct lines l;
	struct rec r;

	rec_init(&r);
	lines_init(&l, 5);
	CHECK_INT(lines_feed(&l, "ok\n123", 6, rec_line, &r), DC_OK);
	/* No terminator yet: the sixth byte alone must fail. */
	CHECK_INT(lines_feed(&l, "456", 3, rec_line, &r), DC_TOOBIG);
	CHECK_STR(buf_str(&r.out), "<ok>");
	lines_free(&l);
	buf_free(&r.out);
}

static void test_callback_error_stops_feeding(void)
{
	struct lines l;
	struct rec r;

	rec_init(&r);
	r.fail_at = 2;
	lines_init(&l, 64);
	CHECK_INT(lines_feed(&l, "a\nb\nc\n", 6, rec_line, &r), DC_HUP);
	CHECK_INT(r.calls, 2);
	CHECK_STR(buf_str(&r.out), "<a>");
	lines_free(&l);
	buf_free(&r.out);
}

static void test_nul_bytes_stay_in_the_line(void)
{
	struct lines l;
	struct rec r;

	rec_init(&r);
	lines_init(&l, 64);
	CHECK_INT(lines_feed(&l, "a\0b\n", 4, rec_line, &r), DC_OK);
	CHECK_INT(r.out.len, 5);
	CHECK(memcmp(r.out.data, "<a\0b>", 5) == 0);
	lines_free(&l);
	buf_free(&r.out);
}

int main(void)
{
	RUN(test_lf_lines_and_empty_lines);
	RUN(test_crlf_lines_and_empty_lines);
	RUN(test_lone_cr_ends_a_line);
	RUN(test_mixed_endings);
	RUN(test_crlf_split_across_feeds_is_one_end);
	RUN(test_cr_at_feed_end_followed_by_text_or_cr);
	RUN(test_every_split_gives_the_same_lines);
	RUN(test_finish_passes_the_unterminated_tail);
	RUN(test_finish_after_cr_adds_no_line);
	RUN(test_line_at_the_limit_passes);
	RUN(test_line_over_the_limit_fails_before_its_end);
	RUN(test_callback_error_stops_feeding);
	RUN(test_nul_bytes_stay_in_the_line);
	return check_summary();
}
