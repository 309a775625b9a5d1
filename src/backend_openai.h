/* backend_openai.h - OpenAI-compatible model servers: POST /chat/completions as SSE.
 *
 * backend.c calls backend_openai_stream and backend_openai_list_models. The request
 * body builder, the stream parser and the model list parser are exposed so that unit
 * tests can feed them the wire format directly, split anywhere. */
#ifndef DC_BACKEND_OPENAI_H
#define DC_BACKEND_OPENAI_H

#include <stddef.h>
#include "backend.h"
#include "buf.h"
#include "lines.h"

#define OPENAI_LINE_MAX (1024 * 1024)	/* longest SSE line or event accepted */

/* The state of one streamed answer. Fields are private to backend_openai.c. */
struct openai_parser {
	struct lines lines;
	struct buf data;	/* the data of the SSE event being read */
	int has_data;		/* a data field was seen since the last dispatch */
	int done;		/* "data: [DONE]" was seen */
	int finished;		/* a finish_reason was seen */
	int failed;		/* a line's handler failed and wrote err itself */
	const struct backend_cb *cb;
	struct backend_result *res;
	char *err;		/* the caller's error buffer during a feed */
	size_t errlen;
};

/* Start parsing one answer; tokens go to cb->token, usage and finish_reason to res,
 * which is reset here (finish_reason "", token counts -1). cb and res must outlive
 * the parser. Allocates nothing until fed. */
void openai_parser_init(struct openai_parser *p, const struct backend_cb *cb,
			       struct backend_result *res);

/* Feed n bytes of the response body exactly as they arrived. Returns DC_OK, the token
 * callback's code (err reads "openai: stopped: ..."), or DC_UPSTREAM with err:
 * "openai: <the server's error message>", "openai: malformed data from the model
 * server: <excerpt>", "openai: a line from the model server exceeds 1 MiB", or
 * "openai: the model server sent text that is not valid UTF-8". After an error the
 * parser must only be freed. */
enum dc_err openai_parser_feed(struct openai_parser *p, const char *data, size_t n,
			       char *err, size_t errlen);

/* End of the body: handles a last unterminated line, then DC_OK if "[DONE]" or a
 * finish_reason was seen, else DC_UPSTREAM "openai: the model server closed the
 * stream before the answer was complete". */
enum dc_err openai_parser_finish(struct openai_parser *p, char *err, size_t errlen);

void openai_parser_free(struct openai_parser *p);

/* Append the JSON request body for req to out: model, messages, stream:true,
 * stream_options.include_usage, and temperature / max_tokens when set. DC_BADREQ
 * if the model or a message's role is missing; DC_NOMEM. */
enum dc_err openai_body_build(const struct backend_req *req, struct buf *out,
			      char *err, size_t errlen);

/* Parse a GET /models reply ({"data":[{"id":...},...]}) into names (see
 * backend_list_models for ownership). DC_UPSTREAM if it has no such list. */
enum dc_err openai_models_parse(const char *body, size_t len, char ***names, size_t *n,
				char *err, size_t errlen);

/* Prepare provider "openai"'s answer in h (see backend.h): POST
 * {cfg->openai_url}/chat/completions with "Authorization: Bearer" cfg->openai_key when
 * the key is set. The key never appears in err. h is freed with backend_http_free,
 * also after a failure. */
enum dc_err backend_openai_open(const struct config *cfg, const struct backend_req *req,
				const struct backend_cb *cb, struct backend_result *res,
				struct backend_http *h, char *err, size_t errlen);

/* backend_list_models for "openai": GET {cfg->openai_url}/models, data[].id. */
enum dc_err backend_openai_list_models(const struct config *cfg, char ***names, size_t *n,
				       char *err, size_t errlen);

#endif
