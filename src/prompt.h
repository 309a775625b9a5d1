/* prompt.h - assembling the messages sent to a model within a token budget.
 *
 * A grounded prompt is: the system prompt (which tells the model to answer from the
 * numbered sources and cite them as [1], [2]), the earlier turns of the session, and a
 * final user message holding the numbered sources followed by the question. When the
 * budget is short, the lowest-ranked sources go first, then the oldest turns; the
 * question and system prompt always stay. Tokens are estimated (about 4 bytes each).
 * Knows nothing of transport or storage. */
#ifndef DC_PROMPT_H
#define DC_PROMPT_H

#include <stddef.h>
#include "dc.h"
#include "backend.h"

struct buf;

struct prompt_source {
	const char *text;
	const char *document;	/* document name */
	const char *heading;	/* or NULL */
	int page;		/* 0 if not paged */
};

struct prompt_turn {
	const char *role;	/* "user" or "assistant" */
	const char *content;
};

struct prompt {
	struct backend_msg *msgs;	/* owned, contents too */
	size_t nmsgs;
	size_t sources_used;	/* the first sources_used sources made it in */
	size_t turns_used;	/* the last turns_used turns made it in */
	long est_tokens;	/* estimate for the whole prompt */
};

/* Estimated tokens of a string. */
long prompt_estimate_tokens(const char *s);

/* Build the prompt. grounded = 0 (search mode "none") leaves sources out and uses a plain
 * assistant system prompt. sources are best first; history is oldest first. A question
 * that alone exceeds the budget is DC_TOOBIG. out is freed with prompt_free. */
enum dc_err prompt_build(const char *system_prompt, int grounded,
			 const struct prompt_source *sources, size_t nsources,
			 const struct prompt_turn *history, size_t nhistory,
			 const char *question, long budget_tokens,
			 struct prompt *out, char *err, size_t errlen);
void prompt_free(struct prompt *p);

/* Append a human-readable rendering of every message ("--- system ---\n...") to out,
 * for `docchat ask --show-prompt`. */
enum dc_err prompt_format(const struct prompt *p, struct buf *out);

/* The default system prompt for grounded answers. */
extern const char prompt_default_system[];

#endif
