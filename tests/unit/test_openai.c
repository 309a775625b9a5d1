/* test_openai.c - unit tests of the OpenAI-compatible backend's wire handling
 * (src/backend_openai.c): the SSE stream parser fed real-shaped chat.completion.chunk
 * streams cut at every byte, with LF and CRLF line ends and multi-byte UTF-8; every
 * error the parser reports; the request body; the model list. No network here (see
 * test_http_stream.c for the transport). */
#include <stdlib.h>

#include "backend_openai.h"
#include "check.h"

#define TEXT_MAX (4 * 1024 * 1024)

/* What one parse produced. */
struct run {
	struct buf text;	/* the tokens, concatenated */
	int tokens;
	int hup_at;		/* the token callback returns DC_HUP on this token, 0: never */
	struct backend_result res;
	char err[DC_ERRMAX];
	enum dc_err rc;
};

static enum dc_err on_token(void *ud, const char *text, size_t len)
{
	struct run *r = ud;

	r->tokens++;
	if (len == 0)
		return DC_SYSTEM;	/* the contract: never empty */
	if (r->hup_at && r->tokens == r->hup_at)
		return DC_HUP;
	return buf_append(&r->text, text, len);
}

static enum dc_err on_tick(void *ud)
{
	(void)ud;
	return DC_OK;
}

/* Parse s (n bytes) fed in pieces ending at the given offsets, then the rest, then
 * finish. r must be set up with run_init. */
static void run_cuts(struct run *r, const char *s, size_t n, const size_t *cuts, size_t ncuts)
{
	struct backend_cb cb = { on_token, on_tick, r };
	struct openai_parser p;
	size_t i, at = 0;

	openai_parser_init(&p, &cb, &r->res);
	r->rc = DC_OK;
	for (i = 0; i < ncuts && r->rc == DC_OK; i++) {
		r->rc = openai_parser_feed(&p, s + at, cuts[i] - at, r->err, sizeof(r->err));
		at = cuts[i];
	}
	if (r->rc == DC_OK && at < n)
		r->rc = openai_parser_feed(&p, s + at, n - at, r->err, sizeof(r->err));
	if (r->rc == DC_OK)
		r->rc = openai_parser_finish(&p, r->err, sizeof(r->err));
	openai_parser_free(&p);
}

static void run_init(struct run *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->text, TEXT_MAX);
	snprintf(r->err, sizeof(r->err), "(unset)");
}

/* Parse s fed whole. */
static void run_whole(struct run *r, const char *s)
{
	run_init(r);
	run_cuts(r, s, strlen(s), NULL, 0);
}

/* Join lines with eol (after every line). */
static void join(const char *const *lines, const char *eol, struct buf *out)
{
	size_t i;

	buf_init(out, TEXT_MAX);
	for (i = 0; lines[i]; i++) {
		buf_appends(out, lines[i]);
		buf_appends(out, eol);
	}
}

/* Check one finished parse against what is wanted. */
static void check_run(const struct run *r, enum dc_err rc, const char *text,
		      const char *reason, long prompt, long completion)
{
	CHECK_INT(r->rc, rc);
	CHECK_STR(buf_str(&r->text), text);
	CHECK_STR(r->res.finish_reason, reason);
	CHECK_INT(r->res.prompt_tokens, prompt);
	CHECK_INT(r->res.completion_tokens, completion);
}

/* Parse s whole, cut in two at every position, and one byte per feed; every way must
 * give the same outcome. */
static void check_every_split(const char *s, const char *text, const char *reason,
			      long prompt, long completion)
{
	size_t n = strlen(s), cut, *bytes;
	struct run r;

	for (cut = 0; cut <= n; cut++) {
		run_init(&r);
		run_cuts(&r, s, n, &cut, 1);
		check_run(&r, DC_OK, text, reason, prompt, completion);
		buf_free(&r.text);
		if (check_failed_now) {
			printf("  (cut at byte %zu)\n", cut);
			return;
		}
	}
	bytes = malloc(n * sizeof(*bytes) + 1);
	for (cut = 0; cut < n; cut++)
		bytes[cut] = cut + 1;
	run_init(&r);
	run_cuts(&r, s, n, bytes, n);
	check_run(&r, DC_OK, text, reason, prompt, completion);
	buf_free(&r.text);
	free(bytes);
}

