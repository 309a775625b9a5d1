/* test_backend.c - unit tests of provider dispatch (src/backend.c): the provider list,
 * unknown providers, the result reset, the extractive model list, and an answer run
 * word by word (backend_run). The network backends are only reached with a config
 * that fails before any connection. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_extractive.h"
#include "buf.h"
#include "check.h"
#include "config.h"

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
	req.question = "hello";
	CHECK_INT(backend_stream(&cfg, &req, &cb, &res, err, sizeof(err)), DC_OK);
	CHECK_STR(buf_str(&text), backend_extractive_no_answer);
	CHECK_STR(res.finish_reason, "stop");
	CHECK_INT(res.prompt_tokens, 2);
	CHECK(res.completion_tokens > 1);
	buf_free(&text);
}

/* The same answer as a backend_run, one word per step: the words add up to the
 * blocking answer, the count matches, and a stop in the middle ends it "stopped". */
static void test_extractive_run_steps(void)
{
	static const struct backend_source src[] = {
		{ "The relay carries many answers on one thread.", "notes.md", 1.0 },
	};
	struct config cfg;
	struct backend_req req;
	struct backend_result res;
	struct backend_run *run = NULL;
	struct buf text;
	struct backend_cb cb = { on_token, on_tick, &text };
	char err[DC_ERRMAX];
	int more = 1, delay = -1, steps = 0;

	memset(&cfg, 0, sizeof(cfg));
	memset(&req, 0, sizeof(req));
	buf_init(&text, 4096);
	req.provider = "extractive";
	req.question = "What carries many answers?";
	req.sources = src;
	req.nsources = 1;
	req.delay_ms = 7;
	CHECK_INT(backend_run_open(&cfg, &req, &cb, &res, &run, err, sizeof(err)), DC_OK);
	CHECK(!backend_run_is_http(run));
	while (more && steps < 1000) {
		CHECK_INT(backend_run_step(run, &more, &delay), DC_OK);
		steps++;
	}
	CHECK_INT(delay, 7);
	CHECK_INT(backend_run_end(run), DC_OK);
	CHECK_STR(res.finish_reason, "stop");
	CHECK_INT(res.completion_tokens, steps);
	CHECK(strstr(buf_str(&text), "\"The relay carries many answers on one thread.\" [1]") != NULL);
	backend_run_free(run);

	buf_free(&text);
	buf_init(&text, 4096);
	CHECK_INT(backend_run_open(&cfg, &req, &cb, &res, &run, err, sizeof(err)), DC_OK);
	CHECK_INT(backend_run_step(run, &more, &delay), DC_OK);
	CHECK(more);
	backend_run_stop(run, DC_HUP);
	CHECK_INT(backend_run_step(run, &more, &delay), DC_OK);
	CHECK(!more);
	CHECK_INT(backend_run_end(run), DC_HUP);
	CHECK(strstr(err, "extractive: stopped") == err);
	CHECK_INT(res.completion_tokens, 1);
	backend_run_free(run);
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
	RUN(test_extractive_run_steps);
	RUN(test_network_backends_need_a_url);
	RUN(test_list_models);
	return check_summary();
}
