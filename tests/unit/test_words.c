/* test_words.c - unit tests of words.c: words, keys, stemming, stop words, sentences and
 * whitespace cleaning, the rules the extractive backend and grounding share. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "buf.h"
#include "words.h"

/* The words of text as "a|b|c", or their keys (stop words as "-") when keys is set. */
static void join_words(const char *text, int keys, char *out, size_t outlen)
{
	size_t pos = 0, start, wlen, used = 0, k;
	char key[WORDS_KEY_MAX];
	const char *w;
	int n;

	out[0] = '\0';
	while (words_next(text, strlen(text), &pos, &start, &wlen)) {
		w = text + start;
		k = wlen;
		if (keys) {
			k = words_key(text + start, wlen, key);
			w = k ? key : "-";
			k = k ? k : 1;
		}
		n = snprintf(out + used, outlen - used, "%s%.*s", used ? "|" : "", (int)k, w);
		if (n < 0 || (size_t)n >= outlen - used)
			return;
		used += (size_t)n;
	}
}

/* The sentences of text as "<a><b>". */
static void join_sentences(const char *text, char *out, size_t outlen)
{
	struct words_span *sp = NULL;
	size_t n = 0, i, used = 0;
	int k;

	out[0] = '\0';
	if (words_sentences(text, strlen(text), &sp, &n) != DC_OK)
		return;
	for (i = 0; i < n; i++) {
		k = snprintf(out + used, outlen - used, "<%.*s>", (int)sp[i].len,
			     text + sp[i].start);
		if (k < 0 || (size_t)k >= outlen - used)
			break;
		used += (size_t)k;
	}
	free(sp);
}

static void test_words_split_on_punctuation_and_apostrophes(void)
{
	char got[512];

	join_words("Hello, world! It's docchat's v2.0 (beta)-- ok?", 0, got, sizeof(got));
	CHECK_STR(got, "Hello|world|It|s|docchat|s|v2|0|beta|ok");
	join_words("  \t\n ... --- ", 0, got, sizeof(got));
	CHECK_STR(got, "");
}

static void test_words_unicode_letters_and_cjk_characters(void)
{
	char got[512];

	/* é is a letter; the em dash and curly quotes separate; each kanji is a word */
	join_words("Café—“naïve” 日本語 Δέλτα", 0, got, sizeof(got));
	CHECK_STR(got, "Café|naïve|日|本|語|Δέλτα");
	/* invalid UTF-8 bytes separate words and never end up inside one */
	join_words("ab\xff" "cd\xc3", 0, got, sizeof(got));
	CHECK_STR(got, "ab|cd");
}

static void test_words_keys_lowercase_stop_and_stem(void)
{
	char got[512];

	join_words("The Documents were STORED, stores storing", 1, got, sizeof(got));
	CHECK_STR(got, "-|document|-|stor|stor|stor");
	join_words("running stopped studies processes matches making make used", 1, got,
		   sizeof(got));
	CHECK_STR(got, "run|stop|study|process|match|mak|mak|used");
	join_words("string thing falling passed class status analysis", 1, got, sizeof(got));
	CHECK_STR(got, "string|thing|fall|pass|class|status|analysis");
	join_words("Don't ÉTÉ Café URL URLs", 1, got, sizeof(got));
	CHECK_STR(got, "-|-|été|café|url|url");
}