/* A stream as api.openai.com sends it with stream_options.include_usage: a role-only
 * first delta with empty content, content deltas (escaped and raw UTF-8, an emoji as
 * a surrogate pair and raw), a content:null delta, a finish_reason chunk, the usage
 * chunk with empty choices, [DONE]. */
static const char *const openai_stream[] = {
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
	"\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_1\",\"choices\":[{\"index\":0,"
	"\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,"
	"\"finish_reason\":null}],\"usage\":null}",
	"",
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
	"\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_1\",\"choices\":[{\"index\":0,"
	"\"delta\":{\"content\":\"Hel\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
	"",
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
	"\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_1\",\"choices\":[{\"index\":0,"
	"\"delta\":{\"content\":\"lo, caf\\u00e9 \"},\"logprobs\":null,\"finish_reason\":null}],"
	"\"usage\":null}",
	"",
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
	"\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_1\",\"choices\":[{\"index\":0,"
	"\"delta\":{\"content\":\"\xe6\x97\xa5\xe6\x9c\xac \\ud83d\\ude00\"},\"logprobs\":null,"
	"\"finish_reason\":null}],\"usage\":null}",
	"",
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
	"\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_1\",\"choices\":[{\"index\":0,"
	"\"delta\":{\"content\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
	"",
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
	"\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_1\",\"choices\":[{\"index\":0,"
	"\"delta\":{\"content\":\"\xf0\x9f\x98\x80!\"},\"logprobs\":null,\"finish_reason\":null}],"
	"\"usage\":null}",
	"",
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
	"\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_1\",\"choices\":[{\"index\":0,"
	"\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}",
	"",
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
	"\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_1\",\"choices\":[],"
	"\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":7,\"total_tokens\":19}}",
	"",
	"data: [DONE]",
	"",
	NULL
};

#define OPENAI_TEXT "Hello, caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\xf0\x9f\x98\x80!"

/* The same answer as a compatible server (vLLM, llama.cpp, OpenRouter) may frame it:
 * comments, event/id/retry fields, "data:" without the space, usage in the finish
 * chunk, no blank line after [DONE]. */
static const char *const compat_stream[] = {
	": OPENROUTER PROCESSING",
	"",
	"retry: 3000",
	"id: 1",
	"event: message",
	"data:{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
	"\"delta\":{\"role\":\"assistant\"},\"finish_reason\":null}]}",
	"",
	"id: 2",
	"data:{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
	"\"delta\":{\"content\":\"\xc3\xa9t\xc3\xa9 \"},\"finish_reason\":null}]}",
	"",
	": ping",
	"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
	"\"delta\":{\"content\":\"\xe6\x97\xa5\xe6\x9c\xac\"},\"finish_reason\":\"length\"}],"
	"\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}",
	"",
	"data:[DONE]",
	NULL
};

static void test_openai_stream_lf_every_split(void)
{
	struct buf s;

	join(openai_stream, "\n", &s);
	check_every_split(buf_str(&s), OPENAI_TEXT, "stop", 12, 7);
	buf_free(&s);
}

static void test_openai_stream_crlf_every_split(void)
{
	struct buf s;

	join(openai_stream, "\r\n", &s);
	check_every_split(buf_str(&s), OPENAI_TEXT, "stop", 12, 7);
	buf_free(&s);
}

static void test_openai_stream_token_count(void)
{
	struct buf s;
	struct run r;

	join(openai_stream, "\n", &s);
	run_whole(&r, buf_str(&s));
	check_run(&r, DC_OK, OPENAI_TEXT, "stop", 12, 7);
	/* Empty and null contents give no token. */
	CHECK_INT(r.tokens, 4);
	buf_free(&r.text);
	buf_free(&s);
}

