/* test_grounding.c - unit tests of grounding.c: the confidence formula and the
 * sentence-by-sentence hallucination check, with their exact numbers. */
#include <string.h>

#include "check.h"
#include "grounding.h"

#define NEAR(a, b) ((a) - (b) < 1e-9 && (b) - (a) < 1e-9)

static void test_grounding_confidence_formula(void)
{
	const char *src[] = { "The database is backed up nightly." };
	double score[] = { 0.8 };

	/* question words {database, backup}: only "database" is in the source */
	CHECK(NEAR(grounding_confidence("Is there a database backup?", src, score, 1),
		   0.5 * 0.8 + 0.5 * 0.5));
	/* all question words found */
	CHECK(NEAR(grounding_confidence("When is the database backed up?", src, score, 1),
		   0.5 * 0.8 + 0.5 * 1.0));
	/* no content word in the question: best score only */
	CHECK(NEAR(grounding_confidence("What is it?", src, score, 1), 0.4));
}

static void test_grounding_confidence_no_sources_is_zero(void)
{
	CHECK(grounding_confidence("Where is the database?", NULL, NULL, 0) == 0.0);
}

static void test_grounding_confidence_uses_top_three_and_best_score(void)
{
	const char *src[] = { "alpha", "beta", "gamma", "delta" };
	double score[] = { 0.2, 0.9, 0.1, 1.0 };
	double over[] = { 3.0, -1.0, 0.0, 0.0 };

	/* the 4th source is not a top source: "delta" counts as not found, but its
	 * score still competes for the best */
	CHECK(NEAR(grounding_confidence("alpha delta", src, score, 4), 0.5 * 1.0 + 0.5 * 0.5));
	CHECK(NEAR(grounding_confidence("alpha gamma", src, score, 3), 0.5 * 0.9 + 0.5 * 1.0));
	/* scores are clamped to [0,1] */
	CHECK(NEAR(grounding_confidence("zeta", src, over, 2), 0.5));
}

static void test_grounding_unsupported_sentence_reported(void)
{
	const char *src[] = { "Paris is the capital and largest city of France." };
	struct grounding_result r;

	CHECK_INT(grounding_check("Paris is the capital of France [1]. The moon is made "
				  "of cheese.  ", src, 1, &r), DC_OK);
	CHECK_INT(r.sentences, 2);
	CHECK_INT(r.nunsupported, 1);
	CHECK(NEAR(r.score, 0.5));
	if (r.nunsupported == 1)
		CHECK_STR(r.unsupported[0], "The moon is made of cheese.");
	grounding_free(&r);
	CHECK(r.unsupported == NULL);
	CHECK_INT(r.nunsupported, 0);
}

static void test_grounding_half_of_the_words_is_enough(void)
{
	const char *src[] = { "Backups run nightly and keep thirty days." };
	struct grounding_result r;

	/* {backup, nightly, encrypt, offsite}: 2 of 4 found -> supported */
	CHECK_INT(grounding_check("Backups are encrypted offsite nightly.", src, 1, &r), DC_OK);
	CHECK_INT(r.nunsupported, 0);
	CHECK(r.score == 0.0);
	grounding_free(&r);
	/* {backup, encrypt, offsite}: 1 of 3 -> unsupported, reported trimmed */
	CHECK_INT(grounding_check("\n Backups are encrypted offsite! \n", src, 1, &r), DC_OK);
	CHECK_INT(r.sentences, 1);
	CHECK_INT(r.nunsupported, 1);
	if (r.nunsupported == 1)
		CHECK_STR(r.unsupported[0], "Backups are encrypted offsite!");
	grounding_free(&r);
}

static void test_grounding_support_must_come_from_one_source(void)
{
	const char *src[] = { "Alpha and beta.", "Gamma and delta." };
	struct grounding_result r;

	/* 5 words: 2 in each source, 4 overall, but no single source has half */
	CHECK_INT(grounding_check("Alpha beta gamma delta epsilon.", src, 2, &r), DC_OK);
	CHECK_INT(r.nunsupported, 1);
	CHECK(NEAR(r.score, 1.0));
	grounding_free(&r);
}

static void test_grounding_citations_and_quotes_ignored(void)
{
	const char *src[] = { "The service listens on port 8080." };
	struct grounding_result r;

	/* unstripped, the markers would add three unfound words ("12", "3", "4") to the
	 * two found ones, and the sentence would fail */
	CHECK_INT(grounding_check("\"Port 8080.\" [12] [3, 4]", src, 1, &r), DC_OK);
	CHECK_INT(r.sentences, 1);
	CHECK_INT(r.nunsupported, 0);
	grounding_free(&r);
	/* markers after the end stay with the sentence and are stripped with it */
	CHECK_INT(grounding_check("Port 8080 [1][2]. [7]", src, 1, &r), DC_OK);
	CHECK_INT(r.nunsupported, 0);
	grounding_free(&r);
	/* the citation does not count as support */
	CHECK_INT(grounding_check("Servers reboot weekly [1].", src, 1, &r), DC_OK);
	CHECK_INT(r.nunsupported, 1);
	if (r.nunsupported == 1)
		CHECK_STR(r.unsupported[0], "Servers reboot weekly [1].");
	grounding_free(&r);
}

static void test_grounding_sentences_without_content_words_supported(void)
{
	struct grounding_result r;

	CHECK_INT(grounding_check("Yes. It is.", NULL, 0, &r), DC_OK);
	CHECK_INT(r.sentences, 2);
	CHECK_INT(r.nunsupported, 0);
	CHECK(r.score == 0.0);
	grounding_free(&r);
	CHECK_INT(grounding_check("", NULL, 0, &r), DC_OK);
	CHECK_INT(r.sentences, 0);
	CHECK(r.score == 0.0);
	grounding_free(&r);
	/* with no sources every claim is unsupported */
	CHECK_INT(grounding_check("Rome is old. Yes.", NULL, 0, &r), DC_OK);
	CHECK_INT(r.sentences, 2);
	CHECK_INT(r.nunsupported, 1);
	CHECK(NEAR(r.score, 0.5));
	grounding_free(&r);
}

static void test_grounding_utf8_sentences(void)
{
	const char *src[] = { "東京は日本の首都です。Le café ferme à midi." };
	struct grounding_result r;

	CHECK_INT(grounding_check("東京は日本の首都です。[1] Le café ouvre à midi. "
				  "Das Museum schließt früh.", src, 1, &r), DC_OK);
	CHECK_INT(r.sentences, 3);
	CHECK_INT(r.nunsupported, 1);
	if (r.nunsupported == 1)
		CHECK_STR(r.unsupported[0], "Das Museum schließt früh.");
	grounding_free(&r);
}

int main(void)
{
	RUN(test_grounding_confidence_formula);
	RUN(test_grounding_confidence_no_sources_is_zero);
	RUN(test_grounding_confidence_uses_top_three_and_best_score);
	RUN(test_grounding_unsupported_sentence_reported);
	RUN(test_grounding_half_of_the_words_is_enough);
	RUN(test_grounding_support_must_come_from_one_source);
	RUN(test_grounding_citations_and_quotes_ignored);
	RUN(test_grounding_sentences_without_content_words_supported);
	RUN(test_grounding_utf8_sentences);
	return check_summary();
}
