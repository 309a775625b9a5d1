/* backend_ollama.h - Ollama model servers: POST /api/chat streamed as NDJSON.
 *
 * backend.c calls backend_ollama_open and backend_ollama_list_models. The request
 * body builder, the stream parser and the model list parser are exposed so that unit
 * tests can feed them the wire format directly, split anywhere. */
#ifndef DC_BACKEND_OLLAMA_H
#define DC_BACKEND_OLLAMA_H

#include <stddef.h>
#include "backend.h"
#include "buf.h"
#include "lines.h"

#define OLLAMA_LINE_MAX (1024 * 1024)	/* longest NDJSON line accepted */

/* The state of one streamed answer. Fields are private to backend_ollama.c. */
struct ollama_parser {
	struct lines lines;
	int done;		/* a line with "done":true was seen */
	int failed;		/* a line's handler failed and wrote err itself */
	const struct backend_cb *cb;
	struct backend_result *res;
	char *err;		/* the caller's error buffer during a feed */
	size_t errlen;
};

/* Start parsing one answer; tokens go to cb->token, done_reason and the token counts
 * (prompt_eval_count, eval_count) to res, which is reset here (finish_reason "",
 * counts -1). cb and res must outlive the parser. Allocates nothing until fed. */
void ollama_parser_init(struct ollama_parser *p, const struct backend_cb *cb,
			struct backend_result *res);

/* Feed n bytes of the response body exactly as they arrived. Returns DC_OK, the token
 * callback's code (err reads "ollama: stopped: ..."), or DC_UPSTREAM with err:
 * "ollama: <the server's error>", "ollama: malformed data from the model server:
 * <excerpt>", "ollama: a line from the model server exceeds 1 MiB", or "ollama: the
 * model server sent text that is not valid UTF-8". After an error the parser must
 * only be freed. */
enum dc_err ollama_parser_feed(struct ollama_parser *p, const char *data, size_t n,
			       char *err, size_t errlen);

/* End of the body: handles a last unterminated line, then DC_OK if a "done":true line
 * was seen, else DC_UPSTREAM "ollama: the model server closed the stream before the
 * answer was complete". */
enum dc_err ollama_parser_finish(struct ollama_parser *p, char *err, size_t errlen);

void ollama_parser_free(struct ollama_parser *p);

/* Append the JSON request body for req to out: model, messages, stream:true, and
 * options.temperature / options.num_predict when set. DC_BADREQ if the model or a
 * message's role is missing; DC_NOMEM. */
enum dc_err ollama_body_build(const struct backend_req *req, struct buf *out,
			      char *err, size_t errlen);

/* Parse a GET /api/tags reply ({"models":[{"name":...},...]}) into names (see
 * backend_list_models for ownership). DC_UPSTREAM if it has no such list. */
enum dc_err ollama_models_parse(const char *body, size_t len, char ***names, size_t *n,
				char *err, size_t errlen);

/* Prepare provider "ollama"'s answer in h (see backend.h): POST
 * {cfg->ollama_url}/api/chat. h is freed with backend_http_free, also after a failure. */
enum dc_err backend_ollama_open(const struct config *cfg, const struct backend_req *req,
				const struct backend_cb *cb, struct backend_result *res,
				struct backend_http *h, char *err, size_t errlen);

/* backend_list_models for "ollama": GET {cfg->ollama_url}/api/tags, models[].name. */
enum dc_err backend_ollama_list_models(const struct config *cfg, char ***names, size_t *n,
				       char *err, size_t errlen);

#endif