static void test_compat_stream_fields_and_comments(void)
{
	struct buf s;

	join(compat_stream, "\n", &s);
	check_every_split(buf_str(&s), "\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", "length", 3, 2);
	buf_free(&s);
	join(compat_stream, "\r\n", &s);
	check_every_split(buf_str(&s), "\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", "length", 3, 2);
	buf_free(&s);
}

static void test_event_split_over_two_data_lines(void)
{
	struct run r;

	run_whole(&r, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\n"
		      "data: \"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
	check_run(&r, DC_OK, "a", "stop", -1, -1);
	buf_free(&r.text);
}

static void test_last_event_without_blank_line_counts(void)
{
	struct run r;

	run_whole(&r, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},"
		      "\"finish_reason\":\"stop\"}]}");
	check_run(&r, DC_OK, "x", "stop", -1, -1);
	buf_free(&r.text);
}

static void test_refusal_text_is_the_answer(void)
{
	struct run r;

	run_whole(&r, "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
		      "\"content\":null,\"refusal\":\"\"},\"finish_reason\":null}]}\n\n"
		      "data: {\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"I can't \"},"
		      "\"finish_reason\":null}]}\n\n"
		      "data: {\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"help.\"},"
		      "\"finish_reason\":null}]}\n\n"
		      "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}"
		      "\n\ndata: [DONE]\n\n");
	check_run(&r, DC_OK, "I can't help.", "stop", -1, -1);
	buf_free(&r.text);
}

static void test_nothing_after_done_counts(void)
{
	struct run r;

	run_whole(&r, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"
		      "data: [DONE]\n\n"
		      "data: {\"choices\":[{\"delta\":{\"content\":\"late\"}}]}\n\n"
		      "data: not json\n\n");
	check_run(&r, DC_OK, "x", "", -1, -1);
	buf_free(&r.text);
}

static void test_finish_reason_without_done_is_complete(void)
{
	struct run r;

	run_whole(&r, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},"
		      "\"finish_reason\":null}]}\n\n"
		      "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
	check_run(&r, DC_OK, "x", "stop", -1, -1);
	buf_free(&r.text);
}

static void test_early_close_is_an_error(void)
{
	struct run r;

	run_whole(&r, "data: {\"choices\":[{\"delta\":{\"content\":\"Hal\"},"
		      "\"finish_reason\":null}]}\n\n: ping\n\n");
	check_run(&r, DC_UPSTREAM, "Hal", "", -1, -1);
	CHECK_STR(r.err, "openai: the model server closed the stream before the answer was "
		  "complete");
	buf_free(&r.text);

	/* A half line then the close. */
	run_whole(&r, "data: {\"choices\":[{\"delta\":{\"content\":\"Hal\"}}]}\n\ndata: {\"cho");
	CHECK_INT(r.rc, DC_UPSTREAM);
	CHECK_STR(r.err, "openai: malformed data from the model server: {\"cho");
	buf_free(&r.text);

	/* Nothing at all. */
	run_whole(&r, "");
	CHECK_INT(r.rc, DC_UPSTREAM);
	CHECK_STR(r.err, "openai: the model server closed the stream before the answer was "
		  "complete");
	buf_free(&r.text);
}

static void test_error_object_in_stream(void)
{
	struct run r;

	run_whole(&r, "data: {\"choices\":[{\"delta\":{\"content\":\"Par\"}}]}\n\n"
		      "data: {\"error\":{\"message\":\"The server had an error while processing "
		      "your request. Sorry about that!\",\"type\":\"server_error\",\"param\":null,"
		      "\"code\":null}}\n\n");
	CHECK_INT(r.rc, DC_UPSTREAM);
	CHECK_STR(r.err, "openai: The server had an error while processing your request. "
		  "Sorry about that!");
	CHECK_STR(buf_str(&r.text), "Par");
	buf_free(&r.text);

	/* A string error, and one split across feeds in CRLF. */
	run_whole(&r, "data: {\"error\":\"rate limited\"}\r\n\r\n");
	CHECK_INT(r.rc, DC_UPSTREAM);
	CHECK_STR(r.err, "openai: rate limited");
	buf_free(&r.text);
}

