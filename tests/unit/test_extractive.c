/* test_extractive.c - unit tests of the built-in offline backend (backend_extractive.c):
 * which sentences it quotes, in what order and form, how it streams them, and that its
 * answers pass the grounding check. Links grounding.c for that last check. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "backend_extractive.h"
#include "buf.h"
#include "grounding.h"
#include "words.h"

#define NO_ANSWER "I could not find anything about that in your documents."
#define MAX_TICKS 64

struct sink {
	struct buf text;	/* the pieces concatenated */
	int tokens;		/* token calls */
	int ticks;		/* tick calls */
	int bad_piece;		/* a piece was empty, not UTF-8, or not "word " */
	int hup_after;		/* token returns DC_HUP on this call (1-based), 0 never */
	enum dc_err tick_result;
	struct timespec tick_at[MAX_TICKS];	/* when the first MAX_TICKS ticks came */
	struct timespec last_tick;
};

static int valid_utf8(const char *s, size_t n)
{
	size_t i = 0, cl;
	unsigned long cp;

	while (i < n) {
		cl = words_utf8_char(s + i, n - i, &cp);
		if (cp == WORDS_BAD_CHAR && cl == 1)
			return 0;
		i += cl;
	}
	return 1;
}

static enum dc_err on_token(void *ud, const char *text, size_t len)
{
	struct sink *s = ud;
	const char *sp = memchr(text, ' ', len);

	s->tokens++;
	if (len == 0 || !valid_utf8(text, len) || (sp && sp != text + len - 1) || sp == text)
		s->bad_piece = 1;
	if (s->hup_after && s->tokens == s->hup_after)
		return DC_HUP;
	return buf_append(&s->text, text, len);
}

static enum dc_err on_tick(void *ud)
{
	struct sink *s = ud;

	clock_gettime(CLOCK_MONOTONIC, &s->last_tick);
	if (s->ticks < MAX_TICKS)
		s->tick_at[s->ticks] = s->last_tick;
	s->ticks++;
	return s->tick_result;
}

static void sink_init(struct sink *s)
{
	memset(s, 0, sizeof(*s));
	buf_init(&s->text, 1 << 20);
}

/* Run the backend on question and texts; the answer lands in s. */
static enum dc_err ask(struct sink *s, const char *question, const char *const *texts,
		       size_t n, int delay_ms, struct backend_result *res)
{
	struct backend_source src[8];
	struct backend_req req;
	struct backend_cb cb = { on_token, on_tick, s };
	char err[DC_ERRMAX] = "";
	size_t i;

	memset(&req, 0, sizeof(req));
	for (i = 0; i < n && i < 8; i++) {
		src[i].text = texts[i];
		src[i].document = "doc.md";
		src[i].score = 1.0 - 0.1 * (double)i;
	}
	req.provider = "extractive";
	req.model = "extractive";
	req.question = question;
	req.sources = src;
	req.nsources = n;
	req.delay_ms = delay_ms;
	return backend_extractive_stream(&req, &cb, res, err, sizeof(err));
}

/* The grounding score of answer against texts, or -1 on error. */
static double hallucination(const char *answer, const char *const *texts, size_t n)
{
	struct grounding_result g;
	double score;

	if (grounding_check(answer, texts, n, &g) != DC_OK)
		return -1.0;
	score = g.score;
	grounding_free(&g);
	return score;
}

static const char *const db_sources[] = {
	"Docchat stores every document in a SQLite database. The database file lives in "
	"/var/lib/docchat by default.\nBackups are simple: copy the file while the server "
	"is stopped.",
	"To back up the  database, stop the server first. Restoring works the same way.",
	"The web page is written in plain JavaScript."
};

#define DB_ANSWER "According to your documents: " \
	"\"Docchat stores every document in a SQLite database.\" [1] " \
	"\"The database file lives in /var/lib/docchat by default.\" [1] " \
	"\"To back up the database, stop the server first.\" [2]"

