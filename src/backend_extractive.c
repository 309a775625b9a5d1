/* backend_extractive.c - the built-in offline backend: answers by quoting the sources.
 *
 * So that a fresh install answers with no model server, this backend picks the source
 * sentences that share the most content words with the question (words as words.c
 * defines them) and quotes them verbatim, each followed by its citation:
 *
 *   According to your documents: "First sentence." [1] "Second sentence." [2]
 *
 * Choosing: every sentence of every source is a candidate when it shares at least one
 * distinct content word with the question. Candidates rank by shared words, then those
 * of EXTRACTIVE_FULL_WORDS words or more before shorter ones (a lone heading), then by
 * source number and position. The best is always taken; then up to
 * EXTRACTIVE_MAX_SENTENCES in all, each sharing at least half as many words as the best,
 * not repeating a sentence already taken (chunks overlap) and fitting in
 * EXTRACTIVE_MAX_WORDS words and EXTRACTIVE_MAX_BYTES bytes of quotes together. Only
 * the best may be cut to fit, at a space (or a character boundary), ending in "…".
 * The quotes are given in source order, then in order within a source.
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

#define EXTRACTIVE_NO_ANSWER "I could not find anything about that in your documents."

static const char answer_intro[] = "According to your documents:";
static const char ellipsis[] = "\xE2\x80\xA6";	/* … */

struct candidate {
	size_t src;		/* source index, from 0 */
	size_t pos;		/* sentence index within the source */
	size_t shared;		/* distinct question words in the sentence */
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

	for (i = 0; i < p->n; i++)
		free(p->v[i].text);
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
		c.shared = count_shared(text + sp[i].start, sp[i].len, q, seen);
		if (c.shared == 0)
			continue;
		rc = clean_sentence(text + sp[i].start, sp[i].len, &b);
		if (rc != DC_OK)
			goto out;
		c.src = src;
		c.pos = i;
		c.nwords = count_words(buf_str(&b), b.len);
		c.keep = b.len;
		c.text = buf_take(&b, NULL);
		if (!c.text) {
			rc = DC_NOMEM;
			goto out;
		}
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

	if (a->shared != b->shared)
		return a->shared > b->shared ? -1 : 1;
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
	size_t i, j, n = 0, words = 0, bytes = 0, need, len;
	int dup;

	if (p->n == 0)
		return 0;
	qsort(p->v, p->n, sizeof(p->v[0]), cmp_rank);
	need = (p->v[0].shared + 1) / 2;
	for (i = 0; i < p->n && n < EXTRACTIVE_MAX_SENTENCES; i++) {
		struct candidate *c = &p->v[i];

		if (c->shared < need)
			break;
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
	if (rc == DC_OK)
		n = choose(&p, chosen);
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

/* Send answer word by word; res->completion_tokens counts the words accepted. */
static enum dc_err stream_words(const char *answer, int delay_ms, const struct backend_cb *cb,
				struct backend_result *res)
{
	const char *p = answer, *sp;
	size_t n;
	enum dc_err rc;

	while (*p) {
		if (p != answer && delay_ms > 0) {
			rc = pause_ms(cb, delay_ms);
			if (rc != DC_OK)
				return rc;
		}
		if (cb->tick) {
			rc = cb->tick(cb->ud);
			if (rc != DC_OK)
				return rc;
		}
		sp = strchr(p, ' ');
		n = sp ? (size_t)(sp - p) + 1 : strlen(p);
		if (cb->token) {
			rc = cb->token(cb->ud, p, n);
			if (rc != DC_OK)
				return rc;
		}
		res->completion_tokens++;
		p += n;
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

enum dc_err backend_extractive_stream(const struct backend_req *req,
				      const struct backend_cb *cb,
				      struct backend_result *res, char *err, size_t errlen)
{
	struct buf answer;
	enum dc_err rc;

	res->finish_reason[0] = '\0';
	res->prompt_tokens = estimate_prompt(req);
	res->completion_tokens = 0;
	buf_init(&answer, EXTRACTIVE_MAX_ANSWER);
	rc = compose(req, &answer);
	if (rc != DC_OK) {
		dc_fail(err, errlen, rc, "extractive: cannot compose the answer: %s",
			dc_strerror(rc));
		goto out;
	}
	rc = stream_words(buf_str(&answer), req->delay_ms, cb, res);
	if (rc != DC_OK) {
		dc_fail(err, errlen, rc, "extractive: stopped: %s", dc_strerror(rc));
		goto out;
	}
	memcpy(res->finish_reason, "stop", sizeof("stop"));
out:
	buf_free(&answer);
	return rc;
}
