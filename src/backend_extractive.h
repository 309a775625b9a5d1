/* backend_extractive.h - the built-in offline backend (see backend_extractive.c). */
#ifndef DC_BACKEND_EXTRACTIVE_H
#define DC_BACKEND_EXTRACTIVE_H

#include "backend.h"

/* Answer req->question from req->sources alone: the sentences that share the most words
 * with the question, quoted with [n] citations, streamed word by word through cb. Says
 * plainly when no source is relevant. */
/* The whole answer when no source is relevant. It makes no claim, so grounding checks
 * have nothing to verify in it. */
extern const char backend_extractive_no_answer[];

enum dc_err backend_extractive_stream(const struct backend_req *req,
				      const struct backend_cb *cb,
				      struct backend_result *res, char *err, size_t errlen);

#endif
