/* test_chunk.c - chunk.c: paragraph and heading boundaries, overlap, splitting of long
 * paragraphs, UTF-8 safety, and offsets that point at each chunk's text; headings and
 * page starts from an extractor (heading paths, the page a chunk starts on, layouts
 * that break the rules refused), and heading paths held to a size. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "chunk.h"
#include "extract.h"

struct want {
	const char *text;
	const char *heading;	/* NULL: no heading */
	long long start, end;	/* -1: not checked beyond pointing at the text */
};

/* Every chunk: non-empty, exactly the input bytes [start, end). */
static int offsets_ok(const char *in, size_t len, const struct chunk *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		size_t clen = strlen(c[i].text);

		if (clen == 0 || c[i].start < 0 || c[i].end <= c[i].start ||
		    (size_t)c[i].end > len || (size_t)(c[i].end - c[i].start) != clen ||
		    memcmp(in + c[i].start, c[i].text, clen) != 0)
			return 0;
	}
	return 1;
}

static void expect(const char *in, int markdown, int target, int overlap,
		   const struct want *w, size_t nw)
{
	struct chunk *c = NULL;
	size_t n = 0, i;

	CHECK_INT(chunk_text(in, strlen(in), markdown, target, overlap, &c, &n), DC_OK);
	CHECK_INT(n, nw);
	CHECK(offsets_ok(in, strlen(in), c, n));
	for (i = 0; i < n && i < nw; i++) {
		CHECK_STR(c[i].text, w[i].text);
		if (w[i].heading)
			CHECK_STR(c[i].heading, w[i].heading);
		else
			CHECK(c[i].heading == NULL);
		if (w[i].start >= 0) {
			CHECK_INT(c[i].start, w[i].start);
			CHECK_INT(c[i].end, w[i].end);
		}
		CHECK_INT(c[i].page, 0);	/* a text without pages */
	}
	chunks_free(c, n);
}

struct want_page {
	const char *text;
	const char *heading;	/* NULL: no heading */
	int page;
};

/* chunk_doc on doc must give exactly w. */
static void expect_doc(const struct extract_doc *doc, int target, int overlap,
		       const struct want_page *w, size_t nw)
{
	struct chunk *c = NULL;
	size_t n = 0, i;

	CHECK_INT(chunk_doc(doc, target, overlap, &c, &n), DC_OK);
	CHECK_INT(n, nw);
	CHECK(offsets_ok(doc->text, doc->len, c, n));
	for (i = 0; i < n && i < nw; i++) {
		CHECK_STR(c[i].text, w[i].text);
		if (w[i].heading)
			CHECK_STR(c[i].heading, w[i].heading);
		else
			CHECK(c[i].heading == NULL);
		CHECK_INT(c[i].page, w[i].page);
	}
	chunks_free(c, n);
}

/* A doc over a static text (nothing to free). */
static struct extract_doc doc_of(const char *text, struct extract_heading *h, size_t nh,
				 size_t *pages, size_t np)
{
	struct extract_doc d;

	memset(&d, 0, sizeof(d));
	d.text = (char *)text;
	d.len = strlen(text);
	d.headings = h;
	d.nheadings = nh;
	d.pages = pages;
	d.npages = np;
	return d;
}

static void test_paragraphs_kept_whole_when_they_fit(void)
{
	static const char in[] = "one two three\n\nfour five six\n\nseven eight\n";
	static const struct want six[] = {
		{ "one two three\n\nfour five six", NULL, 0, 28 },
		{ "seven eight", NULL, 30, 41 },
	};
	static const struct want four[] = {
		{ "one two three", NULL, 0, 13 },
		{ "four five six", NULL, 15, 28 },
		{ "seven eight", NULL, 30, 41 },
	};

	expect(in, 0, 6, 0, six, 2);
	expect(in, 0, 4, 0, four, 3);
}

static void test_fitting_paragraph_not_split_at_sentences(void)
{
	static const char in[] = "a b c.\n\nD e. F g.\n";
	static const struct want w[] = {
		{ "a b c.", NULL, 0, 6 },
		{ "D e. F g.", NULL, 8, 17 },
	};

	/* "D e." would fit after "a b c." but the paragraph fits a chunk of its own */
	expect(in, 0, 5, 0, w, 2);
}