static void test_words_stop_list_lookup(void)
{
	/* every listed word must be found, which only works while the list stays sorted */
	static const char every_stop_word[] =
		"a about above according after again against all also am an and any are aren "
		"as at be because been before being below between both but by can cannot could "
		"couldn d did didn do does doesn doing don down during each either else etc "
		"even ever every few for from further get gets got had hadn has hasn have "
		"haven having he her here hers herself him himself his how however i if in "
		"into is isn it its itself just ll m many may me might mightn more most much "
		"must mustn my myself neither no nor not now o of off on once only or other "
		"our ours ourselves out over own please re s same shall shan she should "
		"shouldn so some such t tell than that the their theirs them themselves then "
		"there these they this those through to too under until up upon us ve very "
		"via was wasn we were weren what when where whether which while who whom whose "
		"why will with won would wouldn y yes you your yours yourself yourselves";
	size_t pos = 0, start, wlen, n = 0, missing = 0;

	while (words_next(every_stop_word, strlen(every_stop_word), &pos, &start, &wlen)) {
		n++;
		if (!words_is_stop(every_stop_word + start, wlen))
			missing++;
	}
	CHECK_INT(n, 180);
	CHECK_INT(missing, 0);
	CHECK(words_is_stop("a", 1));
	CHECK(words_is_stop("yourselves", 10));
	CHECK(words_is_stop("what", 4));
	CHECK(words_is_stop("according", 9));
	CHECK(!words_is_stop("database", 8));
	CHECK(!words_is_stop("whatever", 8));
	CHECK(!words_is_stop("", 0));
}

static void test_words_long_key_cut_at_character_boundary(void)
{
	char word[200], key[WORDS_KEY_MAX];
	size_t i, n;

	/* 2-byte characters: the key holds 31 of them (62 bytes), never half of one */
	for (i = 0; i < 80; i++)
		memcpy(word + 2 * i, "\xC3\xA9", 2);
	n = words_key(word, 160, key);
	CHECK_INT(n, 62);
	CHECK_INT(strlen(key), 62);
}

static void test_words_set_is_sorted_and_distinct(void)
{
	struct words_set a, b;
	const char *t1 = "database backups; the database is backed up";
	const char *t2 = "backup the databases nightly";

	words_set_init(&a);
	words_set_init(&b);
	CHECK_INT(words_set_add_text(&a, t1, strlen(t1)), DC_OK);
	CHECK_INT(a.n, 3);
	if (a.n == 3) {
		CHECK_STR(a.v[0], "back");
		CHECK_STR(a.v[1], "backup");
		CHECK_STR(a.v[2], "databas");
	}
	CHECK_INT(words_set_add_text(&a, "Database news", 13), DC_OK);
	CHECK_INT(a.n, 4);
	CHECK(words_set_index(&a, "new") < a.n);
	CHECK_INT(words_set_index(&a, "zzz"), a.n);
	CHECK_INT(words_set_add_text(&b, t2, strlen(t2)), DC_OK);
	CHECK_INT(words_set_shared(&a, &b), 2);
	words_set_free(&a);
	words_set_free(&b);
	CHECK_INT(a.n, 0);
	CHECK(a.v == NULL);
}

static void test_words_sentences_end_on_punctuation(void)
{
	char got[1024];

	join_sentences("One two. Three four! Five six? Seven", got, sizeof(got));
	CHECK_STR(got, "<One two.><Three four!><Five six?><Seven>");
	/* abbreviations, initials, decimals and lower-case continuations do not end one */
	join_sentences("Use e.g. the CLI. Dr. Smith and J. Doe paid 3.5 euros. Wait... what? "
		       "Fine.", got, sizeof(got));
	CHECK_STR(got, "<Use e.g. the CLI.><Dr. Smith and J. Doe paid 3.5 euros.>"
		  "<Wait... what?><Fine.>");
	/* a number ends a sentence unless it opens a line, a sentence or a quote */
	join_sentences("We had 3. Then 4.\n1. Install it.\n12. Run \"2. it.\" [1] End",
		       got, sizeof(got));
	CHECK_STR(got, "<We had 3.><Then 4.><1. Install it.><12. Run \"2. it.\" [1]><End>");
}

static void test_words_sentences_keep_quotes_and_citations(void)
{
	char got[1024];

	join_sentences("He said \"stop.\" Then [x] left. Paris is big. [1][2] Rome too. [3, 4]",
		       got, sizeof(got));
	CHECK_STR(got, "<He said \"stop.\"><Then [x] left.><Paris is big. [1][2]>"
		  "<Rome too. [3, 4]>");
	join_sentences("Fact \"a.\" [1] \"b\" [2]. \"c!\" [3]", got, sizeof(got));
	CHECK_STR(got, "<Fact \"a.\" [1]><\"b\" [2].><\"c!\" [3]>");
}

