/* search.c - keyword search: free text to a safe FTS5 query, BM25 to a score.
 *
 * The question is never handed to FTS5 as query syntax. It is cut into words (ASCII
 * letters and digits, and every byte >= 0x80 so that words in any script stay whole;
 * everything else separates), each word is emitted as a double-quoted FTS5 string and
 * the strings are joined with OR. Quotes, `*`, `^`, `:`, parentheses, NEAR/AND/OR/NOT and
 * column filters in the question therefore become plain words or separators and can
 * never make the query fail. The tokenizer in the index (porter, unicode61) then splits
 * and stems each quoted string as it did the documents. Running the query and the SQL
 * belong to store.c; prompts and answers to others. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "search.h"

#define SEARCH_MAX_WORDS 64		/* distinct words kept from a question */
#define SEARCH_QUERY_MAX (1024 * 1024)	/* longest MATCH expression built */

struct word {
	const char *p;
	size_t len;
};

static int is_word_byte(unsigned char c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

static unsigned char ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Equal ignoring ASCII case; bytes >= 0x80 must match exactly. */
static int word_eq(const struct word *a, const struct word *b)
{
	size_t i;

	if (a->len != b->len)
		return 0;
	for (i = 0; i < a->len; i++)
		if (ascii_lower((unsigned char)a->p[i]) != ascii_lower((unsigned char)b->p[i]))
			return 0;
	return 1;
}

/* Append w as an FTS5 string: in double quotes, a quote inside doubled. */
static enum dc_err append_quoted(struct buf *out, const struct word *w)
{
	enum dc_err rc = buf_append(out, "\"", 1);
	size_t i, from = 0;

	for (i = 0; rc == DC_OK && i < w->len; i++) {
		if (w->p[i] != '"')
			continue;
		rc = buf_append(out, w->p + from, i + 1 - from);
		if (rc == DC_OK)
			rc = buf_append(out, "\"", 1);
		from = i + 1;
	}
	if (rc == DC_OK)
		rc = buf_append(out, w->p + from, w->len - from);
	if (rc == DC_OK)
		rc = buf_append(out, "\"", 1);
	return rc;
}

enum dc_err search_fts_query(const char *text, size_t len, struct buf *out)
{
	struct word words[SEARCH_MAX_WORDS];
	size_t nwords = 0, i = 0, j, k;
	enum dc_err rc = DC_OK;

	buf_reset(out);
	while (i < len && nwords < SEARCH_MAX_WORDS) {
		struct word w;
		int dup = 0;

		while (i < len && !is_word_byte((unsigned char)text[i]))
			i++;
		if (i >= len)
			break;
		j = i;
		while (j < len && is_word_byte((unsigned char)text[j]))
			j++;
		w.p = text + i;
		w.len = j - i;
		i = j;
		for (k = 0; k < nwords && !dup; k++)
			dup = word_eq(&words[k], &w);
		if (!dup)
			words[nwords++] = w;
	}
	for (k = 0; rc == DC_OK && k < nwords; k++) {
		if (k)
			rc = buf_appends(out, " OR ");
		if (rc == DC_OK)
			rc = append_quoted(out, &words[k]);
	}
	return rc;
}

double search_score_bm25(double bm25)
{
	double s = -bm25;

	if (isnan(s) || s <= 0)
		return 0.0;
	if (isinf(s))
		return 1.0;
	return s / (s + 1.0);
}

void search_hits_free(struct search_hit *hits, size_t n)
{
	size_t i;

	if (!hits)
		return;
	for (i = 0; i < n; i++)
		store_hit_clear(&hits[i].h);
	free(hits);
}

enum dc_err search_keyword(struct store *st, const char *owner, const char *question,
			   const long long *doc_ids, size_t ndocs, int top_k,
			   struct search_hit **out, size_t *n, char *err, size_t errlen)
{
	struct buf query;
	struct store_hit *hits = NULL;
	struct search_hit *res = NULL;
	size_t nhits = 0, i;
	enum dc_err rc;

	*out = NULL;
	*n = 0;
	buf_init(&query, SEARCH_QUERY_MAX);
	if (!question || top_k <= 0)
		return DC_OK;
	rc = search_fts_query(question, strlen(question), &query);
	if (rc != DC_OK) {
		rc = dc_fail(err, errlen, rc, "keyword search: question too long to search");
		goto out;
	}
	if (query.len == 0)
		goto out;	/* no words: nothing can match */
	rc = store_search_fts(st, owner, buf_str(&query), doc_ids, ndocs, top_k, &hits, &nhits,
			      err, errlen);
	if (rc != DC_OK || nhits == 0)
		goto out;
	res = calloc(nhits, sizeof(*res));
	if (!res) {
		rc = dc_fail(err, errlen, DC_NOMEM, "keyword search: out of memory");
		goto out;
	}
	/* Move each hit's strings into the result; the emptied array is freed below. */
	for (i = 0; i < nhits; i++) {
		res[i].h = hits[i];
		res[i].score = search_score_bm25(hits[i].bm25);
		memset(&hits[i], 0, sizeof(hits[i]));
	}
	*out = res;
	*n = nhits;
	res = NULL;
out:
	search_hits_free(res, 0);
	store_hits_free(hits, nhits);
	buf_free(&query);
	return rc;
}