static void test_blank_lines_with_spaces_separate_paragraphs(void)
{
	static const char in[] = "alpha beta\n  \t \ngamma delta\n";
	static const struct want w[] = {
		{ "alpha beta", NULL, 0, 10 },
		{ "gamma delta", NULL, 16, 27 },
	};

	expect(in, 0, 3, 0, w, 2);
}

static void test_overlap_from_previous_tail(void)
{
	static const char in[] = "a1 a2 a3 a4 a5 a6 a7 a8 a9 a10";
	static const struct want w[] = {
		{ "a1 a2 a3 a4", NULL, 0, 11 },
		{ "a3 a4 a5 a6 a7 a8", NULL, 6, 23 },
		{ "a7 a8 a9 a10", NULL, 18, 30 },
	};

	expect(in, 0, 4, 2, w, 3);
}

static void test_overlap_starts_at_a_sentence(void)
{
	static const char in[] = "One two. Three four five. Six seven eight nine ten eleven.";
	static const struct want w[] = {
		{ "One two. Three four five.", NULL, 0, 25 },
		{ "Three four five. Six seven eight nine ten eleven.", NULL, 9, 58 },
	};

	expect(in, 0, 6, 4, w, 2);
}

static void test_overlap_capped_at_half_target(void)
{
	static const char in[] = "w1 w2 w3 w4 w5 w6 w7 w8";
	static const struct want w[] = {
		{ "w1 w2 w3 w4", NULL, -1, -1 },
		{ "w3 w4 w5 w6 w7 w8", NULL, -1, -1 },
	};

	/* overlap 10 > target 4: at most 2 words repeat */
	expect(in, 0, 4, 10, w, 2);
}

static void test_long_paragraph_split_at_sentences(void)
{
	static const char in[] = "A b c. D e f. G h.\n\nNext para.";
	static const struct want w[] = {
		{ "A b c.", NULL, 0, 6 },
		{ "D e f. G h.", NULL, 7, 18 },
		{ "Next para.", NULL, 20, 30 },
	};

	expect(in, 0, 5, 0, w, 3);
}

static void test_long_sentence_split_at_words(void)
{
	static const char in[] = "x1 x2 x3 x4 x5 x6 x7, x8 x9 x10 x11.";
	static const struct want w[] = {
		{ "x1 x2 x3 x4 x5", NULL, 0, 14 },
		{ "x6 x7, x8 x9 x10", NULL, 15, 31 },
		{ "x11.", NULL, 32, 36 },
	};

	expect(in, 0, 5, 0, w, 3);
}

static void test_closing_quotes_end_sentences(void)
{
	static const char in[] = "He said \"stop.\" Then left. Again";
	static const struct want w[] = {
		{ "He said \"stop.\"", NULL, -1, -1 },
		{ "Then left. Again", NULL, -1, -1 },
	};

	expect(in, 0, 4, 0, w, 2);
}

static void test_heading_paths_and_sections(void)
{
	static const char in[] =
		"# Guide\n\nIntro text here.\n\n## Install\n\nRun make.\n\n"
		"### Debian\n\nUse apt.\n\n## Usage\n\nCall it.\n";
	static const struct want w[] = {
		{ "# Guide\n\nIntro text here.", "Guide", 0, 25 },
		{ "## Install\n\nRun make.\n\n### Debian\n\nUse apt.", "Guide > Install",
		  27, 70 },
		{ "## Usage\n\nCall it.", "Guide > Usage", 72, 90 },
	};

	expect(in, 1, 50, 5, w, 3);
}

static void test_subheading_path_and_no_break_without_body(void)
{
	static const char in[] = "# A\n\n## B\n\n### C\n\nbody words here\n";
	static const struct want w[] = {
		{ "# A\n\n## B\n\n### C\n\nbody words here", "A > B > C", 0, 33 },
	};

	expect(in, 1, 50, 5, w, 1);
}

static void test_deeper_heading_path_when_split_by_size(void)
{
	static const char in[] =
		"# Top\n\n## Mid\n\nfirst body\n\n### Low\n\nsecond body text\n";
	static const struct want w[] = {
		{ "# Top\n\n## Mid\n\nfirst body", "Top > Mid", -1, -1 },
		{ "### Low\n\nsecond body text", "Top > Mid > Low", -1, -1 },
	};

	expect(in, 1, 6, 0, w, 2);
}

