/* search.h - ranking chunks for a question: keyword, vector or hybrid.
 *
 * Keyword search turns user text into a safe FTS5 expression (every word quoted, so
 * quotes, `*`, NEAR, AND/OR/NOT, `^`, column filters and parentheses are searched as
 * words, never parsed as query syntax), leaving out stop words and words that half the
 * library holds, runs it through the store and ranks by BM25.
 * Vector search embeds the question (embed.c) and asks the shared in-memory index
 * (vectors.c) for the nearest chunks. Hybrid search fuses both lists by reciprocal rank.
 * Every mode gives each hit a score in [0,1], higher is better:
 *   keyword  s / (s + 1) with s = -bm25 (BM25 as SQLite computes it, lower is better);
 *   vector   the cosine similarity, negative values (pointing away) counted as 0;
 *   hybrid   the reciprocal rank fusion value divided by its largest possible value
 *            2 / (SEARCH_RRF_K + 1), so a chunk ranked first by both halves scores 1 and
 *            one ranked first by only one of them 0.5.
 * Knows nothing of prompts or HTTP; the JSON shape of a hit is here because the chat
 * stream and GET /search show hits alike. */
#ifndef DC_SEARCH_H
#define DC_SEARCH_H

#include <stddef.h>
#include "dc.h"
#include "store.h"

struct buf;
struct config;
struct json_object;

/* Build an FTS5 MATCH expression from free text: the distinct words (letters and digits,
 * any script) each as a quoted string, joined with OR. out gets "" when the text has no
 * words at all. */
enum dc_err search_fts_query(const char *text, size_t len, struct buf *out);

struct search_hit {
	struct store_hit h;	/* owned */
	double score;		/* in [0,1], higher is better */
};
void search_hits_free(struct search_hit *hits, size_t n);

/* Which of n question words to search for, given that hits[i] of the index's rows
 * hold word i: keep[i] is set to 1 or 0, and the number kept is returned. A word no
 * row holds is dropped. A word in at least half the rows (where FTS5 floors BM25's IDF
 * at 1e-6, so it adds next to nothing to any score) is dropped when some other word is
 * rarer than that; when every word is that common they are all kept. */
size_t search_prune_terms(const long long *hits, size_t n, long long rows,
			  unsigned char *keep);

/* Keyword search: at most top_k hits, best first. doc_ids/ndocs restrict to those
 * documents when ndocs > 0. English stop words ("what", "is", "the", ...) are left out
 * of the question unless it has no other words, and then words are dropped as
 * search_prune_terms says. No words in the question, or none that any chunk holds:
 * DC_OK with *n = 0. */
enum dc_err search_keyword(struct store *st, const char *owner, const char *question,
			   const long long *doc_ids, size_t ndocs, int top_k,
			   struct search_hit **out, size_t *n, char *err, size_t errlen);

/* Map a bm25() value (lower is better) to [0,1]: s = -bm25, score = s / (s + 1). */
double search_score_bm25(double bm25);

/* ---- vector and hybrid search ---- */

#define SEARCH_RRF_K 60		/* reciprocal rank fusion: 1 / (k + rank), rank from 1 */
#define SEARCH_DEPTH_FACTOR 4	/* hybrid: each half fetches this many times top_k */
#define SEARCH_EMBED_TIMEOUT_S 30	/* longest wait for a question's embedding */

enum search_mode {
	SEARCH_AUTO = 0,	/* hybrid when DOCCHAT_EMBED_MODEL is set, else keyword */
	SEARCH_KEYWORD,
	SEARCH_VECTOR,
	SEARCH_HYBRID
};

/* "keyword", "vector", "hybrid" ("auto" for SEARCH_AUTO). */
const char *search_mode_name(enum search_mode mode);

/* Parse "keyword", "vector" or "hybrid"; 0 for anything else. */
int search_mode_parse(const char *name, enum search_mode *out);

/* What a search actually did. */
struct search_used {
	enum search_mode mode;		/* keyword, vector or hybrid: never SEARCH_AUTO */
	char fallback[DC_ERRMAX];	/* "" or why vector search could not run, in which
					 * case mode is keyword ("ollama: HTTP 500: ...") */
};

/* Search the chunks owner may see (restricted to doc_ids when ndocs > 0) for question:
 * at most top_k hits, best first, in *out (free with search_hits_free). mode
 * SEARCH_AUTO picks hybrid when cfg->embed_model is set, else keyword. Vector and hybrid
 * need cfg->embed_model: without it DC_BADREQ, "DOCCHAT_EMBED_MODEL is not set ...".
 * When the vector half fails (the embedding server is down or answers badly, the stored
 * vectors do not fit the model), the search runs as keyword search instead and says
 * why in used->fallback; that is DC_OK. Other errors (the database) fail the search. */
enum dc_err search_run(struct store *st, const struct config *cfg, const char *owner,
		       const char *question, enum search_mode mode, const long long *doc_ids,
		       size_t ndocs, int top_k, struct search_hit **out, size_t *n,
		       struct search_used *used, char *err, size_t errlen);

/* Called while search_run_ticked waits for the embedding server, at least every 250 ms
 * (backend.h's tick). A non-OK result stops the search and is returned as is: no
 * keyword search replaces it. */
struct search_tick {
	enum dc_err (*fn)(void *ud);
	void *ud;
};

/* search_run with tick (NULL: none), for a question being answered while a client
 * waits: pings go on and a client that leaves is noticed during the embedding. */
enum dc_err search_run_ticked(struct store *st, const struct config *cfg, const char *owner,
			      const char *question, enum search_mode mode,
			      const long long *doc_ids, size_t ndocs, int top_k,
			      const struct search_tick *tick, struct search_hit **out, size_t *n,
			      struct search_used *used, char *err, size_t errlen);

/* search_run for vector or hybrid mode with the question's embedding already made
 * (qvec: dim floats, normalized, from cfg->embed_model), for callers that embed
 * themselves and for benchmarks. Same results; a failing vector half is an error here
 * (no fallback). */
enum dc_err search_run_embedded(struct store *st, const struct config *cfg,
				const char *owner, const char *question, const float *qvec,
				int dim, enum search_mode mode, const long long *doc_ids,
				size_t ndocs, int top_k, struct search_hit **out, size_t *n,
				char *err, size_t errlen);

/* Map a cosine similarity to [0,1]: max(0, c), at most 1. */
double search_score_cosine(double cosine);

/* Map a reciprocal rank fusion value to [0,1]: rrf / (2 / (SEARCH_RRF_K + 1)). */
double search_score_rrf(double rrf);

/* One entry of a fused list. */
struct search_fused {
	long long chunk_id;
	size_t keyword_rank;	/* 1-based place in the keyword list, 0 if absent */
	size_t vector_rank;	/* 1-based place in the vector list, 0 if absent */
	double rrf;		/* sum over the lists it is in of 1 / (SEARCH_RRF_K + rank) */
};

/* Fuse two ranked lists of chunk ids (best first, no repeats within a list) by
 * reciprocal rank into out, which has room for nkw + nvec entries. Returns how many
 * distinct chunks there are, written best first: higher rrf; on a tie the better
 * single rank, then the better keyword rank, then the lower chunk id. */
size_t search_fuse(const long long *kw, size_t nkw, const long long *vec, size_t nvec,
		   struct search_fused *out);

/* A hit as the sources event and GET /search show it: {text, score, metadata:
 * {document_id, document, chunk, heading, page}}. A new object, NULL on no memory. */
struct json_object *search_hit_json(const struct search_hit *h);

#endif
