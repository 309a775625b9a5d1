/* search.h - ranking chunks for a question (keyword search over FTS5 with BM25).
 *
 * Turns user text into a safe FTS5 expression (every word quoted, so quotes, `*`, NEAR,
 * AND/OR/NOT, `^`, column filters and parentheses are searched as words, never parsed
 * as query syntax), runs it through the store and maps BM25 to a score in [0,1].
 * Knows nothing of prompts or HTTP. */
#ifndef DC_SEARCH_H
#define DC_SEARCH_H

#include <stddef.h>
#include "dc.h"
#include "store.h"

struct buf;

/* Build an FTS5 MATCH expression from free text: the distinct words (letters and digits,
 * any script) each as a quoted string, joined with OR. out gets "" when the text has no
 * words at all. */
enum dc_err search_fts_query(const char *text, size_t len, struct buf *out);

struct search_hit {
	struct store_hit h;	/* owned */
	double score;		/* in [0,1], higher is better */
};
void search_hits_free(struct search_hit *hits, size_t n);

/* Keyword search: at most top_k hits, best first. doc_ids/ndocs restrict to those
 * documents when ndocs > 0. No words in the question: DC_OK with *n = 0. */
enum dc_err search_keyword(struct store *st, const char *owner, const char *question,
			   const long long *doc_ids, size_t ndocs, int top_k,
			   struct search_hit **out, size_t *n, char *err, size_t errlen);

/* Map a bm25() value (lower is better) to [0,1]: s = -bm25, score = s / (s + 1). */
double search_score_bm25(double bm25);

#endif