static void test_heading_markup_variants(void)
{
	static const char atx[] = "## Title ##\n\ntext\n\n#5 not a heading\n";
	static const char setext[] = "Title\n=====\n\nText one.\n\nSub\n---\n\nText two.\n";
	static const struct want wa[] = {
		{ "## Title ##\n\ntext\n\n#5 not a heading", "Title", -1, -1 },
	};
	static const struct want ws[] = {
		{ "Title\n=====\n\nText one.", "Title", 0, 22 },
		{ "Sub\n---\n\nText two.", "Title > Sub", 24, 42 },
	};

	expect(atx, 1, 50, 0, wa, 1);
	expect(setext, 1, 50, 0, ws, 2);
}

static void test_plain_text_ignores_hashes(void)
{
	static const char in[] = "# not a heading\n\ntext\n\n## nor this\n\nmore\n";
	static const struct want w[] = {
		{ "# not a heading\n\ntext\n\n## nor this\n\nmore", NULL, 0, 40 },
	};

	expect(in, 0, 50, 0, w, 1);
}

static void test_code_fence_hides_headings(void)
{
	static const char in[] =
		"# Real\n\nSetup:\n\n```sh\n# install deps\nmake\n```\n\ndone\n";
	static const struct want w[] = {
		{ "# Real\n\nSetup:\n\n```sh\n# install deps\nmake\n```\n\ndone", "Real",
		  -1, -1 },
	};

	expect(in, 1, 50, 0, w, 1);
}

static void test_utf8_runs_split_on_characters(void)
{
	/* "a" then 20 three-byte characters: no cut may land inside one */
	static const char in[] = "a" "漢漢漢漢漢漢漢漢漢漢" "漢漢漢漢漢漢漢漢漢漢";
	static const struct want w[] = {
		{ "a漢漢漢漢漢漢漢", NULL, 0, 22 },
		{ "漢漢漢漢漢漢漢漢", NULL, 22, 46 },
		{ "漢漢漢漢漢", NULL, 46, 61 },
	};

	expect(in, 0, 1, 0, w, 3);
}

static void test_wide_sentence_stop_is_a_boundary(void)
{
	static const char in[] = "一二三。四五六七八九十";
	static const struct want w[] = {
		{ "一二三。", NULL, 0, 12 },
		{ "四五六七八九十", NULL, 12, 33 },
	};

	expect(in, 0, 1, 0, w, 2);
}

static void test_wide_stop_ends_a_spaced_sentence(void)
{
	static const char in[] = "甲。 乙 丙 丁";
	static const struct want w[] = {
		{ "甲。", NULL, 0, 6 },
		{ "乙 丙 丁", NULL, 7, 18 },
	};

	expect(in, 0, 3, 0, w, 2);
}

static void test_unicode_spaces_separate_words(void)
{
	static const char in[] = "café\xc2\xa0naïve\xe3\x80\x80日本";
	static const struct want w[] = {
		{ "café", NULL, 0, 5 },
		{ "naïve", NULL, 7, 13 },
		{ "日本", NULL, 16, 22 },
	};

	expect(in, 0, 1, 0, w, 3);
}

static void test_empty_and_blank_input_give_no_chunks(void)
{
	struct chunk *c = NULL;
	size_t n = 7;

	CHECK_INT(chunk_text("", 0, 1, 10, 2, &c, &n), DC_OK);
	CHECK_INT(n, 0);
	CHECK(c == NULL);
	CHECK_INT(chunk_text(" \n\n\t \n", 6, 1, 10, 2, &c, &n), DC_OK);
	CHECK_INT(n, 0);
	CHECK(c == NULL);
	CHECK_INT(chunk_text("x", 1, 0, 0, 0, &c, &n), DC_BADREQ);
}

