/* grounding.c - word-overlap heuristics for how well sources and answers are grounded.
 *
 * Both measures compare content words as words.c defines them: lower-cased, stop words
 * dropped, lightly stemmed, each word counted once per text. Quotes and other
 * punctuation never form words; citation markers such as [1] or [2, 3] are removed from
 * answer sentences before they are checked, so a citation is not taken for a claim.
 *
 * confidence = 0.5 * best + 0.5 * coverage, clamped to [0, 1], where
 *   best     = the highest of the sources' scores, each clamped to [0, 1];
 *   coverage = the question's distinct content words found in at least one of the top
 *              GROUNDING_TOP_SOURCES (3) sources / the question's distinct content words
 *              (0 when the question has none).
 * No sources: 0.
 *
 * hallucination score = unsupported sentences / sentences (0 without sentences).
 * The answer is cut into sentences as words.c does (a citation right after a sentence
 * stays with it; spans without any word are not sentences). A sentence is supported
 * when it has no content word at all ("Yes."), or when some single source contains at
 * least half of its distinct content words (and at least one). The unsupported ones are
 * returned as they appear in the answer, trimmed.
 *
 * These are heuristics, not judgements by a model; a paraphrase with new words counts
 * as unsupported and a wrong claim made of the sources' words as supported. Knows
 * nothing of storage or transport. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "grounding.h"
#include "words.h"

#define GROUNDING_TOP_SOURCES 3
#define GROUNDING_BEST_WEIGHT 0.5
#define GROUNDING_COVERAGE_WEIGHT 0.5
#define GROUNDING_MAX_SENTENCE ((size_t)1 << 24)

static double clamp01(double x)
{
	if (!(x > 0.0))	/* also catches NaN */
		return 0.0;
	return x > 1.0 ? 1.0 : x;
}

double grounding_confidence(const char *question, const char *const *sources,
			    const double *scores, size_t nsources)
{
	struct words_set q, top;
	double best = 0.0, coverage = 0.0;
	size_t i;

	if (nsources == 0)
		return 0.0;
	for (i = 0; scores && i < nsources; i++)
		if (clamp01(scores[i]) > best)
			best = clamp01(scores[i]);
	words_set_init(&q);
	words_set_init(&top);
	/* On allocation failure the sets keep what they could hold: a lower estimate. */
	if (question)
		(void)words_set_add_text(&q, question, strlen(question));
	for (i = 0; sources && i < nsources && i < GROUNDING_TOP_SOURCES; i++)
		if (sources[i])
			(void)words_set_add_text(&top, sources[i], strlen(sources[i]));
	if (q.n > 0)
		coverage = (double)words_set_shared(&q, &top) / (double)q.n;
	words_set_free(&q);
	words_set_free(&top);
	return clamp01(GROUNDING_BEST_WEIGHT * best + GROUNDING_COVERAGE_WEIGHT * coverage);
}

/* Copy s[0, n) into out with citation markers replaced by a space. */
static enum dc_err strip_citations(const char *s, size_t n, struct buf *out)
{
	size_t i = 0, from = 0, cl;
	enum dc_err rc;

	while (i < n) {
		cl = s[i] == '[' ? words_citation_len(s, n, i) : 0;
		if (cl == 0) {
			i++;
			continue;
		}
		rc = buf_append(out, s + from, i - from);
		if (rc == DC_OK)
			rc = buf_append(out, " ", 1);
		if (rc != DC_OK)
			return rc;
		i += cl;
		from = i;
	}
	return buf_append(out, s + from, n - from);
}

/* Does one source hold at least half of the words of w (and at least one)? */
static int is_supported(const struct words_set *w, const struct words_set *src, size_t n)
{
	size_t i, found;

	if (w->n == 0)
		return 1;
	for (i = 0; i < n; i++) {
		found = words_set_shared(w, &src[i]);
		if (found > 0 && found * 2 >= w->n)
			return 1;
	}
	return 0;
}

static enum dc_err check_sentence(const char *s, size_t n, const struct words_set *src,
				  size_t nsrc, int *supported)
{
	struct buf clean;
	struct words_set w;
	enum dc_err rc;

	buf_init(&clean, GROUNDING_MAX_SENTENCE);
	words_set_init(&w);
	rc = strip_citations(s, n, &clean);
	if (rc != DC_OK)
		goto out;
	rc = words_set_add_text(&w, buf_str(&clean), clean.len);
	if (rc != DC_OK)
		goto out;
	*supported = is_supported(&w, src, nsrc);
out:
	words_set_free(&w);
	buf_free(&clean);
	return rc;
}

static char *copy_span(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

enum dc_err grounding_check(const char *answer, const char *const *sources, size_t nsources,
			    struct grounding_result *out)
{
	struct words_set *src = NULL;
	struct words_span *sp = NULL;
	size_t nsp = 0, i;
	int supported = 0;
	enum dc_err rc = DC_OK;

	memset(out, 0, sizeof(*out));
	if (!answer)
		answer = "";
	if (nsources > 0) {
		src = calloc(nsources, sizeof(*src));
		if (!src) {
			rc = DC_NOMEM;
			goto out;
		}
	}
	for (i = 0; i < nsources; i++) {
		if (!sources || !sources[i])
			continue;
		rc = words_set_add_text(&src[i], sources[i], strlen(sources[i]));
		if (rc != DC_OK)
			goto out;
	}
	rc = words_sentences(answer, strlen(answer), &sp, &nsp);
	if (rc != DC_OK || nsp == 0)
		goto out;
	out->unsupported = calloc(nsp, sizeof(*out->unsupported));
	if (!out->unsupported) {
		rc = DC_NOMEM;
		goto out;
	}
	for (i = 0; i < nsp; i++) {
		rc = check_sentence(answer + sp[i].start, sp[i].len, src, nsources, &supported);
		if (rc != DC_OK)
			goto out;
		if (supported)
			continue;
		out->unsupported[out->nunsupported] = copy_span(answer + sp[i].start, sp[i].len);
		if (!out->unsupported[out->nunsupported]) {
			rc = DC_NOMEM;
			goto out;
		}
		out->nunsupported++;
	}
	out->sentences = nsp;
	out->score = (double)out->nunsupported / (double)nsp;
out:
	if (rc != DC_OK)
		grounding_free(out);
	for (i = 0; src && i < nsources; i++)
		words_set_free(&src[i]);
	free(src);
	free(sp);
	return rc;
}

void grounding_free(struct grounding_result *r)
{
	size_t i;

	for (i = 0; i < r->nunsupported; i++)
		free(r->unsupported[i]);
	free(r->unsupported);
	memset(r, 0, sizeof(*r));
}
