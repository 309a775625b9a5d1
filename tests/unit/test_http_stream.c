/* test_http_stream.c - the curl transport (src/http_stream.c) against a real loopback
 * HTTP server, and the OpenAI and Ollama backends end to end over it.
 *
 * Each test forks a one-connection server written here with plain sockets. It reads
 * the request, plays a scenario (a slow chunked SSE or NDJSON answer, an HTTP error,
 * an early close, silence) and reports the request and what it saw (how long until
 * the client closed) through a pipe. Also checks the error texts built from HTTP
 * error bodies, the idle timeout, that a tick returning DC_HUP closes the connection
 * at once, the connection-refused message, and that secrets never show. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "backend_ollama.h"
#include "backend_openai.h"
#include "check.h"
#include "config.h"
#include "http_stream.h"
#include "utf8.h"

#define TEXT_MAX (1024 * 1024)
#define SERVER_ALARM_S 5	/* a stuck server child dies after this */
#define SERVER_WAIT_MS 3000	/* longest the server waits for the client to close */
#define SECRET "sk-test-SECRET-0123456789"

typedef void (*scenario_fn)(int fd, struct buf *notes);

struct server {
	int port;
	pid_t pid;
	int report;		/* read end of the child's report pipe */
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);	/* SIGPIPE is ignored: a closed peer is EPIPE */
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

/* One HTTP/1.1 chunk. */
static void send_chunk(int fd, const char *p, size_t n)
{
	char head[32];

	snprintf(head, sizeof(head), "%zx\r\n", n);
	send_str(fd, head);
	send_all(fd, p, n);
	send_str(fd, "\r\n");
}

/* Send s as chunks of at most size bytes, pausing between them. */
static void send_chunks_slowly(int fd, const char *s, size_t size, int pause_ms)
{
	size_t n = strlen(s), k;

	while (n > 0) {
		k = n < size ? n : size;
		send_chunk(fd, s, k);
		s += k;
		n -= k;
		usleep((useconds_t)pause_ms * 1000);
	}
}

/* Wait until the client closes the connection; note how long it took. */
static void note_close(int fd, struct buf *notes)
{
	long long t0 = now_ms(), left;
	struct pollfd pfd = { fd, POLLIN, 0 };
	char tmp[512];
	ssize_t r;

	for (;;) {
		left = SERVER_WAIT_MS - (now_ms() - t0);
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
			buf_printf(notes, "no close\n");
			return;
		}
		r = recv(fd, tmp, sizeof(tmp), 0);
		if (r <= 0)
			break;
	}
	buf_printf(notes, "closed after %lld ms\n", now_ms() - t0);
}

/* Read one request (headers, then Content-Length bytes of body) into req. */
static void read_request(int fd, struct buf *req)
{
	char tmp[4096], *end, *cl;
	size_t want = 0;
	ssize_t r;

	for (;;) {
		end = req->data ? strstr(req->data, "\r\n\r\n") : NULL;
		if (end) {
			cl = strcasestr(req->data, "\r\nContent-Length:");
			want = (size_t)(end + 4 - req->data);
			if (cl && cl < end)
				want += strtoul(cl + 17, NULL, 10);
			if (req->len >= want)
				return;
		}
		r = recv(fd, tmp, sizeof(tmp), 0);
		if (r <= 0)
			return;
		buf_append(req, tmp, (size_t)r);
	}
}

/* The child: accept one connection, read the request, play the scenario, report. */
static void server_child(int lfd, int report, scenario_fn fn)
{
	struct buf req, notes;
	int fd;

	alarm(SERVER_ALARM_S);
	buf_init(&req, TEXT_MAX);
	buf_init(&notes, TEXT_MAX);
	fd = accept(lfd, NULL, NULL);
	if (fd >= 0) {
		read_request(fd, &req);
		if (fn)
			fn(fd, &notes);
		close(fd);
	}
	send_all(report, buf_str(&req), req.len);
	send_str(report, "\n--notes--\n");
	send_all(report, buf_str(&notes), notes.len);
	_exit(0);
}

static void server_start(struct server *s, scenario_fn fn)
{
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	int lfd, one = 1, p[2];

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 4) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0 || pipe(p) != 0) {
		perror("test server");
		exit(2);
	}
	s->port = ntohs(sa.sin_port);
	fflush(stdout);
	s->pid = fork();
	if (s->pid == 0) {
		close(p[0]);
		server_child(lfd, p[1], fn);
	}
	close(p[1]);
	close(lfd);
	s->report = p[0];
}