static void test_extractive_quotes_best_sentences_in_source_order(void)
{
	struct sink s;
	struct backend_result res;

	sink_init(&s);
	CHECK_INT(ask(&s, "Where is the database stored?", db_sources, 3, 0, &res), DC_OK);
	CHECK_STR(buf_str(&s.text), DB_ANSWER);
	CHECK_STR(res.finish_reason, "stop");
	CHECK_INT(res.completion_tokens, 32);
	CHECK_INT(s.tokens, 32);
	CHECK_INT(res.prompt_tokens, (long)((strlen("Where is the database stored?") +
		strlen(db_sources[0]) + strlen(db_sources[1]) + strlen(db_sources[2]) + 3) / 4));
	CHECK(!s.bad_piece);
	CHECK(s.ticks >= s.tokens);
	buf_free(&s.text);
}

static void test_extractive_answer_is_fully_grounded(void)
{
	struct sink s;
	struct backend_result res;

	sink_init(&s);
	CHECK_INT(ask(&s, "Where is the database stored?", db_sources, 3, 0, &res), DC_OK);
	CHECK(hallucination(buf_str(&s.text), db_sources, 3) == 0.0);
	buf_reset(&s.text);
	CHECK_INT(ask(&s, "How is the server backed up?", db_sources, 3, 0, &res), DC_OK);
	CHECK_STR(buf_str(&s.text), "According to your documents: "
		  "\"Backups are simple: copy the file while the server is stopped.\" [1] "
		  "\"To back up the database, stop the server first.\" [2]");
	CHECK(hallucination(buf_str(&s.text), db_sources, 3) == 0.0);
	buf_free(&s.text);
}

static void test_extractive_weak_sentences_left_out(void)
{
	static const char *const texts[] = {
		"Backups run nightly. The backup database keeps thirty days of copies. "
		"Nothing else happens at night."
	};
	struct sink s;
	struct backend_result res;

	/* the best shares 4 words; "Backups run nightly." shares only 1, under half */
	sink_init(&s);
	CHECK_INT(ask(&s, "How many days does the backup database keep?", texts, 1, 0, &res),
		  DC_OK);
	CHECK_STR(buf_str(&s.text), "According to your documents: "
		  "\"The backup database keeps thirty days of copies.\" [1]");
	buf_free(&s.text);
}

static void test_extractive_no_match_says_so(void)
{
	struct sink s;
	struct backend_result res;

	sink_init(&s);
	CHECK_INT(ask(&s, "What about pricing?", db_sources, 3, 0, &res), DC_OK);
	CHECK_STR(buf_str(&s.text), NO_ANSWER);
	CHECK_INT(res.completion_tokens, 10);
	CHECK_STR(res.finish_reason, "stop");
	buf_reset(&s.text);
	CHECK_INT(ask(&s, "Where is the database stored?", NULL, 0, 0, &res), DC_OK);
	CHECK_STR(buf_str(&s.text), NO_ANSWER);
	buf_reset(&s.text);
	/* only stop words: nothing to look for */
	CHECK_INT(ask(&s, "What is it?", db_sources, 3, 0, &res), DC_OK);
	CHECK_STR(buf_str(&s.text), NO_ANSWER);
	buf_free(&s.text);
}

static void test_extractive_token_hup_stops_after_that_word(void)
{
	struct sink s;
	struct backend_result res;

	sink_init(&s);
	s.hup_after = 3;
	CHECK_INT(ask(&s, "Where is the database stored?", db_sources, 3, 0, &res), DC_HUP);
	CHECK_INT(s.tokens, 3);
	CHECK_STR(buf_str(&s.text), "According to ");
	CHECK_INT(res.completion_tokens, 2);
	CHECK_STR(res.finish_reason, "");
	buf_free(&s.text);
}

static void test_extractive_tick_abort_sends_nothing(void)
{
	struct sink s;
	struct backend_result res;

	sink_init(&s);
	s.tick_result = DC_ABORT;
	CHECK_INT(ask(&s, "Where is the database stored?", db_sources, 3, 0, &res), DC_ABORT);
	CHECK_INT(s.tokens, 0);
	CHECK_INT(s.ticks, 1);
	CHECK_INT(res.completion_tokens, 0);
	buf_free(&s.text);
}

