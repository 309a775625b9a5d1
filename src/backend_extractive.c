/* backend_extractive.c - the built-in offline backend: answers by quoting the sources.
 *
 * So that a fresh install answers with no model server, this backend picks the source
 * sentences that share the most content words with the question (words as words.c
 * defines them) and quotes them verbatim, each followed by its citation:
 *
 *   According to your documents: "First sentence." [1] "Second sentence." [2]
 *
 * Choosing: every sentence of every source is a candidate when it shares at least one
 * distinct content word with the question; a leading Markdown heading line is dropped
 * from it (headings are context, not answers) and code fences and underlines are never
 * candidates. Each shared word weighs log(1 + N / df), N the candidates and df those
 * containing the word, so words that every sentence shares count little; when the
 * question asks for a quantity or a time ("how long", "when", ...) a sentence holding a
 * digit gains the heaviest word's weight; and the sum is scaled by 0.5 + the source's
 * search score. Candidates rank by that weight, then those of EXTRACTIVE_FULL_WORDS
 * words or more before shorter ones, then by source number and position. The best is
 * always taken; then up to EXTRACTIVE_MAX_SENTENCES in all, each sharing at least half
 * as many distinct words as the best, skipping fragments shorter than
 * EXTRACTIVE_FULL_WORDS words when fuller sentences matched, not repeating a sentence
 * already taken (chunks overlap) and fitting in EXTRACTIVE_MAX_WORDS words and
 * EXTRACTIVE_MAX_BYTES bytes of quotes together. Only the best may be cut to fit, at a
 * space (or a character boundary), ending in "…". The quotes are given in source
 * order, then in order within a source.
 *
 * Quoting: whitespace runs become one space, bytes that are not UTF-8 become U+FFFD and
 * leading list or heading markers ("- ", "# ") go; nothing else changes, so the quoted
 * words are exactly the source's and grounding.c finds each quote supported. A quote
 * that does not end in . ! ? (or 。！？) gets a "." after its citation so that the
 * sentence ends there and the next quote is checked on its own. The intro joins the
 * first quote's sentence in that check; of its words only "documents" is not a stop
 * word, and a quote has at least one content word, so the pair keeps half its words
 * found. No candidate at all (no sources, or no shared word) gives
 * EXTRACTIVE_NO_ANSWER.
 *
 * Streaming: the answer goes out one word at a time, each with the space after it, so
 * the pieces concatenate to the answer exactly. tick is called before every word and
 * during the pause of delay_ms between words at least every EXTRACTIVE_TICK_MS. A
 * callback's non-OK result stops the stream at once and is returned. The result
 * counts the words the token callback accepted as completion tokens and estimates
 * the prompt as the question's and sources' bytes / 4.
 *
 * Knows nothing of the web server, SSE or storage. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend_extractive.h"
#include "buf.h"
#include "words.h"

#define EXTRACTIVE_MAX_SENTENCES 3
#define EXTRACTIVE_MAX_WORDS 120
#define EXTRACTIVE_MAX_BYTES 1500	/* all quotes together */
#define EXTRACTIVE_FULL_WORDS 4	/* fewer words: likely a heading, ranked lower */
#define EXTRACTIVE_TICK_MS 200	/* under the 250 ms backend.h promises */
#define EXTRACTIVE_MAX_SCAN (16 * 1024)	/* bytes of one sentence kept for quoting */
#define EXTRACTIVE_MAX_ANSWER (64 * 1024)
#define EXTRACTIVE_BYTES_PER_TOKEN 4	/* the estimate prompt.c uses */

#define EXTRACTIVE_NO_ANSWER backend_extractive_no_answer

const char backend_extractive_no_answer[] =
	"I could not find anything about that in your documents.";

static const char answer_intro[] = "According to your documents:";
static const char ellipsis[] = "\xE2\x80\xA6";	/* … */

struct candidate {
	size_t src;		/* source index, from 0 */
	size_t pos;		/* sentence index within the source */
	size_t shared;		/* distinct question words in the sentence */
	double weight;		/* those words weighted by rarity among the candidates */
	unsigned char *has;	/* which question words (q.n flags), owned */
	size_t nwords;		/* words of text (space-separated) */
	char *text;		/* cleaned sentence, owned */
	size_t keep;		/* bytes of text quoted, once chosen */
};

struct pool {
	struct candidate *v;
	size_t n, cap;
};