/* Wait for the child; its report goes to req (the request) and notes. */
static void server_finish(struct server *s, struct buf *req, struct buf *notes)
{
	char tmp[4096], *sep;
	struct buf all;
	ssize_t r;

	buf_init(&all, TEXT_MAX);
	while ((r = read(s->report, tmp, sizeof(tmp))) > 0)
		buf_append(&all, tmp, (size_t)r);
	close(s->report);
	waitpid(s->pid, NULL, 0);
	buf_init(req, TEXT_MAX);
	buf_init(notes, TEXT_MAX);
	sep = strstr(buf_str(&all), "\n--notes--\n");
	if (sep) {
		buf_append(req, all.data, (size_t)(sep - all.data));
		buf_appends(notes, sep + 11);
	}
	buf_free(&all);
}

/* The "closed after N ms" note, or -1. */
static long closed_after(const struct buf *notes)
{
	const char *s = strstr(buf_str(notes), "closed after ");

	return s ? strtol(s + 13, NULL, 10) : -1;
}

/* The body of a recorded request. */
static const char *request_body(const struct buf *req)
{
	const char *s = strstr(buf_str(req), "\r\n\r\n");

	return s ? s + 4 : "";
}

/* --- the client side ---------------------------------------------------------- */

struct client {
	struct buf text;
	int tokens;
	int ticks;
	long long last_tick, max_gap;
	int hup_on_tick;	/* the tick says DC_HUP once a token arrived */
	int hup_on_token;	/* the token callback says DC_HUP at the first token */
	struct backend_result res;
	char err[DC_ERRMAX];
	long long took_ms;
};

static void client_init(struct client *c)
{
	memset(c, 0, sizeof(*c));
	buf_init(&c->text, TEXT_MAX);
	c->last_tick = now_ms();
}

static enum dc_err on_token(void *ud, const char *text, size_t len)
{
	struct client *c = ud;

	c->tokens++;
	if (c->hup_on_token)
		return DC_HUP;
	return buf_append(&c->text, text, len);
}

static enum dc_err on_tick(void *ud)
{
	struct client *c = ud;
	long long t = now_ms();

	c->ticks++;
	if (t - c->last_tick > c->max_gap)
		c->max_gap = t - c->last_tick;
	c->last_tick = t;
	if (c->hup_on_tick && c->tokens > 0)
		return DC_HUP;
	return DC_OK;
}

static enum dc_err on_data(void *ud, const char *p, size_t n, char *err, size_t errlen)
{
	struct client *c = ud;

	(void)err;
	(void)errlen;
	return buf_append(&c->text, p, n);
}

struct test_cfg {
	struct config cfg;
	char openai_url[128];
	char ollama_url[128];
	char key[64];
};

static void cfg_init(struct test_cfg *t, int port)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->openai_url, sizeof(t->openai_url), "http://127.0.0.1:%d/v1", port);
	snprintf(t->ollama_url, sizeof(t->ollama_url), "http://127.0.0.1:%d", port);
	snprintf(t->key, sizeof(t->key), "%s", SECRET);
	t->cfg.openai_url = t->openai_url;
	t->cfg.ollama_url = t->ollama_url;
	t->cfg.openai_key = t->key;
	t->cfg.upstream_connect_s = 2;
	t->cfg.upstream_idle_s = 5;
}

static const struct backend_msg test_msgs[] = {
	{ "system", "Answer from the sources." },
	{ "user", "Bonjour?" },
};

static void req_init(struct backend_req *req, const char *provider, const char *model)
{
	memset(req, 0, sizeof(*req));
	req->provider = provider;
	req->model = model;
	req->msgs = test_msgs;
	req->nmsgs = 2;
	req->temperature = -1;
}

/* Run the answer as relay.c does (driven): a backend_run on a multi handle this loop
 * drives, ticking every DRIVE_TICK_MS and checking the silence limit itself. */
#define DRIVE_TICK_MS 100
static int driven;

static enum dc_err drive(const struct config *cfg, const struct backend_req *req,
			 const struct backend_cb *cb, struct client *c)
{
	CURLM *m = curl_multi_init();
	struct backend_run *r = NULL;
	long long next_tick = now_ms() + DRIVE_TICK_MS, now;
	int running = 1, left, done = 0;
	enum dc_err rc;
	CURLMsg *msg;

	if (!m)
		return DC_NOMEM;
	rc = backend_run_open(cfg, req, cb, &c->res, &r, c->err, sizeof(c->err));
	if (rc == DC_OK)
		rc = backend_run_start(r, m);
	while (rc == DC_OK && !done) {
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			CHECK(http_stream_of(msg->easy_handle) == backend_run_transfer(r));
			backend_run_done(r, msg->data.result);
			done = 1;
		}
		now = now_ms();
		if (!done && now >= next_tick) {
			enum dc_err trc = cb->tick(cb->ud);

			next_tick = now + DRIVE_TICK_MS;
			if (trc != DC_OK) {
				backend_run_stop(r, trc);
				break;
			}
		}
		if (!done && backend_run_silent(r, now))
			break;
		if (!done)
			curl_multi_poll(m, NULL, 0, 20, NULL);
	}
	if (rc == DC_OK)
		rc = backend_run_end(r);
	backend_run_free(r);
	curl_multi_cleanup(m);
	return rc;
}

