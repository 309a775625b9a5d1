/* test_ollama.c - unit tests of the Ollama backend's wire handling
 * (src/backend_ollama.c): the NDJSON parser fed real-shaped /api/chat streams cut at
 * every byte, with LF and CRLF line ends and multi-byte UTF-8; every error the parser
 * reports; the request body; the model list. No network here (see
 * test_http_stream.c for the transport). */
#include <stdlib.h>

#include "backend_ollama.h"
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

static void run_init(struct run *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->text, TEXT_MAX);
	snprintf(r->err, sizeof(r->err), "(unset)");
}

/* Parse s (n bytes) fed in pieces ending at the given offsets, then the rest, then
 * finish. */
static void run_cuts(struct run *r, const char *s, size_t n, const size_t *cuts, size_t ncuts)
{
	struct backend_cb cb = { on_token, on_tick, r };
	struct ollama_parser p;
	size_t i, at = 0;

	ollama_parser_init(&p, &cb, &r->res);
	r->rc = DC_OK;
	for (i = 0; i < ncuts && r->rc == DC_OK; i++) {
		r->rc = ollama_parser_feed(&p, s + at, cuts[i] - at, r->err, sizeof(r->err));
		at = cuts[i];
	}
	if (r->rc == DC_OK && at < n)
		r->rc = ollama_parser_feed(&p, s + at, n - at, r->err, sizeof(r->err));
	if (r->rc == DC_OK)
		r->rc = ollama_parser_finish(&p, r->err, sizeof(r->err));
	ollama_parser_free(&p);
}

static void run_whole(struct run *r, const char *s)
{
	run_init(r);
	run_cuts(r, s, strlen(s), NULL, 0);
}

static void join(const char *const *lines, const char *eol, struct buf *out)
{
	size_t i;

	buf_init(out, TEXT_MAX);
	for (i = 0; lines[i]; i++) {
		buf_appends(out, lines[i]);
		buf_appends(out, eol);
	}
}

static void check_run(const struct run *r, enum dc_err rc, const char *text,
		      const char *reason, long prompt, long completion)
{
	CHECK_INT(r->rc, rc);
	CHECK_STR(buf_str(&r->text), text);
	CHECK_STR(r->res.finish_reason, reason);
	CHECK_INT(r->res.prompt_tokens, prompt);
	CHECK_INT(r->res.completion_tokens, completion);
}

/* Parse s whole, cut in two at every position, and one byte per feed. */
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

/* /api/chat as Ollama 0.x streams it: Go's encoder keeps UTF-8 raw and writes "<", ">"
 * and "&" as \u003c, \u003e, \u0026; the last line has empty content, done_reason and
 * the counts. */
static const char *const ollama_stream[] = {
	"{\"model\":\"llama3.2\",\"created_at\":\"2024-11-20T10:00:00.1Z\",\"message\":"
	"{\"role\":\"assistant\",\"content\":\"Hel\"},\"done\":false}",
	"{\"model\":\"llama3.2\",\"created_at\":\"2024-11-20T10:00:00.2Z\",\"message\":"
	"{\"role\":\"assistant\",\"content\":\"lo, caf\xc3\xa9 \"},\"done\":false}",
	"{\"model\":\"llama3.2\",\"created_at\":\"2024-11-20T10:00:00.3Z\",\"message\":"
	"{\"role\":\"assistant\",\"content\":\"\xe6\x97\xa5\xe6\x9c\xac \\u003cb\\u003e\"},"
	"\"done\":false}",
	"{\"model\":\"llama3.2\",\"created_at\":\"2024-11-20T10:00:00.4Z\",\"message\":"
	"{\"role\":\"assistant\",\"content\":\"\xf0\x9f\x98\x80 \\u0026 \\ud83d\\ude00!\"},"
	"\"done\":false}",
	"{\"model\":\"llama3.2\",\"created_at\":\"2024-11-20T10:00:00.5Z\",\"message\":"
	"{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true,"
	"\"total_duration\":4883583458,\"load_duration\":1334875,\"prompt_eval_count\":26,"
	"\"prompt_eval_duration\":342546000,\"eval_count\":282,\"eval_duration\":4535599000}",
	NULL
};