static void test_bare_json_error_line(void)
{
	struct run r;

	run_whole(&r, "{\"error\":{\"message\":\"model 'nope' not found\",\"type\":"
		      "\"invalid_request_error\",\"code\":\"model_not_found\"}}\n");
	CHECK_INT(r.rc, DC_UPSTREAM);
	CHECK_STR(r.err, "openai: model 'nope' not found");
	buf_free(&r.text);
}

static void test_error_message_is_sanitized(void)
{
	struct run r;

	run_whole(&r, "data: {\"error\":{\"message\":\"line one\\nline\\ttwo\\u0007  \"}}\n\n");
	CHECK_INT(r.rc, DC_UPSTREAM);
	CHECK_STR(r.err, "openai: line one line two");
	buf_free(&r.text);
}

static void test_malformed_json_line(void)
{
	struct run r;

	run_whole(&r, "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{\"content\":\"x\"}\n\n");
	CHECK_INT(r.rc, DC_UPSTREAM);
	CHECK_STR(r.err, "openai: malformed data from the model server: "
		  "{\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{\"content\":\"x\"}");
	buf_free(&r.text);

	/* Valid JSON followed by garbage, a non-object, wrong member types. */
	run_whole(&r, "data: {\"choices\":[]} trailing\n\n");
	CHECK_STR(r.err, "openai: malformed data from the model server: {\"choices\":[]} trailing");
	buf_free(&r.text);
	run_whole(&r, "data: [1,2]\n\n");
	CHECK_STR(r.err, "openai: malformed data from the model server: [1,2]");
	buf_free(&r.text);
	run_whole(&r, "data: {\"choices\":{\"delta\":{}}}\n\n");
	CHECK_STR(r.err, "openai: malformed data from the model server: {\"choices\":{\"delta\":{}}}");
	buf_free(&r.text);
	run_whole(&r, "data: {\"choices\":[{\"delta\":{\"content\":5}}]}\n\n");
	CHECK_INT(r.rc, DC_UPSTREAM);
	CHECK_STR(r.err, "openai: malformed data from the model server: "
		  "{\"choices\":[{\"delta\":{\"content\":5}}]}");
	buf_free(&r.text);
}

static void test_malformed_excerpt_is_short(void)
{
	struct buf s;
	struct run r;
	size_t i;

	buf_init(&s, TEXT_MAX);
	buf_appends(&s, "data: {");
	for (i = 0; i < 300; i++)
		buf_appends(&s, "\xc3\xa9");	/* a 2-byte character: the cut must not split it */
	buf_appends(&s, "\n\n");
	run_whole(&r, buf_str(&s));
	CHECK_INT(r.rc, DC_UPSTREAM);
	/* 100 bytes at most: "{" + 48 x "é" (97 bytes) + "..." */
	CHECK_INT(strlen(r.err), strlen("openai: malformed data from the model server: ") + 100);
	CHECK(strncmp(r.err, "openai: malformed data from the model server: {\xc3\xa9\xc3\xa9",
		      strlen("openai: malformed data from the model server: {\xc3\xa9\xc3\xa9")) == 0);
	CHECK_STR(r.err + strlen(r.err) - 5, "\xc3\xa9...");
	buf_free(&r.text);
	buf_free(&s);
}