static void pool_free(struct pool *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->v[i].text);
		free(p->v[i].has);
	}
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
}

/* Take c (and its text) into the pool; on failure c->text is freed. */
static enum dc_err pool_add(struct pool *p, struct candidate *c)
{
	struct candidate *v;
	size_t cap;

	if (p->n == p->cap) {
		cap = p->cap ? p->cap * 2 : 32;
		v = realloc(p->v, cap * sizeof(*v));
		if (!v) {
			free(c->text);
			return DC_NOMEM;
		}
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = *c;
	return DC_OK;
}

static size_t count_words(const char *s, size_t n)
{
	size_t i, w = n > 0;

	for (i = 0; i < n; i++)
		if (s[i] == ' ')
			w++;
	return w;
}

/* Length of a list or heading marker with its space at s (n bytes), 0 if none. */
static size_t marker_len(const char *s, size_t n)
{
	size_t i = 0;

	if (n >= 4 && memcmp(s, "\xE2\x80\xA2", 3) == 0 && (s[3] == ' ' || s[3] == '\t'))
		return 4;	/* • */
	if (n < 2)
		return 0;
	if (s[0] == '#') {
		while (i < n && s[i] == '#')
			i++;
	} else if (s[0] == '-' || s[0] == '*' || s[0] == '+' || s[0] == '>') {
		i = 1;
	}
	if (i == 0 || i >= n || (s[i] != ' ' && s[i] != '\t'))
		return 0;
	return i + 1;
}

/* The sentence s[0, n) as it is quoted: markers off, whitespace normalised. Only its
 * first EXTRACTIVE_MAX_SCAN bytes (ending at a character boundary) are kept; far more
 * than a quote may hold, so the quote is cut properly later. */
static enum dc_err clean_sentence(const char *s, size_t n, struct buf *out)
{
	size_t m;