#define OLLAMA_TEXT "Hello, caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac <b>\xf0\x9f\x98\x80 & " \
	"\xf0\x9f\x98\x80!"

static void test_ollama_stream_lf_every_split(void)
{
	struct buf s;

	join(ollama_stream, "\n", &s);
	check_every_split(buf_str(&s), OLLAMA_TEXT, "stop", 26, 282);
	buf_free(&s);
}

static void test_ollama_stream_crlf_every_split(void)
{
	struct buf s;

	join(ollama_stream, "\r\n", &s);
	check_every_split(buf_str(&s), OLLAMA_TEXT, "stop", 26, 282);
	buf_free(&s);
}

static void test_ollama_stream_token_count(void)
{
	struct buf s;
	struct run r;

	join(ollama_stream, "\n", &s);
	run_whole(&r, buf_str(&s));
	check_run(&r, DC_OK, OLLAMA_TEXT, "stop", 26, 282);
	CHECK_INT(r.tokens, 4);	/* the empty content of the last line is no token */
	buf_free(&r.text);
	buf_free(&s);
}

static void test_blank_lines_and_no_final_newline(void)
{
	struct run r;

	run_whole(&r, "\n{\"message\":{\"role\":\"assistant\",\"content\":\"a\"},\"done\":false}\n"
		      "  \n\r\n{\"message\":{\"role\":\"assistant\",\"content\":\"\"},"
		      "\"done_reason\":\"length\",\"done\":true,\"eval_count\":1}");
	check_run(&r, DC_OK, "a", "length", -1, 1);
	buf_free(&r.text);
}

static void test_done_without_reason_from_old_servers(void)
{
	struct run r;

	run_whole(&r, "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"x\"},"
		      "\"done\":false}\n{\"model\":\"m\",\"done\":true,\"prompt_eval_count\":3,"
		      "\"eval_count\":1}\n");
	check_run(&r, DC_OK, "x", "", 3, 1);
	buf_free(&r.text);
}

static void test_nothing_after_done_counts(void)
{
	struct run r;

	run_whole(&r, "{\"message\":{\"content\":\"x\"},\"done\":true,\"done_reason\":\"stop\"}\n"
		      "{\"message\":{\"content\":\"late\"},\"done\":false}\nnot json\n");
	check_run(&r, DC_OK, "x", "stop", -1, -1);
	buf_free(&r.text);
}

static void test_early_close_is_an_error(void)
{
	struct run r;

	run_whole(&r, "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"Hal\"},"
		      "\"done\":false}\n");
	check_run(&r, DC_UPSTREAM, "Hal", "", -1, -1);
	CHECK_STR(r.err, "ollama: the model server closed the stream before the answer was "
		  "complete");
	buf_free(&r.text);

	run_whole(&r, "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"Hal\"},"
		      "\"done\":false}\n{\"model\":\"m\",\"mess");
	CHECK_INT(r.rc, DC_UPSTREAM);
	CHECK_STR(r.err, "ollama: malformed data from the model server: {\"model\":\"m\",\"mess");
	buf_free(&r.text);

	run_whole(&r, "");
	CHECK_STR(r.err, "ollama: the model server closed the stream before the answer was "
		  "complete");
	buf_free(&r.text);
}

static void test_error_line(void)
{
	struct run r;

	run_whole(&r, "{\"error\":\"model 'llama9' not found, try pulling it first\"}\n");
	CHECK_INT(r.rc, DC_UPSTREAM);
	CHECK_STR(r.err, "ollama: model 'llama9' not found, try pulling it first");
	buf_free(&r.text);

	/* Mid-stream, CRLF. */
	run_whole(&r, "{\"message\":{\"content\":\"a\"},\"done\":false}\r\n"
		      "{\"error\":\"an error was encountered while running the model: "
		      "unexpected EOF\"}\r\n");
	CHECK_INT(r.rc, DC_UPSTREAM);
	CHECK_STR(r.err, "ollama: an error was encountered while running the model: "
		  "unexpected EOF");
	CHECK_STR(buf_str(&r.text), "a");
	buf_free(&r.text);

	/* Not a string: quoted whole. */
	run_whole(&r, "{\"error\":{\"code\":1}}\n");
	CHECK_STR(r.err, "ollama: {\"error\":{\"code\":1}}");
	buf_free(&r.text);
}

