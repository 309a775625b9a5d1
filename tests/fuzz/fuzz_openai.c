/* fuzz_openai.c - the OpenAI SSE stream parser (backend_openai.h) on any bytes a model
 * server could send.
 *
 * The input is a response body. It is parsed twice: in one piece, and cut into pieces
 * of 1 to 16 bytes chosen from the input itself, as a socket may deliver it. Checked:
 * both ways give the same tokens, result and error (a read may end anywhere); every
 * token is non-empty and valid UTF-8, so the answer reassembled from them is too; an
 * error has a cause that is valid UTF-8 and names the provider (it becomes an SSE
 * error event). For some inputs the token callback refuses a token, as when the client
 * has gone: the parse must stop there with the callback's code. */
#include "fuzz.h"

#include "backend_openai.h"
#include "buf.h"

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
static void parse(const uint8_t *data, size_t n, size_t stop_after, struct fuzz_rng *rng,
		  struct outcome *o)
{
	struct backend_cb cb = { on_token, on_tick, o };
	struct openai_parser p;
	size_t off = 0;

	memset(o, 0, sizeof *o);
	o->stop_after = stop_after;
	buf_init(&o->text, FUZZ_ANSWER_MAX);
	openai_parser_init(&p, &cb, &o->res);
	o->rc = DC_OK;
	while (off < n && o->rc == DC_OK) {
		size_t piece = rng ? 1 + fuzz_rng_next(rng) % FUZZ_MAX_PIECE : n;

		if (piece > n - off)
			piece = n - off;
		o->rc = openai_parser_feed(&p, (const char *)data + off, piece, o->err, sizeof o->err);
		off += piece;
	}
	if (o->rc == DC_OK)
		o->rc = openai_parser_finish(&p, o->err, sizeof o->err);
	openai_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome whole, cut;
	struct fuzz_rng rng;
	size_t stop_after;

	fuzz_rng_seed(&rng, data, size);
	/* One input in four has a client that leaves after its first few tokens. */
	stop_after = fuzz_rng_next(&rng) % 4 == 0 ? 1 + fuzz_rng_next(&rng) % 3 : 0;
	parse(data, size, stop_after, NULL, &whole);
	parse(data, size, stop_after, &rng, &cut);

	FUZZ_CHECK(fuzz_utf8_valid(buf_str(&whole.text), whole.text.len));
	FUZZ_CHECK((whole.rc == DC_HUP) == (stop_after && whole.ntokens == stop_after));
	if (whole.rc != DC_OK) {
		FUZZ_CHECK(whole.err[0] != '\0');
		FUZZ_CHECK(fuzz_utf8_valid(whole.err, strlen(whole.err)));
		FUZZ_CHECK(strncmp(whole.err, "openai: ", 8) == 0);
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