	if (n > EXTRACTIVE_MAX_SCAN) {
		n = EXTRACTIVE_MAX_SCAN;
		while (n > 0 && ((unsigned char)s[n] & 0xC0u) == 0x80)
			n--;
	}
	while ((m = marker_len(s, n)) > 0) {
		s += m;
		n -= m;
		while (n > 0 && (*s == ' ' || *s == '\t')) {
			s++;
			n--;
		}
	}
	return words_append_clean(out, s, n);
}

/* How many distinct words of q occur in s[0, n); seen has q->n bytes of scratch. */
static size_t count_shared(const char *s, size_t n, const struct words_set *q,
			   unsigned char *seen)
{
	size_t pos = 0, start, wlen, k, shared = 0;
	char key[WORDS_KEY_MAX];

	memset(seen, 0, q->n);
	while (words_next(s, n, &pos, &start, &wlen)) {
		if (words_key(s + start, wlen, key) == 0)
			continue;
		k = words_set_index(q, key);
		if (k < q->n && !seen[k]) {
			seen[k] = 1;
			shared++;
		}
	}
	return shared;
}

/* A Markdown heading line is context, not an answer: the bytes of s[0, n) left after a
 * leading "# ..." line (0 when the sentence is only the heading). */
static size_t skip_heading(const char *s, size_t n)
{
	const char *nl;

	if (n == 0 || s[0] != '#' || marker_len(s, n) == 0)
		return n;
	nl = memchr(s, '\n', n);
	return nl ? n - (size_t)(nl + 1 - s) : 0;
}

/* Weigh each candidate's question words by how rare they are among all candidates
 * (a word every sentence shares says little about which one answers): the weight of a
 * word found in df of N candidates is log(1 + N / df). */
static void weigh(struct pool *p, size_t nq, int wants_number,
		  const struct backend_source *src)
{
	size_t i, k, df;
	double top = 0;

	for (k = 0; k < nq; k++) {
		double w;

		for (df = 0, i = 0; i < p->n; i++)
			df += p->v[i].has[k];
		if (df == 0)
			continue;
		w = log(1.0 + (double)p->n / (double)df);
		if (w > top)
			top = w;
		for (i = 0; i < p->n; i++)
			if (p->v[i].has[k])
				p->v[i].weight += w;
	}
	/* "How long ...?" is answered by a sentence with a number in it. */
	for (i = 0; wants_number && i < p->n; i++)
		if (strpbrk(p->v[i].text, "0123456789"))
			p->v[i].weight += top;
	/* A sentence from a passage the search ranked higher is likelier the answer. */
	for (i = 0; i < p->n; i++)
		p->v[i].weight *= 0.5 + src[p->v[i].src].score;
}

/* Does the question ask for a quantity, a time or a date? */
static int asks_for_number(const char *question)
{
	static const char *const cues[] = { "how long", "how often", "how much", "how many",
					    "how far", "how old", "how big", "when ", "what time",
					    "what year", "which year", "what date" };
	char low[256];
	size_t i, n = strlen(question);

	if (n >= sizeof low)
		n = sizeof low - 1;
	for (i = 0; i < n; i++)
		low[i] = (char)(question[i] >= 'A' && question[i] <= 'Z' ? question[i] + 32 : question[i]);
	low[n] = '\0';
	for (i = 0; i < sizeof cues / sizeof cues[0]; i++)
		if (strstr(low, cues[i]))
			return 1;
	return 0;
}

/* Code blocks and underlines are not sentences to quote. */
static int is_markup(const char *s, size_t n)
{
	size_t alnum = 0;

	if (n >= 3 && (memcmp(s, "```", 3) == 0 || memcmp(s, "~~~", 3) == 0))
		return 1;
	for (size_t i = 0; i < n; i++)
		if ((s[i] >= '0' && s[i] <= '9') || ((s[i] | 32) >= 'a' && (s[i] | 32) <= 'z') ||
		    (unsigned char)s[i] >= 0x80)
			alnum++;
	return alnum * 4 < n;
}

/* Add the sentences of source src that share a word with q to the pool. */
static enum dc_err collect_source(const char *text, size_t src, const struct words_set *q,
				  unsigned char *seen, struct pool *p)
{
	struct words_span *sp = NULL;
	struct buf b;
	struct candidate c;
	size_t nsp = 0, i, len = strlen(text);
	enum dc_err rc;

	buf_init(&b, EXTRACTIVE_MAX_ANSWER);
	rc = words_sentences(text, len, &sp, &nsp);
	if (rc != DC_OK)
		goto out;
	for (i = 0; i < nsp; i++) {
		const char *s = text + sp[i].start;
		size_t n = skip_heading(s, sp[i].len);

		s += sp[i].len - n;
		if (is_markup(s, n))
			continue;
		c.shared = count_shared(s, n, q, seen);
		if (c.shared == 0)
			continue;
		rc = clean_sentence(s, n, &b);
		if (rc != DC_OK)
			goto out;
		c.src = src;
		c.pos = i;
		c.weight = 0;
		c.nwords = count_words(buf_str(&b), b.len);
		c.keep = b.len;
		c.has = malloc(q->n);
		c.text = buf_take(&b, NULL);
		if (!c.text || !c.has) {
			free(c.text);
			free(c.has);
			rc = DC_NOMEM;
			goto out;
		}
		memcpy(c.has, seen, q->n);
		rc = pool_add(p, &c);
		if (rc != DC_OK)
			goto out;
	}
out:
	buf_free(&b);
	free(sp);
	return rc;
}

static int cmp_rank(const void *pa, const void *pb)
{
	const struct candidate *a = pa, *b = pb;
	int fa = a->nwords >= EXTRACTIVE_FULL_WORDS, fb = b->nwords >= EXTRACTIVE_FULL_WORDS;

	if (a->weight != b->weight)
		return a->weight > b->weight ? -1 : 1;
	if (fa != fb)
		return fa ? -1 : 1;
	if (a->src != b->src)
		return a->src < b->src ? -1 : 1;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

static int cmp_order(const void *pa, const void *pb)
{
	const struct candidate *a = *(const struct candidate *const *)pa;
	const struct candidate *b = *(const struct candidate *const *)pb;

	if (a->src != b->src)
		return a->src < b->src ? -1 : 1;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* Bytes of the start of s (len bytes) holding at most max_words words and max_bytes
 * bytes, cut at a space, or inside a long word at a character boundary. */
static size_t cut_length(const char *s, size_t len, size_t max_words, size_t max_bytes)
{
	size_t i, words = 1, last_space = 0, cl;
	unsigned long cp;

	if (len <= max_bytes && count_words(s, len) <= max_words)
		return len;
	for (i = 0; i < len && i < max_bytes; i++) {
		if (s[i] != ' ')
			continue;
		if (words == max_words)
			return i;
		last_space = i;
		words++;
	}
	if (last_space > 0)
		return last_space;
	for (i = 0; i < len; i += cl) {
		cl = words_utf8_char(s + i, len - i, &cp);
		if (i + cl > max_bytes)
			break;
	}
	return i;
}

/* Pick the quotes from the ranked pool into chosen (room for
 * EXTRACTIVE_MAX_SENTENCES), in source order; returns how many. */
static size_t choose(struct pool *p, struct candidate **chosen)
{
	size_t i, j, n = 0, words = 0, bytes = 0, len;
	size_t need;
	int dup, have_full = 0;

	if (p->n == 0)
		return 0;
	qsort(p->v, p->n, sizeof(p->v[0]), cmp_rank);
	need = (p->v[0].shared + 1) / 2;
	for (i = 0; i < p->n; i++)
		have_full |= p->v[i].nwords >= EXTRACTIVE_FULL_WORDS;
	for (i = 0; i < p->n && n < EXTRACTIVE_MAX_SENTENCES; i++) {
		struct candidate *c = &p->v[i];

		/* a heading-like fragment only when nothing fuller matched */
		if (c->shared < need || (have_full && c->nwords < EXTRACTIVE_FULL_WORDS))
			continue;
		for (dup = 0, j = 0; j < n && !dup; j++)
			dup = strcmp(chosen[j]->text, c->text) == 0;
		if (dup)
			continue;
		len = strlen(c->text);
		if (n == 0) {
			c->keep = cut_length(c->text, len, EXTRACTIVE_MAX_WORDS,
					     EXTRACTIVE_MAX_BYTES);
		} else if (words + c->nwords > EXTRACTIVE_MAX_WORDS ||
			   bytes + len > EXTRACTIVE_MAX_BYTES) {
			continue;
		}
		words += count_words(c->text, c->keep);
		bytes += c->keep;
		chosen[n++] = c;
	}
	qsort(chosen, n, sizeof(chosen[0]), cmp_order);
	return n;
}

/* Does s[0, n) end a sentence (. ! ? or 。！？, closing quotes allowed after)? */
static int ends_sentence(const char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == '"' || s[n - 1] == '\'' || s[n - 1] == ')'))
		n--;
	if (n >= 3 && (memcmp(s + n - 3, "\xE3\x80\x82", 3) == 0 ||	/* 。 */
		       memcmp(s + n - 3, "\xEF\xBC\x81", 3) == 0 ||	/* ！ */
		       memcmp(s + n - 3, "\xEF\xBC\x9F", 3) == 0))	/* ？ */
		return 1;
	return n > 0 && (s[n - 1] == '.' || s[n - 1] == '!' || s[n - 1] == '?');
}

static enum dc_err build_answer(struct candidate *const *chosen, size_t n, struct buf *out)
{
	const struct candidate *c;
	size_t i, len;
	int cut;
	enum dc_err rc;