static void test_malformed_lines(void)
{
	struct run r;

	run_whole(&r, "data: {\"message\":{}}\n");
	CHECK_INT(r.rc, DC_UPSTREAM);
	CHECK_STR(r.err, "ollama: malformed data from the model server: data: {\"message\":{}}");
	buf_free(&r.text);

	run_whole(&r, "{\"message\":{\"content\":\"a\"},\"done\":false}{\"done\":true}\n");
	CHECK_STR(r.err, "ollama: malformed data from the model server: "
		  "{\"message\":{\"content\":\"a\"},\"done\":false}{\"done\":true}");
	buf_free(&r.text);

	run_whole(&r, "{\"message\":\"hi\",\"done\":false}\n");
	CHECK_STR(r.err, "ollama: malformed data from the model server: "
		  "{\"message\":\"hi\",\"done\":false}");
	buf_free(&r.text);

	run_whole(&r, "{\"message\":{\"content\":[\"hi\"]},\"done\":false}\n");
	CHECK_STR(r.err, "ollama: malformed data from the model server: "
		  "{\"message\":{\"content\":[\"hi\"]},\"done\":false}");
	buf_free(&r.text);

	/* Control characters in the excerpt become spaces. */
	run_whole(&r, "\x01\x02oops\x1b[31m\n");
	CHECK_STR(r.err, "ollama: malformed data from the model server: oops [31m");
	buf_free(&r.text);
}

static void test_line_over_one_mib(void)
{
	struct ollama_parser p;
	struct run r;
	struct backend_cb cb = { on_token, on_tick, &r };
	char *big;
	size_t n = OLLAMA_LINE_MAX + 1;

	run_init(&r);
	big = malloc(n);
	memset(big, ' ', n);
	big[0] = '{';
	ollama_parser_init(&p, &cb, &r.res);
	CHECK_INT(ollama_parser_feed(&p, big, n - 1, r.err, sizeof(r.err)), DC_OK);
	CHECK_INT(ollama_parser_feed(&p, big + 1, 1, r.err, sizeof(r.err)), DC_UPSTREAM);
	CHECK_STR(r.err, "ollama: a line from the model server exceeds 1 MiB");
	ollama_parser_free(&p);
	free(big);
	buf_free(&r.text);
}

static void test_invalid_utf8_text_is_rejected(void)
{
	struct run r;

	run_whole(&r, "{\"message\":{\"content\":\"ok\"},\"done\":false}\n"
		      "{\"message\":{\"content\":\"\xe6\x97\"},\"done\":false}\n");
	CHECK_INT(r.rc, DC_UPSTREAM);
	CHECK_STR(r.err, "ollama: the model server sent text that is not valid UTF-8");
	CHECK_STR(buf_str(&r.text), "ok");
	buf_free(&r.text);
}

static void test_token_callback_stop_is_returned(void)
{
	struct buf s;
	struct run r;

	join(ollama_stream, "\n", &s);
	run_init(&r);
	r.hup_at = 2;
	run_cuts(&r, buf_str(&s), s.len, NULL, 0);
	CHECK_INT(r.rc, DC_HUP);
	CHECK_STR(r.err, "ollama: stopped: client went away");
	CHECK_STR(buf_str(&r.text), "Hel");
	CHECK_INT(r.tokens, 2);
	buf_free(&r.text);
	buf_free(&s);
}