static void test_many_chunks_cover_text_in_order(void)
{
	char in[4096];
	struct chunk *c = NULL;
	size_t n = 0, i, len = 0;
	long long prev_end = 0;
	int w;

	for (w = 0; w < 500 && len < sizeof(in) - 16; w++) {
		int k = snprintf(in + len, sizeof(in) - len, "%sw%d%s", w ? " " : "", w,
				 w % 7 == 6 ? "." : (w % 40 == 39 ? "\n\n" : ""));

		if (k < 0)
			break;
		len += (size_t)k;
	}
	CHECK_INT(chunk_text(in, len, 0, 30, 5, &c, &n), DC_OK);
	CHECK(n > 10);
	CHECK(offsets_ok(in, len, c, n));
	CHECK_INT(c[0].start, 0);
	for (i = 0; i < n; i++) {
		CHECK(c[i].start <= prev_end);	/* no gap between chunks */
		CHECK(c[i].end > prev_end);	/* always moves on */
		prev_end = c[i].end;
	}
	CHECK_INT(prev_end, len);	/* the text ends in a word */
	chunks_free(c, n);
}

static void test_found_headings_make_paths(void)
{
	static const char text[] =
		"Guide\n\nIntro text.\n\nInstall\n\nRun make.\n\nDebian\n\nUse apt.\n\n"
		"Usage\n\nCall it.";
	struct extract_heading h[] = { { 0, 5, 1 }, { 20, 7, 2 }, { 40, 6, 3 }, { 58, 5, 2 } };
	static const struct want_page w[] = {
		{ "Guide\n\nIntro text.", "Guide", 0 },
		{ "Install\n\nRun make.\n\nDebian\n\nUse apt.", "Guide > Install", 0 },
		{ "Usage\n\nCall it.", "Guide > Usage", 0 },
	};
	struct extract_doc d = doc_of(text, h, 4, NULL, 0);

	expect_doc(&d, 50, 5, w, 3);
	/* the same words without the heading list are plain paragraphs */
	d = doc_of(text, NULL, 0, NULL, 0);
	{
		static const struct want_page plain[] = {
			{ text, NULL, 0 },
		};
		expect_doc(&d, 50, 5, plain, 1);
	}
}

static void test_pages_of_chunks(void)
{
	static const char text[] = "p1 words here.\n\np2 more words.\n\np3 end.";
	size_t pages[] = { 0, 16, 32 };
	static const struct want_page w[] = {
		{ "p1 words here.", NULL, 1 },
		{ "p2 more words.", NULL, 2 },
		{ "p3 end.", NULL, 3 },
	};
	/* with overlap the chunk starts where its repeated words are: on the page before */
	static const struct want_page wo[] = {
		{ "p1 words here.", NULL, 1 },
		{ "here.\n\np2 more words.", NULL, 1 },
		{ "words.\n\np3 end.", NULL, 2 },
	};
	struct extract_doc d = doc_of(text, NULL, 0, pages, 3);

	expect_doc(&d, 3, 0, w, 3);
	expect_doc(&d, 3, 1, wo, 3);
}

static void test_empty_page_is_skipped_over(void)
{
	static const char text[] = "alpha\n\nbeta";
	size_t pages[] = { 0, 5, 7, 11 };	/* page 2 has no text; page 4 is empty too */
	static const struct want_page w[] = {
		{ "alpha", NULL, 1 },
		{ "beta", NULL, 3 },
	};
	struct extract_doc d = doc_of(text, NULL, 0, pages, 4);

	expect_doc(&d, 1, 0, w, 2);
}

static void test_headings_and_pages_together(void)
{
	static const char text[] = "Title\n\nfirst page body\n\nSection\n\nsecond page body";
	struct extract_heading h[] = { { 0, 5, 1 }, { 24, 7, 2 } };
	size_t pages[] = { 0, 24 };
	static const struct want_page w[] = {
		{ "Title\n\nfirst page body", "Title", 1 },
		{ "Section\n\nsecond page body", "Title > Section", 2 },
	};
	struct extract_doc d = doc_of(text, h, 2, pages, 2);

	expect_doc(&d, 100, 10, w, 2);
}

/* chunk_doc must refuse this layout. */
static void refused(struct extract_heading *h, size_t nh, size_t *pages, size_t np)
{
	struct extract_doc d = doc_of("Head\nbody text\nmore", h, nh, pages, np);
	struct chunk *c = NULL;
	size_t n = 9;

	CHECK_INT(chunk_doc(&d, 10, 0, &c, &n), DC_BADREQ);
	CHECK_INT(n, 0);
	CHECK(c == NULL);
}

