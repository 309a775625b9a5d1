/* backend_extractive.h - the built-in offline backend (see backend_extractive.c). */
#ifndef DC_BACKEND_EXTRACTIVE_H
#define DC_BACKEND_EXTRACTIVE_H

#include "backend.h"
#include "buf.h"

/* Answer req->question from req->sources alone: the sentences that share the most words
 * with the question, quoted with [n] citations, streamed word by word through cb. Says
 * plainly when no source is relevant. */
/* The whole answer when no source is relevant. It makes no claim, so grounding checks
 * have nothing to verify in it. */
extern const char backend_extractive_no_answer[];

/* The composed answer, handed out a word at a time (for callers that pace it
 * themselves, such as relay.c). */
struct extractive_words {
	struct buf answer;
	size_t pos;		/* bytes handed out */
};

/* Compose req's answer into w (freed by backend_extractive_close, also after a
 * failure); res gets the prompt estimate and 0 completion tokens. */
enum dc_err backend_extractive_open(const struct backend_req *req,
				   struct backend_result *res, struct extractive_words *w,
				   char *err, size_t errlen);

/* Send the next word (with the space after it) through cb->token and count it in res.
 * *more is 0 once the answer is out. The token callback's non-OK result is returned. */
enum dc_err backend_extractive_next(struct extractive_words *w, const struct backend_cb *cb,
				   struct backend_result *res, int *more);

void backend_extractive_close(struct extractive_words *w);

/* The whole answer through cb, pausing delay_ms between words (blocking). */
enum dc_err backend_extractive_stream(const struct backend_req *req,
				      const struct backend_cb *cb,
				      struct backend_result *res, char *err, size_t errlen);

#endif