static void test_body_with_options(void)
{
	static const struct backend_msg msgs[] = {
		{ "system", "Answer from the sources." },
		{ "user", "\xe6\x97\xa5\xe6\x9c\xac? \"q\"" },
		{ "assistant", NULL },
	};
	struct backend_req req;
	struct buf b;
	char err[DC_ERRMAX];

	memset(&req, 0, sizeof(req));
	req.model = "llama3.2:latest";
	req.msgs = msgs;
	req.nmsgs = 3;
	req.temperature = 0.7;
	req.max_tokens = 100;
	buf_init(&b, TEXT_MAX);
	CHECK_INT(ollama_body_build(&req, &b, err, sizeof(err)), DC_OK);
	CHECK_STR(buf_str(&b), "{\"model\":\"llama3.2:latest\",\"messages\":["
		  "{\"role\":\"system\",\"content\":\"Answer from the sources.\"},"
		  "{\"role\":\"user\",\"content\":\"\xe6\x97\xa5\xe6\x9c\xac? \\\"q\\\"\"},"
		  "{\"role\":\"assistant\",\"content\":\"\"}],\"stream\":true,"
		  "\"options\":{\"temperature\":0.7,\"num_predict\":100}}");
	buf_free(&b);

	req.temperature = -1;
	CHECK_INT(ollama_body_build(&req, &b, err, sizeof(err)), DC_OK);
	CHECK(strstr(buf_str(&b), "\"stream\":true,\"options\":{\"num_predict\":100}}") != NULL);
	buf_free(&b);

	req.max_tokens = 0;
	CHECK_INT(ollama_body_build(&req, &b, err, sizeof(err)), DC_OK);
	CHECK(strstr(buf_str(&b), "\"stream\":true}") != NULL);
	CHECK(strstr(buf_str(&b), "options") == NULL);
	buf_free(&b);

	req.model = "";
	CHECK_INT(ollama_body_build(&req, &b, err, sizeof(err)), DC_BADREQ);
	CHECK_STR(err, "ollama: no model was named");
	buf_free(&b);
}

static void test_models_list_parsed_and_sorted(void)
{
	static const char body[] =
		"{\"models\":[{\"name\":\"qwen2.5:0.5b\",\"model\":\"qwen2.5:0.5b\","
		"\"modified_at\":\"2024-11-20T10:00:00.1+01:00\",\"size\":397821319,"
		"\"digest\":\"a8b0c5157701\",\"details\":{\"parent_model\":\"\",\"format\":\"gguf\","
		"\"family\":\"qwen2\",\"families\":[\"qwen2\"],\"parameter_size\":\"494.03M\","
		"\"quantization_level\":\"Q4_K_M\"}},{\"name\":\"llama3.2:latest\","
		"\"model\":\"llama3.2:latest\",\"size\":2019393189}]}";
	char **names;
	size_t n;
	char err[DC_ERRMAX];

	CHECK_INT(ollama_models_parse(body, strlen(body), &names, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(names[0], "llama3.2:latest");
		CHECK_STR(names[1], "qwen2.5:0.5b");
	}
	while (n > 0)
		free(names[--n]);
	free(names);

	CHECK_INT(ollama_models_parse("{\"models\":[]}", 13, &names, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 0);
	free(names);
}

static void test_models_list_malformed(void)
{
	char **names;
	size_t n;
	char err[DC_ERRMAX];

	CHECK_INT(ollama_models_parse("404 page not found", 18, &names, &n, err, sizeof(err)),
		  DC_UPSTREAM);
	CHECK_STR(err, "ollama: the model list from the model server is malformed: "
		  "404 page not found");
	CHECK(names == NULL);
}

int main(void)
{
	RUN(test_ollama_stream_lf_every_split);
	RUN(test_ollama_stream_crlf_every_split);
	RUN(test_ollama_stream_token_count);
	RUN(test_blank_lines_and_no_final_newline);
	RUN(test_done_without_reason_from_old_servers);
	RUN(test_nothing_after_done_counts);
	RUN(test_early_close_is_an_error);
	RUN(test_error_line);
	RUN(test_malformed_lines);
	RUN(test_line_over_one_mib);
	RUN(test_invalid_utf8_text_is_rejected);
	RUN(test_token_callback_stop_is_returned);
	RUN(test_body_with_options);
	RUN(test_models_list_parsed_and_sorted);
	RUN(test_models_list_malformed);
	return check_summary();
}