/* RUN, for a scenario run a second time driven. */
#define RUN_DRIVEN(fn) do { \
	check_current = "driven_" #fn; check_failed_now = 0; fn(); \
	if (check_failed_now) check_failed_total++; \
	else { check_passed_total++; printf("PASS driven_%s\n", #fn); } \
	fflush(stdout); \
} while (0)

static enum dc_err run_backend(const struct config *cfg, const struct backend_req *req,
			       const struct backend_cb *cb, struct client *c)
{
	if (driven)
		return drive(cfg, req, cb, c);
	return backend_stream(cfg, req, cb, &c->res, c->err, sizeof(c->err));
}

static enum dc_err run_openai(struct client *c, const struct test_cfg *t)
{
	struct backend_cb cb = { on_token, on_tick, c };
	struct backend_req req;
	long long t0 = now_ms();
	enum dc_err rc;

	req_init(&req, "openai", "gpt-4o-mini");
	c->last_tick = t0;
	rc = run_backend(&t->cfg, &req, &cb, c);
	c->took_ms = now_ms() - t0;
	return rc;
}

static enum dc_err run_ollama(struct client *c, const struct test_cfg *t)
{
	struct backend_cb cb = { on_token, on_tick, c };
	struct backend_req req;
	long long t0 = now_ms();
	enum dc_err rc;

	req_init(&req, "ollama", "llama3.2");
	c->last_tick = t0;
	rc = run_backend(&t->cfg, &req, &cb, c);
	c->took_ms = now_ms() - t0;
	return rc;
}

/* --- scenarios ---------------------------------------------------------------- */

#define SSE_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n" \
	"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"

static const char sse_answer[] =
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
	"\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
	"\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n"
	": keep-alive\n\n"
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
	"\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Caf\xc3\xa9 \"},"
	"\"finish_reason\":null}],\"usage\":null}\n\n"
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
	"\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
	"\"\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\"},\"finish_reason\":null}],\"usage\":null}\n\n"
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
	"\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},"
	"\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
	"\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,"
	"\"completion_tokens\":4,\"total_tokens\":13}}\n\n"
	"data: [DONE]\n\n";

static const char sse_first_token[] =
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
	"\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},"
	"\"finish_reason\":null}],\"usage\":null}\n\n";

/* The whole answer in 23-byte chunks (cutting UTF-8 characters and lines), 3 ms apart. */
static void sc_sse_slow(int fd, struct buf *notes)
{
	(void)notes;
	send_str(fd, SSE_HEAD);
	send_chunks_slowly(fd, sse_answer, 23, 3);
	send_str(fd, "0\r\n\r\n");
}

/* One token, then the connection closes without the last chunk. */
static void sc_sse_cut(int fd, struct buf *notes)
{
	(void)notes;
	send_str(fd, SSE_HEAD);
	send_chunk(fd, sse_first_token, strlen(sse_first_token));
	usleep(20 * 1000);
}

/* One token, then silence until the client closes. */
static void sc_sse_then_silence(int fd, struct buf *notes)
{
	send_str(fd, SSE_HEAD);
	send_chunk(fd, sse_first_token, strlen(sse_first_token));
	note_close(fd, notes);
}

/* Nothing at all after the request. */
static void sc_silence(int fd, struct buf *notes)
{
	note_close(fd, notes);
}

static void sc_openai_401(int fd, struct buf *notes)
{
	static const char body[] =
		"{\n    \"error\": {\n        \"message\": \"Incorrect API key provided: "
		SECRET ". You can find your API key at "
		"https://platform.openai.com/account/api-keys.\",\n"
		"        \"type\": \"invalid_request_error\",\n        \"param\": null,\n"
		"        \"code\": \"invalid_api_key\"\n    }\n}\n";
	char head[256];

	(void)notes;
	snprintf(head, sizeof(head), "HTTP/1.1 401 Unauthorized\r\nContent-Type: "
		 "application/json; charset=utf-8\r\nContent-Length: %zu\r\n\r\n", strlen(body));
	send_str(fd, head);
	send_str(fd, body);
}

static void sc_ollama_404(int fd, struct buf *notes)
{
	static const char body[] = "{\"error\":\"model \\\"llama9\\\" not found, try pulling "
		"it first\"}";
	char head[256];

	(void)notes;
	snprintf(head, sizeof(head), "HTTP/1.1 404 Not Found\r\nContent-Type: "
		 "application/json; charset=utf-8\r\nContent-Length: %zu\r\n\r\n", strlen(body));
	send_str(fd, head);
	send_str(fd, body);
}

static void sc_html_502(int fd, struct buf *notes)
{
	static const char body[] = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
		"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
		"<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";
	char head[256];

	(void)notes;
	snprintf(head, sizeof(head), "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n", strlen(body));
	send_str(fd, head);
	send_str(fd, body);
}

/* A 500 announcing a 1 MiB body, of which only 128 KiB come: a client that keeps
 * reading past its 64 KiB would wait for the rest and never close. */
static void sc_huge_500(int fd, struct buf *notes)
{
	static char chunk[8192];
	int i;

	memset(chunk, 'x', sizeof(chunk));
	for (i = 1; i < (int)sizeof(chunk); i += 2)
		chunk[i] = ' ';
	send_str(fd, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
		 "Content-Length: 1048576\r\n\r\n");
	for (i = 0; i < 16; i++)
		send_all(fd, chunk, sizeof(chunk));
	note_close(fd, notes);
}

static void sc_ndjson_slow(int fd, struct buf *notes)
{
	static const char answer[] =
		"{\"model\":\"llama3.2\",\"created_at\":\"2024-11-20T10:00:00.1Z\",\"message\":"
		"{\"role\":\"assistant\",\"content\":\"\xc3\x89t\xc3\xa9 \"},\"done\":false}\n"
		"{\"model\":\"llama3.2\",\"created_at\":\"2024-11-20T10:00:00.2Z\",\"message\":"
		"{\"role\":\"assistant\",\"content\":\"\xe6\x97\xa5\xe6\x9c\xac\xf0\x9f\x98\x80\"},"
		"\"done\":false}\n"
		"{\"model\":\"llama3.2\",\"created_at\":\"2024-11-20T10:00:00.3Z\",\"message\":"
		"{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true,"
		"\"total_duration\":488358,\"prompt_eval_count\":26,\"eval_count\":3}\n";

	(void)notes;
	send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n");
	send_chunks_slowly(fd, answer, 17, 3);
	send_str(fd, "0\r\n\r\n");
}

static void sc_openai_models(int fd, struct buf *notes)
{
	static const char body[] =
		"{\"object\":\"list\",\"data\":[{\"id\":\"gpt-4o-mini\",\"object\":\"model\","
		"\"created\":1721172741,\"owned_by\":\"system\"},{\"id\":\"gpt-4o\",\"object\":"
		"\"model\",\"created\":1715367049,\"owned_by\":\"system\"}]}";
	char head[256];

	(void)notes;
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n", strlen(body));
	send_str(fd, head);
	send_str(fd, body);
}

static void sc_ollama_tags(int fd, struct buf *notes)
{
	static const char body[] =
		"{\"models\":[{\"name\":\"qwen2.5:0.5b\",\"model\":\"qwen2.5:0.5b\",\"size\":397821319},"
		"{\"name\":\"llama3.2:latest\",\"model\":\"llama3.2:latest\",\"size\":2019393189}]}";

	(void)notes;
	send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n");
	send_chunks_slowly(fd, body, 50, 1);
	send_str(fd, "0\r\n\r\n");
}

/* --- tests -------------------------------------------------------------------- */

static void test_openai_stream_end_to_end(void)
{
	struct server s;
	struct test_cfg t;
	struct client c;
	struct buf req, notes;

	server_start(&s, sc_sse_slow);
	cfg_init(&t, s.port);
	client_init(&c);
	CHECK_INT(run_openai(&c, &t), DC_OK);
	CHECK_STR(buf_str(&c.text), "Caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
	CHECK_STR(c.res.finish_reason, "stop");
	CHECK_INT(c.res.prompt_tokens, 9);
	CHECK_INT(c.res.completion_tokens, 4);
	server_finish(&s, &req, &notes);
	CHECK(strncmp(buf_str(&req), "POST /v1/chat/completions HTTP/1.1\r\n", 36) == 0);
	CHECK(strstr(buf_str(&req), "\r\nAuthorization: Bearer " SECRET "\r\n") != NULL);
	CHECK(strstr(buf_str(&req), "\r\nAccept: text/event-stream\r\n") != NULL);
	CHECK(strstr(buf_str(&req), "\r\nContent-Type: application/json\r\n") != NULL);
	CHECK(strstr(buf_str(&req), "Expect:") == NULL);
	CHECK_STR(request_body(&req), "{\"model\":\"gpt-4o-mini\",\"messages\":["
		  "{\"role\":\"system\",\"content\":\"Answer from the sources.\"},"
		  "{\"role\":\"user\",\"content\":\"Bonjour?\"}],\"stream\":true,"
		  "\"stream_options\":{\"include_usage\":true}}");
	buf_free(&req);
	buf_free(&notes);
	buf_free(&c.text);
}

static void test_openai_no_key_sends_no_authorization(void)
{
	struct server s;
	struct test_cfg t;
	struct client c;
	struct buf req, notes;

	server_start(&s, sc_sse_slow);
	cfg_init(&t, s.port);
	t.key[0] = '\0';
	client_init(&c);
	CHECK_INT(run_openai(&c, &t), DC_OK);
	server_finish(&s, &req, &notes);
	CHECK(strstr(buf_str(&req), "POST /v1/chat/completions ") != NULL);
	CHECK(strcasestr(buf_str(&req), "Authorization") == NULL);
	buf_free(&req);
	buf_free(&notes);
	buf_free(&c.text);
}

static void test_ollama_stream_end_to_end(void)
{
	struct server s;
	struct test_cfg t;
	struct client c;
	struct buf req, notes;

	server_start(&s, sc_ndjson_slow);
	cfg_init(&t, s.port);
	client_init(&c);
	CHECK_INT(run_ollama(&c, &t), DC_OK);
	CHECK_STR(buf_str(&c.text), "\xc3\x89t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xf0\x9f\x98\x80");
	CHECK_STR(c.res.finish_reason, "stop");
	CHECK_INT(c.res.prompt_tokens, 26);
	CHECK_INT(c.res.completion_tokens, 3);
	server_finish(&s, &req, &notes);
	CHECK(strncmp(buf_str(&req), "POST /api/chat HTTP/1.1\r\n", 25) == 0);
	CHECK(strcasestr(buf_str(&req), "Authorization") == NULL);
	CHECK_STR(request_body(&req), "{\"model\":\"llama3.2\",\"messages\":["
		  "{\"role\":\"system\",\"content\":\"Answer from the sources.\"},"
		  "{\"role\":\"user\",\"content\":\"Bonjour?\"}],\"stream\":true}");
	buf_free(&req);
	buf_free(&notes);
	buf_free(&c.text);
}

static void test_openai_401_quotes_message_without_key(void)
{
	struct server s;
	struct test_cfg t;
	struct client c;
	struct buf req, notes;

	server_start(&s, sc_openai_401);
	cfg_init(&t, s.port);
	client_init(&c);
	CHECK_INT(run_openai(&c, &t), DC_UPSTREAM);
	CHECK_STR(c.err, "openai: HTTP 401: Incorrect API key provided: [redacted]. You can find "
		  "your API key at https://platform.openai.com/account/api-keys.");
	CHECK(strstr(c.err, SECRET) == NULL);
	CHECK_INT(c.tokens, 0);
	server_finish(&s, &req, &notes);
	buf_free(&req);
	buf_free(&notes);
	buf_free(&c.text);
}

static void test_ollama_404_quotes_message(void)
{
	struct server s;
	struct test_cfg t;
	struct client c;
	struct buf req, notes;

	server_start(&s, sc_ollama_404);
	cfg_init(&t, s.port);
	client_init(&c);
	CHECK_INT(run_ollama(&c, &t), DC_UPSTREAM);
	CHECK_STR(c.err, "ollama: HTTP 404: model \"llama9\" not found, try pulling it first");
	server_finish(&s, &req, &notes);
	buf_free(&req);
	buf_free(&notes);
	buf_free(&c.text);
}

static void test_html_error_page_is_reduced_to_text(void)
{
	struct http_stream_req hreq;
	struct server s;
	struct client c;
	struct buf req, notes;
	char url[128];
	long status;

	server_start(&s, sc_html_502);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/chat/completions", s.port);
	client_init(&c);
	memset(&hreq, 0, sizeof(hreq));
	hreq.provider = "openai";
	hreq.url = url;
	hreq.body = "{}";
	hreq.body_len = 2;
	hreq.connect_s = 2;
	hreq.data = on_data;
	hreq.data_ud = &c;
	CHECK_INT(http_stream_run(&hreq, &status, c.err, sizeof(c.err)), DC_UPSTREAM);
	CHECK_INT(status, 502);
	CHECK_STR(c.err, "openai: HTTP 502: 502 Bad Gateway 502 Bad Gateway nginx/1.22.1");
	CHECK_INT(c.text.len, 0);
	server_finish(&s, &req, &notes);
	buf_free(&req);
	buf_free(&notes);
	buf_free(&c.text);
}

static void test_huge_error_body_is_cut_short(void)
{
	struct server s;
	struct test_cfg t;
	struct client c;
	struct buf req, notes;
	size_t len;

	server_start(&s, sc_huge_500);
	cfg_init(&t, s.port);
	client_init(&c);
	CHECK_INT(run_openai(&c, &t), DC_UPSTREAM);
	CHECK(strncmp(c.err, "openai: HTTP 500: x x x x ", 26) == 0);
	len = strlen(c.err);
	CHECK(len > 3 && strcmp(c.err + len - 3, "...") == 0);
	CHECK(len <= strlen("openai: HTTP 500: ") + 400);
	server_finish(&s, &req, &notes);
	/* The client stopped reading at 64 KiB and closed at once. */
	CHECK(closed_after(&notes) >= 0 && closed_after(&notes) < 1000);
	buf_free(&req);
	buf_free(&notes);
	buf_free(&c.text);
}

static void test_early_close_is_reported(void)
{
	struct server s;
	struct test_cfg t;
	struct client c;
	struct buf req, notes;

	server_start(&s, sc_sse_cut);
	cfg_init(&t, s.port);
	client_init(&c);
	CHECK_INT(run_openai(&c, &t), DC_UPSTREAM);
	CHECK_STR(c.err, "openai: the model server closed the stream before the answer was "
		  "complete");
	CHECK_STR(buf_str(&c.text), "Hel");
	server_finish(&s, &req, &notes);
	buf_free(&req);
	buf_free(&notes);
	buf_free(&c.text);
}

static void test_idle_timeout_fires_and_ticks_keep_coming(void)
{
	struct server s;
	struct test_cfg t;
	struct client c;
	struct buf req, notes;

	server_start(&s, sc_sse_then_silence);
	cfg_init(&t, s.port);
	t.cfg.upstream_idle_s = 1;
	client_init(&c);
	CHECK_INT(run_openai(&c, &t), DC_TIMEOUT);
	CHECK_STR(c.err, "openai: no data from the model server for 1 s");
	CHECK_STR(buf_str(&c.text), "Hel");
	CHECK(c.took_ms >= 1000 && c.took_ms < 1600);
	CHECK(c.ticks >= 4);
	CHECK(c.max_gap <= 250);	/* from the call's start, between ticks */
	if (check_failed_now)
		printf("  (took %lld ms, %d ticks, longest gap %lld ms)\n", c.took_ms, c.ticks,
		       c.max_gap);
	server_finish(&s, &req, &notes);
	/* The server saw the close right at the timeout. */
	CHECK(closed_after(&notes) >= 900 && closed_after(&notes) < 1600);
	buf_free(&req);
	buf_free(&notes);
	buf_free(&c.text);
}

static void test_tick_hup_closes_connection_at_once(void)
{
	struct server s;
	struct test_cfg t;
	struct client c;
	struct buf req, notes;

	server_start(&s, sc_sse_then_silence);
	cfg_init(&t, s.port);
	client_init(&c);
	c.hup_on_tick = 1;
	CHECK_INT(run_openai(&c, &t), DC_HUP);
	CHECK_STR(c.err, "openai: stopped: client went away");
	CHECK_STR(buf_str(&c.text), "Hel");
	server_finish(&s, &req, &notes);
	CHECK(closed_after(&notes) >= 0 && closed_after(&notes) < 1000);
	buf_free(&req);
	buf_free(&notes);
	buf_free(&c.text);
}

static void test_token_hup_closes_connection_at_once(void)
{
	struct server s;
	struct test_cfg t;
	struct client c;
	struct buf req, notes;

	server_start(&s, sc_sse_then_silence);
	cfg_init(&t, s.port);
	client_init(&c);
	c.hup_on_token = 1;
	CHECK_INT(run_openai(&c, &t), DC_HUP);
	CHECK_STR(c.err, "openai: stopped: client went away");
	CHECK_INT(c.tokens, 1);
	server_finish(&s, &req, &notes);
	CHECK(closed_after(&notes) >= 0 && closed_after(&notes) < 1000);
	buf_free(&req);
	buf_free(&notes);
	buf_free(&c.text);
}

static void test_tick_stops_a_silent_server(void)
{
	struct server s;
	struct test_cfg t;
	struct client c;
	struct buf req, notes;

	server_start(&s, sc_silence);
	cfg_init(&t, s.port);
	client_init(&c);
	c.hup_on_tick = 1;
	c.tokens = 1;	/* the tick says stop at once */
	CHECK_INT(run_ollama(&c, &t), DC_HUP);
	CHECK_STR(c.err, "ollama: stopped: client went away");
	CHECK(c.took_ms < 500);
	server_finish(&s, &req, &notes);
	CHECK(closed_after(&notes) >= 0 && closed_after(&notes) < 1000);
	buf_free(&req);
	buf_free(&notes);
	buf_free(&c.text);
}

/* A port nothing listens on. */
static int closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(fd, (struct sockaddr *)&sa, &salen);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void test_connection_refused_message(void)
{
	struct test_cfg t;
	struct client c;
	char want[256];
	int port = closed_port();

	cfg_init(&t, port);
	client_init(&c);
	CHECK_INT(run_openai(&c, &t), DC_UPSTREAM);
	snprintf(want, sizeof(want), "openai: cannot reach http://127.0.0.1:%d/v1/chat/completions: "
		 "Failed to connect to 127.0.0.1 port %d after ", port, port);
	CHECK(strncmp(c.err, want, strlen(want)) == 0);
	CHECK(strstr(c.err, "Couldn't connect to server") != NULL);
	if (check_failed_now)
		printf("  (got \"%s\")\n", c.err);
	buf_free(&c.text);
}

static void test_url_credentials_never_shown(void)
{
	struct http_stream_req hreq;
	struct client c;
	char url[256], want[128];
	int port = closed_port();

	snprintf(url, sizeof(url), "http://user:%s@127.0.0.1:%d/v1/chat/completions?api-key=%s",
		 SECRET, port, SECRET);
	client_init(&c);
	memset(&hreq, 0, sizeof(hreq));
	hreq.provider = "openai";
	hreq.url = url;
	hreq.connect_s = 2;
	hreq.data = on_data;
	hreq.data_ud = &c;
	CHECK_INT(http_stream_run(&hreq, NULL, c.err, sizeof(c.err)), DC_UPSTREAM);
	snprintf(want, sizeof(want), "openai: cannot reach http://127.0.0.1:%d/v1/chat/completions: ",
		 port);
	CHECK(strncmp(c.err, want, strlen(want)) == 0);
	CHECK(strstr(c.err, SECRET) == NULL);
	CHECK(strstr(c.err, "user") == NULL);
	buf_free(&c.text);
}

static void test_openai_list_models(void)
{
	struct server s;
	struct test_cfg t;
	struct buf req, notes;
	char **names, err[DC_ERRMAX];
	size_t n;

	server_start(&s, sc_openai_models);
	cfg_init(&t, s.port);
	CHECK_INT(backend_openai_list_models(&t.cfg, &names, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(names[0], "gpt-4o");
		CHECK_STR(names[1], "gpt-4o-mini");
	}
	while (n > 0)
		free(names[--n]);
	free(names);
	server_finish(&s, &req, &notes);
	CHECK(strncmp(buf_str(&req), "GET /v1/models HTTP/1.1\r\n", 25) == 0);
	CHECK(strstr(buf_str(&req), "\r\nAuthorization: Bearer " SECRET "\r\n") != NULL);
	buf_free(&req);
	buf_free(&notes);
}

static void test_ollama_list_models(void)
{
	struct server s;
	struct test_cfg t;
	struct buf req, notes;
	char **names, err[DC_ERRMAX];
	size_t n;

	server_start(&s, sc_ollama_tags);
	cfg_init(&t, s.port);
	CHECK_INT(backend_ollama_list_models(&t.cfg, &names, &n, err, sizeof(err)), DC_OK);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(names[0], "llama3.2:latest");
		CHECK_STR(names[1], "qwen2.5:0.5b");
	}
	while (n > 0)
		free(names[--n]);
	free(names);
	server_finish(&s, &req, &notes);
	CHECK(strncmp(buf_str(&req), "GET /api/tags HTTP/1.1\r\n", 24) == 0);
	buf_free(&req);
	buf_free(&notes);
}

/* http_stream_http_error on its own: every body shape model servers send. */
static void test_http_error_messages(void)
{
	char err[DC_ERRMAX];

#define HTTP_ERR(status, body) \
	http_stream_http_error("openai", status, body, strlen(body), err, sizeof(err))
	CHECK_INT(HTTP_ERR(429, "{\"error\":{\"message\":\"Rate limit reached\",\"type\":"
			   "\"requests\",\"code\":\"rate_limit_exceeded\"}}"), DC_UPSTREAM);
	CHECK_STR(err, "openai: HTTP 429: Rate limit reached");
	HTTP_ERR(404, "{\"error\":\"model 'x' not found\"}");
	CHECK_STR(err, "openai: HTTP 404: model 'x' not found");
	HTTP_ERR(422, "{\"detail\":\"Field required\"}");
	CHECK_STR(err, "openai: HTTP 422: Field required");
	HTTP_ERR(400, "{\"object\":\"error\",\"message\":\"The model `x` does not exist.\","
		 "\"type\":\"NotFoundError\",\"code\":404}");
	CHECK_STR(err, "openai: HTTP 400: The model `x` does not exist.");
	HTTP_ERR(500, "{\"error\":{\"type\":\"server_error\"}}");
	CHECK_STR(err, "openai: HTTP 500: {\"error\":{\"type\":\"server_error\"}}");
	HTTP_ERR(503, "upstream connect error\r\nor disconnect\x01 \xff");
	CHECK_STR(err, "openai: HTTP 503: upstream connect error or disconnect ?");
	HTTP_ERR(500, "");
	CHECK_STR(err, "openai: HTTP 500");
	HTTP_ERR(500, " \r\n ");
	CHECK_STR(err, "openai: HTTP 500");
#undef HTTP_ERR
}

static void test_quote_and_utf8_helpers(void)
{
	char out[16];

	http_stream_quote("  a\tb\n\nc  ", 10, 100, out, sizeof(out));
	CHECK_STR(out, "a b c");
	/* 15 bytes of room: cut on a character, with "...". */
	http_stream_quote("\xe6\x97\xa5\xe6\x9c\xac\xe6\x97\xa5\xe6\x9c\xac\xe6\x97\xa5\xe6\x9c\xac",
			  18, 100, out, sizeof(out));
	CHECK_STR(out, "\xe6\x97\xa5\xe6\x9c\xac\xe6\x97\xa5\xe6\x9c\xac...");
	http_stream_quote("abcdef", 6, 6, out, sizeof(out));
	CHECK_STR(out, "abcdef");
	http_stream_quote("abcdefg", 7, 6, out, sizeof(out));
	CHECK_STR(out, "abc...");
	CHECK(utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10));
	CHECK(!utf8_valid("\xc3", 1));
	CHECK(!utf8_valid("\xe0\x80\xaf", 3));	/* overlong */
	CHECK(!utf8_valid("\xed\xa0\x80", 3));	/* surrogate */
	CHECK(!utf8_valid("\xf4\x90\x80\x80", 4));	/* past U+10FFFF */
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 2;
	RUN(test_openai_stream_end_to_end);
	RUN(test_openai_no_key_sends_no_authorization);
	RUN(test_ollama_stream_end_to_end);
	RUN(test_openai_401_quotes_message_without_key);
	RUN(test_ollama_404_quotes_message);
	RUN(test_html_error_page_is_reduced_to_text);
	RUN(test_huge_error_body_is_cut_short);
	RUN(test_early_close_is_reported);
	RUN(test_idle_timeout_fires_and_ticks_keep_coming);
	RUN(test_tick_hup_closes_connection_at_once);
	RUN(test_token_hup_closes_connection_at_once);
	RUN(test_tick_stops_a_silent_server);
	RUN(test_connection_refused_message);
	RUN(test_url_credentials_never_shown);
	RUN(test_openai_list_models);
	RUN(test_ollama_list_models);
	RUN(test_http_error_messages);
	RUN(test_quote_and_utf8_helpers);
	/* The same scenarios driven from outside, as relay.c runs them. */
	driven = 1;
	RUN_DRIVEN(test_openai_stream_end_to_end);
	RUN_DRIVEN(test_ollama_stream_end_to_end);
	RUN_DRIVEN(test_openai_401_quotes_message_without_key);
	RUN_DRIVEN(test_html_error_page_is_reduced_to_text);
	RUN_DRIVEN(test_huge_error_body_is_cut_short);
	RUN_DRIVEN(test_early_close_is_reported);
	RUN_DRIVEN(test_idle_timeout_fires_and_ticks_keep_coming);
	RUN_DRIVEN(test_tick_hup_closes_connection_at_once);
	RUN_DRIVEN(test_token_hup_closes_connection_at_once);
	RUN_DRIVEN(test_tick_stops_a_silent_server);
	RUN_DRIVEN(test_connection_refused_message);
	curl_global_cleanup();
	return check_summary();
}