static void test_line_over_one_mib(void)
{
	struct openai_parser p;
	struct run r;
	struct backend_cb cb = { on_token, on_tick, &r };
	char *big;
	size_t n = OPENAI_LINE_MAX + 1;

	run_init(&r);
	big = malloc(n);
	memcpy(big, "data: \"", 7);
	memset(big + 7, 'a', n - 7);
	openai_parser_init(&p, &cb, &r.res);
	/* No line end yet: the byte past 1 MiB must fail by itself. */
	CHECK_INT(openai_parser_feed(&p, big, n - 1, r.err, sizeof(r.err)), DC_OK);
	CHECK_INT(openai_parser_feed(&p, big, 1, r.err, sizeof(r.err)), DC_UPSTREAM);
	CHECK_STR(r.err, "openai: a line from the model server exceeds 1 MiB");
	openai_parser_free(&p);
	free(big);
	buf_free(&r.text);
}

static void test_invalid_utf8_text_is_rejected(void)
{
	struct run r;

	run_whole(&r, "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n"
		      "data: {\"choices\":[{\"delta\":{\"content\":\"bad \xff\xfe\"}}]}\n\n");
	CHECK_INT(r.rc, DC_UPSTREAM);
	CHECK_STR(r.err, "openai: the model server sent text that is not valid UTF-8");
	CHECK_STR(buf_str(&r.text), "ok");
	buf_free(&r.text);

	/* An overlong form and a UTF-16 surrogate written as UTF-8 bytes. */
	run_whole(&r, "data: {\"choices\":[{\"delta\":{\"content\":\"\xc0\xaf\"}}]}\n\n");
	CHECK_STR(r.err, "openai: the model server sent text that is not valid UTF-8");
	buf_free(&r.text);
	run_whole(&r, "data: {\"choices\":[{\"delta\":{\"content\":\"\xed\xa0\x80\"}}]}\n\n");
	CHECK_STR(r.err, "openai: the model server sent text that is not valid UTF-8");
	buf_free(&r.text);
}

static void test_token_callback_stop_is_returned(void)
{
	struct buf s;
	struct run r;

	join(openai_stream, "\n", &s);
	run_init(&r);
	r.hup_at = 2;
	run_cuts(&r, buf_str(&s), s.len, NULL, 0);
	CHECK_INT(r.rc, DC_HUP);
	CHECK_STR(r.err, "openai: stopped: client went away");
	CHECK_STR(buf_str(&r.text), "Hel");
	CHECK_INT(r.tokens, 2);
	buf_free(&r.text);
	buf_free(&s);
}

static void test_body_with_all_fields(void)
{
	static const struct backend_msg msgs[] = {
		{ "system", "Answer from the sources." },
		{ "user", "Qu'est-ce que \"docchat\"? \xc3\xa9 a/b\n" },
	};
	struct backend_req req;
	struct buf b;
	char err[DC_ERRMAX];

	memset(&req, 0, sizeof(req));
	req.provider = "openai";
	req.model = "gpt-4o-mini";
	req.msgs = msgs;
	req.nmsgs = 2;
	req.temperature = 0.2;
	req.max_tokens = 256;
	buf_init(&b, TEXT_MAX);
	CHECK_INT(openai_body_build(&req, &b, err, sizeof(err)), DC_OK);
	CHECK_STR(buf_str(&b), "{\"model\":\"gpt-4o-mini\",\"messages\":["
		  "{\"role\":\"system\",\"content\":\"Answer from the sources.\"},"
		  "{\"role\":\"user\",\"content\":\"Qu'est-ce que \\\"docchat\\\"? \xc3\xa9 a/b\\n\"}],"
		  "\"stream\":true,\"stream_options\":{\"include_usage\":true},"
		  "\"temperature\":0.2,\"max_tokens\":256}");
	buf_free(&b);
}

