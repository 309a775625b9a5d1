/* grounding.h - simple, documented heuristics for how well an answer is grounded.
 *
 * confidence: how strongly the retrieved sources match the question, in [0,1].
 * hallucination: the share of answer sentences that no single source supports by
 * lexical overlap, and those sentences. Both are word-overlap heuristics (lower-cased,
 * citations and stop words removed, a light suffix stemmer), not model judgements; the
 * README names them as such. Knows nothing of storage or transport. */
#ifndef DC_GROUNDING_H
#define DC_GROUNDING_H

#include <stddef.h>
#include "dc.h"

/* Confidence that sources (best first, scores in [0,1]) answer question: the share of the
 * question's content words found in the top sources, weighted with the best score.
 * 0 when there are no sources. */
double grounding_confidence(const char *question, const char *const *sources,
			    const double *scores, size_t nsources);

struct grounding_result {
	double score;		/* unsupported sentences / sentences, 0 if no sentences */
	size_t sentences;
	char **unsupported;	/* malloc'd sentences, as they appear in the answer */
	size_t nunsupported;
};

/* Check each sentence of answer against the sources. A sentence is supported when at
 * least half of its content words (and at least one) occur in one source. Sentences
 * without content words (e.g. "Yes.") count as supported. */
enum dc_err grounding_check(const char *answer, const char *const *sources, size_t nsources,
			    struct grounding_result *out);
void grounding_free(struct grounding_result *r);

#endif