static void test_words_sentences_lines_lists_and_cjk(void)
{
	char got[1024];

	join_sentences("# Title\nIntro line\ngoes on\n\nPara two\n- item one\n* item two\n"
		       "• item three\n\n---\n\nEnd\n", got, sizeof(got));
	CHECK_STR(got, "<# Title\nIntro line\ngoes on><Para two><- item one><* item two>"
		  "<• item three><End>");
	join_sentences("東京は日本の首都です。大阪は大きい！「本当？」はい", got, sizeof(got));
	CHECK_STR(got, "<東京は日本の首都です。><大阪は大きい！><「本当？」><はい>");
	join_sentences("   ", got, sizeof(got));
	CHECK_STR(got, "");
}

static void test_words_append_clean_normalises(void)
{
	struct buf b;

	buf_init(&b, 1024);
	CHECK_INT(words_append_clean(&b, "  a \t b\n\n  c  ", strlen("  a \t b\n\n  c  ")),
		  DC_OK);
	CHECK_STR(buf_str(&b), "a b c");
	buf_reset(&b);
	CHECK_INT(words_append_clean(&b, "x\xff y\xc3", 5), DC_OK);
	CHECK_STR(buf_str(&b), "x\xEF\xBF\xBD y\xEF\xBF\xBD");
	buf_reset(&b);
	CHECK_INT(words_append_clean(&b, "café 日本 \xEF\xBF\xBD", 16), DC_OK);
	CHECK_STR(buf_str(&b), "café 日本 \xEF\xBF\xBD");
	buf_free(&b);
}

static void test_words_utf8_decoding_rejects_bad_sequences(void)
{
	unsigned long cp;

	CHECK_INT(words_utf8_char("\xC3\xA9", 2, &cp), 2);
	CHECK_INT(cp, 0xE9);
	CHECK_INT(words_utf8_char("\xF0\x9F\x98\x80", 4, &cp), 4);
	CHECK_INT(cp, 0x1F600);
	CHECK_INT(words_utf8_char("\xC0\xAF", 2, &cp), 1);	/* overlong */
	CHECK_INT(cp, WORDS_BAD_CHAR);
	CHECK_INT(words_utf8_char("\xED\xA0\x80", 3, &cp), 1);	/* surrogate */
	CHECK_INT(cp, WORDS_BAD_CHAR);
	CHECK_INT(words_utf8_char("\xE6\x97", 2, &cp), 1);	/* truncated */
	CHECK_INT(cp, WORDS_BAD_CHAR);
}

static void test_words_citation_markers(void)
{
	CHECK_INT(words_citation_len("[1]", 3, 0), 3);
	CHECK_INT(words_citation_len("x [12, 3-4] y", 13, 2), 9);
	CHECK_INT(words_citation_len("[a]", 3, 0), 0);
	CHECK_INT(words_citation_len("[1", 2, 0), 0);
	CHECK_INT(words_citation_len("[]", 2, 0), 0);
}

int main(void)
{
	RUN(test_words_split_on_punctuation_and_apostrophes);
	RUN(test_words_unicode_letters_and_cjk_characters);
	RUN(test_words_keys_lowercase_stop_and_stem);
	RUN(test_words_stop_list_lookup);
	RUN(test_words_long_key_cut_at_character_boundary);
	RUN(test_words_set_is_sorted_and_distinct);
	RUN(test_words_sentences_end_on_punctuation);
	RUN(test_words_sentences_keep_quotes_and_citations);
	RUN(test_words_sentences_lines_lists_and_cjk);
	RUN(test_words_append_clean_normalises);
	RUN(test_words_utf8_decoding_rejects_bad_sequences);
	RUN(test_words_citation_markers);
	return check_summary();
}