	if (n == 0)
		return buf_appends(out, EXTRACTIVE_NO_ANSWER);
	rc = buf_appends(out, answer_intro);
	for (i = 0; i < n && rc == DC_OK; i++) {
		c = chosen[i];
		len = strlen(c->text);
		cut = c->keep < len;
		rc = buf_appends(out, " \"");
		if (rc == DC_OK)
			rc = buf_append(out, c->text, c->keep);
		if (rc == DC_OK && cut)
			rc = buf_appends(out, ellipsis);
		if (rc == DC_OK)
			rc = buf_printf(out, "\" [%zu]", c->src + 1);
		if (rc == DC_OK && (cut || !ends_sentence(c->text, c->keep)))
			rc = buf_appends(out, ".");
	}
	return rc;
}

/* The answer text for req: quotes, or EXTRACTIVE_NO_ANSWER. */
static enum dc_err compose(const struct backend_req *req, struct buf *answer)
{
	struct words_set q;
	struct pool p = { NULL, 0, 0 };
	struct candidate *chosen[EXTRACTIVE_MAX_SENTENCES] = { NULL };
	unsigned char *seen = NULL;
	const char *question = req->question ? req->question : "";
	size_t i, n = 0;
	enum dc_err rc;

	words_set_init(&q);
	rc = words_set_add_text(&q, question, strlen(question));
	if (rc != DC_OK || q.n == 0)
		goto out;
	seen = malloc(q.n);
	if (!seen) {
		rc = DC_NOMEM;
		goto out;
	}
	for (i = 0; i < req->nsources && rc == DC_OK; i++)
		if (req->sources[i].text)
			rc = collect_source(req->sources[i].text, i, &q, seen, &p);
	if (rc == DC_OK) {
		weigh(&p, q.n, asks_for_number(question), req->sources);
		n = choose(&p, chosen);
	}
out:
	if (rc == DC_OK)
		rc = build_answer(chosen, n, answer);
	free(seen);
	pool_free(&p);
	words_set_free(&q);
	return rc;
}

/* Sleep ms milliseconds, calling tick at least every EXTRACTIVE_TICK_MS. */
static enum dc_err pause_ms(const struct backend_cb *cb, int ms)
{
	struct timespec ts;
	int slice;
	enum dc_err rc;

