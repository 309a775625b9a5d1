/* check_stream.h - the checks both model stream parsers face in the fuzzers
 * (fuzz_openai.c, fuzz_ollama.c), through the interface the server drives them with.
 *
 * The backend's open function (backend.h's backend_http) prepares the parser for a
 * dummy request; the input is a response body fed to the request's data callback, then
 * the parser's finish. It is parsed twice: in one piece, and cut into pieces of 1 to 16
 * bytes chosen from the input itself, as a socket may deliver it. Checked: both ways
 * give the same tokens, result and error (a read may end anywhere); every token is
 * non-empty and valid UTF-8, so the answer reassembled from them is too; an error has a
 * cause that is valid UTF-8 and names the provider (it becomes an SSE error event). For
 * some inputs the token callback refuses a token, as when the client has gone: the
 * parse must stop there with the callback's code. */
#ifndef DC_FUZZ_CHECK_STREAM_H
#define DC_FUZZ_CHECK_STREAM_H

#include "fuzz.h"

#include "backend.h"
#include "buf.h"
#include "config.h"

typedef enum dc_err (*stream_open_fn)(const struct config *cfg, const struct backend_req *req,
				      const struct backend_cb *cb, struct backend_result *res,
				      struct backend_http *h, char *err, size_t errlen);

#define FUZZ_ANSWER_MAX (8 * 1024 * 1024)
#define FUZZ_MAX_PIECE 16

struct outcome {
	struct buf text;	/* the tokens, concatenated */
	size_t ntokens;
	size_t stop_after;	/* the token the callback refuses (0: none) */
	enum dc_err rc;
	char err[DC_ERRMAX];
	struct backend_result res;
};

static enum dc_err on_token(void *ud, const char *text, size_t len)
{
	struct outcome *o = ud;

	FUZZ_CHECK(len > 0);
	FUZZ_CHECK(fuzz_utf8_valid(text, len));
	if (++o->ntokens == o->stop_after)
		return DC_HUP;
	FUZZ_CHECK(buf_append(&o->text, text, len) == DC_OK);
	return DC_OK;
}

static enum dc_err on_tick(void *ud)
{
	(void)ud;
	return DC_OK;
}

/* Parse data[0..n), fed in pieces when rng is not NULL. */
static void parse(stream_open_fn open, const uint8_t *data, size_t n, size_t stop_after,
		  struct fuzz_rng *rng, struct outcome *o)
{
	static const struct backend_msg msg = { "user", "?" };
	struct backend_cb cb = { on_token, on_tick, o };
	struct backend_req req;
	struct config cfg;
	struct backend_http h;
	size_t off = 0;

	memset(o, 0, sizeof *o);
	memset(&cfg, 0, sizeof cfg);
	memset(&req, 0, sizeof req);
	cfg.openai_url = (char *)"http://127.0.0.1:9/v1";
	cfg.ollama_url = (char *)"http://127.0.0.1:9";
	req.model = "m";
	req.msgs = &msg;
	req.nmsgs = 1;
	req.temperature = -1;
	o->stop_after = stop_after;
	buf_init(&o->text, FUZZ_ANSWER_MAX);
	FUZZ_CHECK(open(&cfg, &req, &cb, &o->res, &h, o->err, sizeof o->err) == DC_OK);
	o->rc = DC_OK;
	while (off < n && o->rc == DC_OK) {
		size_t piece = rng ? 1 + fuzz_rng_next(rng) % FUZZ_MAX_PIECE : n;

		if (piece > n - off)
			piece = n - off;
		o->rc = h.hreq.data(h.hreq.data_ud, (const char *)data + off, piece, o->err,
				    sizeof o->err);
		off += piece;
	}
	if (o->rc == DC_OK)
		o->rc = h.finish(h.parser, o->err, sizeof o->err);
	backend_http_free(&h);
}

/* The whole check for one input; provider is the prefix every error must carry. */
static int check_stream(stream_open_fn open, const char *provider, const uint8_t *data,
			size_t size)
{
	struct outcome whole, cut;
	struct fuzz_rng rng;
	size_t stop_after;

	fuzz_rng_seed(&rng, data, size);
	/* One input in four has a client that leaves after its first few tokens. */
	stop_after = fuzz_rng_next(&rng) % 4 == 0 ? 1 + fuzz_rng_next(&rng) % 3 : 0;
	parse(open, data, size, stop_after, NULL, &whole);
	parse(open, data, size, stop_after, &rng, &cut);

	FUZZ_CHECK(fuzz_utf8_valid(buf_str(&whole.text), whole.text.len));
	FUZZ_CHECK((whole.rc == DC_HUP) == (stop_after && whole.ntokens == stop_after));
	if (whole.rc != DC_OK) {
		FUZZ_CHECK(whole.err[0] != '\0');
		FUZZ_CHECK(fuzz_utf8_valid(whole.err, strlen(whole.err)));
		FUZZ_CHECK(strncmp(whole.err, provider, strlen(provider)) == 0 &&
			   strncmp(whole.err + strlen(provider), ": ", 2) == 0);
	}
	FUZZ_CHECK(fuzz_utf8_valid(whole.res.finish_reason, strlen(whole.res.finish_reason)));
	FUZZ_CHECK(whole.res.prompt_tokens >= -1 && whole.res.completion_tokens >= -1);

	FUZZ_CHECK(whole.rc == cut.rc);
	FUZZ_CHECK(strcmp(whole.err, cut.err) == 0);
	FUZZ_CHECK(whole.ntokens == cut.ntokens);
	FUZZ_CHECK(whole.text.len == cut.text.len);
	FUZZ_CHECK(memcmp(buf_str(&whole.text), buf_str(&cut.text), whole.text.len) == 0);
	FUZZ_CHECK(strcmp(whole.res.finish_reason, cut.res.finish_reason) == 0);
	FUZZ_CHECK(whole.res.prompt_tokens == cut.res.prompt_tokens);
	FUZZ_CHECK(whole.res.completion_tokens == cut.res.completion_tokens);

	buf_free(&whole.text);
	buf_free(&cut.text);
	return 0;
}

#endif
