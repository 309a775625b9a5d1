/* backend_extractive.h - the built-in offline backend (see backend_extractive.c). */
#ifndef DC_BACKEND_EXTRACTIVE_H
#define DC_BACKEND_EXTRACTIVE_H

#include "backend.h"

/* Answer req->question from req->sources alone: the sentences that share the most words
 * with the question, quoted with [n] citations, streamed word by word through cb. Says
 * plainly when no source is relevant. */
enum dc_err backend_extractive_stream(const struct backend_req *req,
				      const struct backend_cb *cb,
				      struct backend_result *res, char *err, size_t errlen);

#endif
