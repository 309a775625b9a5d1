/* test_backend.c - unit tests of provider dispatch (src/backend.c): the provider list,
 * unknown providers, the result reset, the extractive model list. The extractive
 * backend is replaced by a stand-in defined here, so this test does not depend on
 * backend_extractive.c; the network backends are only reached with a config that
 * fails before any connection. */
#include <stdlib.h>

#include "backend.h"
#include "backend_extractive.h"
#include "buf.h"
#include "check.h"
#include "config.h"

static int extractive_calls;

/* Stand-in: says one word and reports "stop" with no token counts. */
enum dc_err backend_extractive_stream(const struct backend_req *req,
				      const struct backend_cb *cb,
				      struct backend_result *res, char *err, size_t errlen)
{
	(void)req;
	(void)err;
	(void)errlen;
	extractive_calls++;
	snprintf(res->finish_reason, sizeof(res->finish_reason), "stop");
	return cb->token(cb->ud, "quoted", 6);
}

static enum dc_err on_token(void *ud, const char *text, size_t len)
{
	return buf_append(ud, text, len);
}

static enum dc_err on_tick(void *ud)
{
	(void)ud;
	return DC_OK;
}

static void test_providers_and_known(void)
{
	CHECK_STR(backend_providers[0], "openai");
	CHECK_STR(backend_providers[1], "ollama");
	CHECK_STR(backend_providers[2], "extractive");
	CHECK(backend_providers[3] == NULL);
	CHECK(backend_known("openai"));
	CHECK(backend_known("ollama"));
	CHECK(backend_known("extractive"));
	CHECK(!backend_known("OpenAI"));
	CHECK(!backend_known(""));
	CHECK(!backend_known(NULL));
}

static void test_unknown_provider_names_the_known_ones(void)
{
	struct config cfg;
	struct backend_req req;
	struct backend_result res;
	struct buf text;
	struct backend_cb cb = { on_token, on_tick, &text };
	char err[DC_ERRMAX];

	memset(&cfg, 0, sizeof(cfg));
	memset(&req, 0, sizeof(req));
	buf_init(&text, 1024);
	snprintf(res.finish_reason, sizeof(res.finish_reason), "junk");
	res.prompt_tokens = 5;
	res.completion_tokens = 5;
	req.provider = "gemini\n";
	CHECK_INT(backend_stream(&cfg, &req, &cb, &res, err, sizeof(err)), DC_BADREQ);
	CHECK_STR(err, "unknown provider 'gemini' (known: openai, ollama, extractive)");
	/* The result is reset even on failure. */
	CHECK_STR(res.finish_reason, "");
	CHECK_INT(res.prompt_tokens, -1);
	CHECK_INT(res.completion_tokens, -1);

	req.provider = NULL;
	CHECK_INT(backend_stream(&cfg, &req, &cb, &res, err, sizeof(err)), DC_BADREQ);
	CHECK_STR(err, "no provider was named (known: openai, ollama, extractive)");
	buf_free(&text);
}

static void test_extractive_is_dispatched(void)
{
	struct config cfg;
	struct backend_req req;
	struct backend_result res;
	struct buf text;
	struct backend_cb cb = { on_token, on_tick, &text };
	char err[DC_ERRMAX];

	memset(&cfg, 0, sizeof(cfg));
	memset(&req, 0, sizeof(req));
	buf_init(&text, 1024);
	req.provider = "extractive";
	extractive_calls = 0;
	CHECK_INT(backend_stream(&cfg, &req, &cb, &res, err, sizeof(err)), DC_OK);
	CHECK_INT(extractive_calls, 1);
	CHECK_STR(buf_str(&text), "quoted");
	CHECK_STR(res.finish_reason, "stop");
	CHECK_INT(res.prompt_tokens, -1);
	buf_free(&text);
}

static void test_network_backends_need_a_url(void)
{
	static const struct backend_msg msgs[] = { { "user", "hi" } };
	struct config cfg;
	struct backend_req req;
	struct backend_result res;
	struct buf text;
	struct backend_cb cb = { on_token, on_tick, &text };
	char err[DC_ERRMAX];

	memset(&cfg, 0, sizeof(cfg));
	memset(&req, 0, sizeof(req));
	buf_init(&text, 1024);
	req.model = "m";
	req.msgs = msgs;
	req.nmsgs = 1;
	req.provider = "openai";
	CHECK_INT(backend_stream(&cfg, &req, &cb, &res, err, sizeof(err)), DC_BADREQ);
	CHECK_STR(err, "openai: no server URL is configured (DOCCHAT_OPENAI_URL)");
	req.provider = "ollama";
	CHECK_INT(backend_stream(&cfg, &req, &cb, &res, err, sizeof(err)), DC_BADREQ);
	CHECK_STR(err, "ollama: no server URL is configured (DOCCHAT_OLLAMA_URL)");
	buf_free(&text);
}

static void test_list_models(void)
{
	struct config cfg;
	char **names, err[DC_ERRMAX];
	size_t n;

	memset(&cfg, 0, sizeof(cfg));
	CHECK_INT(backend_list_models(&cfg, "extractive", &names, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK_STR(names[0], "extractive");
	backend_names_free(names, n);

	CHECK_INT(backend_list_models(&cfg, "nope", &names, &n, err, sizeof(err)), DC_BADREQ);
	CHECK_STR(err, "unknown provider 'nope' (known: openai, ollama, extractive)");
	CHECK(names == NULL);
	CHECK_INT(n, 0);

	CHECK_INT(backend_list_models(&cfg, "ollama", &names, &n, err, sizeof(err)), DC_BADREQ);
	CHECK_STR(err, "ollama: no server URL is configured (DOCCHAT_OLLAMA_URL)");
	backend_names_free(NULL, 0);
}

int main(void)
{
	RUN(test_providers_and_known);
	RUN(test_unknown_provider_names_the_known_ones);
	RUN(test_extractive_is_dispatched);
	RUN(test_network_backends_need_a_url);
	RUN(test_list_models);
	return check_summary();
}