static long ms_between(const struct timespec *a, const struct timespec *b)
{
	return (long)(b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

static void test_extractive_delay_ticks_at_least_every_250ms(void)
{
	struct sink s;
	struct backend_result res;
	struct timespec t0;
	int i;

	/* two words with 450 ms between them: ticks must keep coming while it sleeps */
	sink_init(&s);
	s.hup_after = 2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(ask(&s, "Where is the database stored?", db_sources, 3, 450, &res), DC_HUP);
	CHECK_INT(s.tokens, 2);
	CHECK(s.ticks >= 4);
	CHECK(ms_between(&t0, &s.last_tick) >= 450);
	for (i = 1; i < s.ticks && i < MAX_TICKS; i++)
		CHECK(ms_between(&s.tick_at[i - 1], &s.tick_at[i]) < 250);
	buf_free(&s.text);
}

static void test_extractive_utf8_sentences_survive(void)
{
	static const char *const texts[] = {
		"Le café est ouvert le dimanche. 日本語の文書も検索できます。東京は日本の首都です。"
	};
	struct sink s;
	struct backend_result res;

	sink_init(&s);
	CHECK_INT(ask(&s, "Quand le café est-il ouvert ?", texts, 1, 0, &res), DC_OK);
	CHECK_STR(buf_str(&s.text), "According to your documents: "
		  "\"Le café est ouvert le dimanche.\" [1]");
	CHECK(!s.bad_piece);
	buf_reset(&s.text);
	CHECK_INT(ask(&s, "日本の首都は？", texts, 1, 0, &res), DC_OK);
	CHECK_STR(buf_str(&s.text), "According to your documents: "
		  "\"日本語の文書も検索できます。\" [1] \"東京は日本の首都です。\" [1]");
	CHECK(!s.bad_piece);
	CHECK(hallucination(buf_str(&s.text), texts, 1) == 0.0);
	buf_free(&s.text);
}

static void test_extractive_markers_dropped_and_unended_quote_closed(void)
{
	static const char *const texts[] = {
		"# Installation\n\n- Run make install to build docchat\n- Copy the config file.",
		"Docchat needs no compiler at run time."
	};
	struct sink s;
	struct backend_result res;

	sink_init(&s);
	CHECK_INT(ask(&s, "How do I install docchat?", texts, 2, 0, &res), DC_OK);
	CHECK_STR(buf_str(&s.text), "According to your documents: "
		  "\"Run make install to build docchat\" [1]. "
		  "\"Docchat needs no compiler at run time.\" [2]");
	CHECK(hallucination(buf_str(&s.text), texts, 2) == 0.0);
	buf_free(&s.text);
}

static void test_extractive_repeated_sentence_quoted_once(void)
{
	/* overlapping chunks repeat sentences */
	static const char *const texts[] = {
		"Tokens expire after one hour. Sessions are kept.",
		"Sessions are kept. Tokens expire after one hour."
	};
	struct sink s;
	struct backend_result res;

	sink_init(&s);
	CHECK_INT(ask(&s, "When do tokens expire?", texts, 2, 0, &res), DC_OK);
	CHECK_STR(buf_str(&s.text), "According to your documents: "
		  "\"Tokens expire after one hour.\" [1]");
	buf_free(&s.text);
}

static void test_extractive_long_sentence_cut_to_120_words(void)
{
	struct buf text, want;
	const char *texts[1];
	struct sink s;
	struct backend_result res;
	int i;

	buf_init(&text, 1 << 16);
	buf_init(&want, 1 << 16);
	buf_appends(&text, "Alpha");
	buf_appends(&want, "According to your documents: \"Alpha");
	for (i = 1; i < 150; i++) {
		buf_printf(&text, " w%d", i);
		if (i < 120)
			buf_printf(&want, " w%d", i);
	}
	buf_appends(&text, ".");
	buf_appends(&want, "\xE2\x80\xA6\" [1].");
	texts[0] = buf_str(&text);
	sink_init(&s);
	CHECK_INT(ask(&s, "alpha", texts, 1, 0, &res), DC_OK);
	CHECK_STR(buf_str(&s.text), buf_str(&want));
	CHECK_INT(res.completion_tokens, 4 + 120 + 1);
	CHECK(hallucination(buf_str(&s.text), texts, 1) == 0.0);
	buf_free(&s.text);
	buf_free(&text);
	buf_free(&want);
}

static void test_extractive_long_unspaced_sentence_cut_at_character(void)
{
	struct buf text;
	const char *texts[1];
	struct sink s;
	struct backend_result res;
	int i;

	/* 1800 bytes of kanji with no space: cut at a character boundary, still UTF-8 */
	buf_init(&text, 1 << 16);
	for (i = 0; i < 600; i++)
		buf_appends(&text, i % 2 ? "本" : "日");
	texts[0] = buf_str(&text);
	sink_init(&s);
	CHECK_INT(ask(&s, "日本", texts, 1, 0, &res), DC_OK);
	CHECK(!s.bad_piece);
	CHECK(valid_utf8(buf_str(&s.text), s.text.len));
	CHECK_INT(s.text.len, strlen("According to your documents: \"") + 1500 + 3 +
		  strlen("\" [1]."));
	/* a 90 KB sentence is no error either */
	for (i = 600; i < 30000; i++)
		buf_appends(&text, i % 2 ? "本" : "日");
	texts[0] = buf_str(&text);
	buf_reset(&s.text);
	CHECK_INT(ask(&s, "日本", texts, 1, 0, &res), DC_OK);
	CHECK_INT(s.text.len, strlen("According to your documents: \"") + 1500 + 3 +
		  strlen("\" [1]."));
	buf_free(&s.text);
	buf_free(&text);
}

static void test_extractive_heading_and_code_never_quoted(void)
{
	static const char *const texts[] = {
		"# Green tea guide\n\nGreen tea likes water well below boiling.\n\n"
		"```\ngreen tea --steep 2m\n```\n\nSteep green tea for two minutes at most."
	};
	struct sink s;
	struct backend_result res;

	sink_init(&s);
	CHECK_INT(ask(&s, "How should green tea be made?", texts, 1, 0, &res), DC_OK);
	CHECK_STR(buf_str(&s.text), "According to your documents: "
		  "\"Green tea likes water well below boiling.\" [1] "
		  "\"Steep green tea for two minutes at most.\" [1]");
	buf_free(&s.text);
}

static void test_extractive_quantity_question_prefers_numbers(void)
{
	static const char *const texts[] = {
		"The apple cake is a family favourite. The apple cake uses tart apples. "
		"Everyone asks for the apple cake recipe. Bake it at 180 degrees for 45 minutes."
	};
	struct sink s;
	struct backend_result res;

	sink_init(&s);
	CHECK_INT(ask(&s, "How long do I bake the apple cake?", texts, 1, 0, &res), DC_OK);
	CHECK(strstr(buf_str(&s.text), "\"Bake it at 180 degrees for 45 minutes.\" [1]") != NULL);
	buf_free(&s.text);
}

int main(void)
{
	RUN(test_extractive_quotes_best_sentences_in_source_order);
	RUN(test_extractive_answer_is_fully_grounded);
	RUN(test_extractive_weak_sentences_left_out);
	RUN(test_extractive_no_match_says_so);
	RUN(test_extractive_token_hup_stops_after_that_word);
	RUN(test_extractive_tick_abort_sends_nothing);
	RUN(test_extractive_delay_ticks_at_least_every_250ms);
	RUN(test_extractive_utf8_sentences_survive);
	RUN(test_extractive_markers_dropped_and_unended_quote_closed);
	RUN(test_extractive_repeated_sentence_quoted_once);
	RUN(test_extractive_heading_and_code_never_quoted);
	RUN(test_extractive_quantity_question_prefers_numbers);
	RUN(test_extractive_long_sentence_cut_to_120_words);
	RUN(test_extractive_long_unspaced_sentence_cut_at_character);
	return check_summary();
}