	while (ms > 0) {
		slice = ms < EXTRACTIVE_TICK_MS ? ms : EXTRACTIVE_TICK_MS;
		ts.tv_sec = slice / 1000;
		ts.tv_nsec = (long)(slice % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		ms -= slice;
		if (cb->tick) {
			rc = cb->tick(cb->ud);
			if (rc != DC_OK)
				return rc;
		}
	}
	return DC_OK;
}

enum dc_err backend_extractive_next(struct extractive_words *w, const struct backend_cb *cb,
				   struct backend_result *res, int *more)
{
	const char *p = buf_str(&w->answer) + w->pos, *sp;
	size_t n;
	enum dc_err rc;

	*more = 0;
	if (!*p)
		return DC_OK;
	sp = strchr(p, ' ');
	n = sp ? (size_t)(sp - p) + 1 : strlen(p);
	if (cb->token) {
		rc = cb->token(cb->ud, p, n);
		if (rc != DC_OK)
			return rc;
	}
	res->completion_tokens++;
	w->pos += n;
	*more = p[n] != '\0';
	return DC_OK;
}

/* Send the answer word by word; res->completion_tokens counts the words accepted. */
static enum dc_err stream_words(struct extractive_words *w, int delay_ms,
				const struct backend_cb *cb, struct backend_result *res)
{
	int more = 1, first = 1;
	enum dc_err rc;

	while (more) {
		if (!first && delay_ms > 0) {
			rc = pause_ms(cb, delay_ms);
			if (rc != DC_OK)
				return rc;
		}
		first = 0;
		if (cb->tick) {
			rc = cb->tick(cb->ud);
			if (rc != DC_OK)
				return rc;
		}
		rc = backend_extractive_next(w, cb, res, &more);
		if (rc != DC_OK)
			return rc;
	}
	return DC_OK;
}

static long estimate_prompt(const struct backend_req *req)
{
	size_t bytes = req->question ? strlen(req->question) : 0, i;

	for (i = 0; i < req->nsources; i++)
		if (req->sources[i].text)
			bytes += strlen(req->sources[i].text);
	return (long)((bytes + EXTRACTIVE_BYTES_PER_TOKEN - 1) / EXTRACTIVE_BYTES_PER_TOKEN);
}

enum dc_err backend_extractive_open(const struct backend_req *req,
				   struct backend_result *res, struct extractive_words *w,
				   char *err, size_t errlen)
{
	enum dc_err rc;

	res->finish_reason[0] = '\0';
	res->prompt_tokens = estimate_prompt(req);
	res->completion_tokens = 0;
	w->pos = 0;
	buf_init(&w->answer, EXTRACTIVE_MAX_ANSWER);
	rc = compose(req, &w->answer);
	if (rc != DC_OK)
		return dc_fail(err, errlen, rc, "extractive: cannot compose the answer: %s",
			       dc_strerror(rc));
	return DC_OK;
}

void backend_extractive_close(struct extractive_words *w)
{
	buf_free(&w->answer);
}

enum dc_err backend_extractive_stream(const struct backend_req *req,
				      const struct backend_cb *cb,
				      struct backend_result *res, char *err, size_t errlen)
{
	struct extractive_words w;
	enum dc_err rc;

	rc = backend_extractive_open(req, res, &w, err, errlen);
	if (rc != DC_OK)
		goto out;
	rc = stream_words(&w, req->delay_ms, cb, res);
	if (rc != DC_OK) {
		dc_fail(err, errlen, rc, "extractive: stopped: %s", dc_strerror(rc));
		goto out;
	}
	memcpy(res->finish_reason, "stop", sizeof("stop"));
out:
	backend_extractive_close(&w);
	return rc;
}