static void test_body_leaves_unset_options_out(void)
{
	static const struct backend_msg msgs[] = { { "user", "hi" } };
	struct backend_req req;
	struct buf b;
	char err[DC_ERRMAX];

	memset(&req, 0, sizeof(req));
	req.model = "m";
	req.msgs = msgs;
	req.nmsgs = 1;
	req.temperature = -1;
	req.max_tokens = 0;
	buf_init(&b, TEXT_MAX);
	CHECK_INT(openai_body_build(&req, &b, err, sizeof(err)), DC_OK);
	CHECK_STR(buf_str(&b), "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
		  "\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
	buf_free(&b);

	req.temperature = 0;
	CHECK_INT(openai_body_build(&req, &b, err, sizeof(err)), DC_OK);
	CHECK(strstr(buf_str(&b), ",\"temperature\":0}") != NULL);
	buf_free(&b);
}

static void test_body_needs_model_and_roles(void)
{
	static const struct backend_msg msgs[] = { { "user", "hi" }, { NULL, "x" } };
	struct backend_req req;
	struct buf b;
	char err[DC_ERRMAX];

	memset(&req, 0, sizeof(req));
	req.msgs = msgs;
	req.nmsgs = 2;
	buf_init(&b, TEXT_MAX);
	CHECK_INT(openai_body_build(&req, &b, err, sizeof(err)), DC_BADREQ);
	CHECK_STR(err, "openai: no model was named");
	req.model = "m";
	CHECK_INT(openai_body_build(&req, &b, err, sizeof(err)), DC_BADREQ);
	CHECK_STR(err, "openai: message 2 has no role");
	CHECK_INT(b.len, 0);
	buf_free(&b);
}

static void test_models_list_parsed_and_sorted(void)
{
	static const char body[] =
		"{\"object\":\"list\",\"data\":["
		"{\"id\":\"gpt-4o-mini\",\"object\":\"model\",\"created\":1721172741,\"owned_by\":\"system\"},"
		"{\"id\":\"gpt-4o\",\"object\":\"model\",\"created\":1715367049,\"owned_by\":\"system\"},"
		"{\"object\":\"model\"},"
		"{\"id\":\"dall-e-3\",\"object\":\"model\",\"created\":1698785189,\"owned_by\":\"system\"}]}\n";
	char **names;
	size_t n;
	char err[DC_ERRMAX];

	CHECK_INT(openai_models_parse(body, strlen(body), &names, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 3);
	if (n == 3) {
		CHECK_STR(names[0], "dall-e-3");
		CHECK_STR(names[1], "gpt-4o");
		CHECK_STR(names[2], "gpt-4o-mini");
	}
	while (n > 0)
		free(names[--n]);
	free(names);
}

static void test_models_list_malformed(void)
{
	static const char body[] = "{\"object\":\"list\",\"models\":[]}";
	char **names;
	size_t n;
	char err[DC_ERRMAX];

	CHECK_INT(openai_models_parse(body, strlen(body), &names, &n, err, sizeof(err)),
		  DC_UPSTREAM);
	CHECK_STR(err, "openai: the model list from the model server is malformed: "
		  "{\"object\":\"list\",\"models\":[]}");
	CHECK(names == NULL);
	CHECK_INT(n, 0);
}

int main(void)
{
	RUN(test_openai_stream_lf_every_split);
	RUN(test_openai_stream_crlf_every_split);
	RUN(test_openai_stream_token_count);
	RUN(test_compat_stream_fields_and_comments);
	RUN(test_event_split_over_two_data_lines);
	RUN(test_last_event_without_blank_line_counts);
	RUN(test_refusal_text_is_the_answer);
	RUN(test_nothing_after_done_counts);
	RUN(test_finish_reason_without_done_is_complete);
	RUN(test_early_close_is_an_error);
	RUN(test_error_object_in_stream);
	RUN(test_bare_json_error_line);
	RUN(test_error_message_is_sanitized);
	RUN(test_malformed_json_line);
	RUN(test_malformed_excerpt_is_short);
	RUN(test_line_over_one_mib);
	RUN(test_invalid_utf8_text_is_rejected);
	RUN(test_token_callback_stop_is_returned);
	RUN(test_body_with_all_fields);
	RUN(test_body_leaves_unset_options_out);
	RUN(test_body_needs_model_and_roles);
	RUN(test_models_list_parsed_and_sorted);
	RUN(test_models_list_malformed);
	return check_summary();
}