static void test_bad_layouts_refused(void)
{
	struct extract_heading mid[] = { { 1, 3, 1 } };		/* not at a line start */
	struct extract_heading part[] = { { 5, 4, 1 } };	/* not to the line end */
	struct extract_heading two_lines[] = { { 0, 14, 1 } };	/* holds a line end */
	struct extract_heading past[] = { { 15, 10, 1 } };	/* past the end */
	struct extract_heading level[] = { { 0, 4, 7 } };
	struct extract_heading order[] = { { 15, 4, 1 }, { 0, 4, 1 } };
	struct extract_heading empty[] = { { 0, 0, 1 } };
	size_t back[] = { 0, 10, 5 };
	size_t beyond[] = { 0, 100 };
	struct extract_heading ok[] = { { 0, 4, 1 }, { 15, 4, 2 } };
	struct extract_doc d = doc_of("Head\nbody text\nmore", ok, 2, NULL, 0);
	struct chunk *c = NULL;
	size_t n = 0;

	refused(mid, 1, NULL, 0);
	refused(part, 1, NULL, 0);
	refused(two_lines, 1, NULL, 0);
	refused(past, 1, NULL, 0);
	refused(level, 1, NULL, 0);
	refused(order, 2, NULL, 0);
	refused(empty, 1, NULL, 0);
	refused(NULL, 0, back, 3);
	refused(NULL, 0, beyond, 2);
	refused(NULL, 1, NULL, 0);
	CHECK_INT(chunk_doc(&d, 10, 0, &c, &n), DC_OK);
	CHECK_INT(n, 2);	/* the level-2 heading after body text starts a chunk */
	if (n == 2) {
		CHECK_STR(c[0].text, "Head\nbody text");
		CHECK_STR(c[0].heading, "Head");
		CHECK_STR(c[1].text, "more");
		CHECK_STR(c[1].heading, "Head > more");
	}
	chunks_free(c, n);
}

static void test_heading_path_held_to_size(void)
{
	char in[512];
	struct chunk *c = NULL;
	size_t n = 0, len = 0, i;

	/* "# x" then 150 two-byte characters: cut at 200 bytes, back to a character */
	memcpy(in, "# x", 3);
	len = 3;
	for (i = 0; i < 150; i++) {
		memcpy(in + len, "\xc3\xa9", 2);
		len += 2;
	}
	memcpy(in + len, "\n\nbody", 6);
	len += 6;
	in[len] = '\0';
	CHECK_INT(chunk_text(in, len, 1, 50, 0, &c, &n), DC_OK);
	CHECK_INT(n, 1);
	if (n == 1) {
		CHECK(c[0].heading != NULL);
		CHECK_INT(c[0].heading ? strlen(c[0].heading) : 0, 199);
		CHECK(c[0].heading && memcmp(c[0].heading, in + 2, 199) == 0);
		CHECK_INT(c[0].page, 0);
	}
	chunks_free(c, n);
}

int main(void)
{
	RUN(test_paragraphs_kept_whole_when_they_fit);
	RUN(test_fitting_paragraph_not_split_at_sentences);
	RUN(test_blank_lines_with_spaces_separate_paragraphs);
	RUN(test_overlap_from_previous_tail);
	RUN(test_overlap_starts_at_a_sentence);
	RUN(test_overlap_capped_at_half_target);
	RUN(test_long_paragraph_split_at_sentences);
	RUN(test_long_sentence_split_at_words);
	RUN(test_closing_quotes_end_sentences);
	RUN(test_heading_paths_and_sections);
	RUN(test_subheading_path_and_no_break_without_body);
	RUN(test_deeper_heading_path_when_split_by_size);
	RUN(test_heading_markup_variants);
	RUN(test_plain_text_ignores_hashes);
	RUN(test_code_fence_hides_headings);
	RUN(test_utf8_runs_split_on_characters);
	RUN(test_wide_sentence_stop_is_a_boundary);
	RUN(test_wide_stop_ends_a_spaced_sentence);
	RUN(test_unicode_spaces_separate_words);
	RUN(test_empty_and_blank_input_give_no_chunks);
	RUN(test_many_chunks_cover_text_in_order);
	RUN(test_found_headings_make_paths);
	RUN(test_pages_of_chunks);
	RUN(test_empty_page_is_skipped_over);
	RUN(test_headings_and_pages_together);
	RUN(test_bad_layouts_refused);
	RUN(test_heading_path_held_to_size);
	return check_summary();
}
