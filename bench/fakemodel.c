/* bench/fakemodel.c - a fake model server for docchat's streaming benchmark.
 *
 * Speaks the wire formats docchat's backends read, on one thread with non-blocking
 * sockets and epoll, so that it can hold thousands of paced streams at once and is
 * never the slowest part of a benchmark:
 *
 *   POST /v1/chat/completions   OpenAI: with "stream": true an SSE stream (a role chunk,
 *                               one chunk per token, a finish chunk, a usage chunk when
 *                               stream_options.include_usage is true, `data: [DONE]`),
 *                               in HTTP/1.1 chunked encoding; without it one JSON reply
 *   POST /api/chat              Ollama: NDJSON, one line per token and a final
 *                               "done": true line (one JSON reply with "stream": false)
 *   GET  /v1/models, /api/tags  the model lists
 *
 * What a chat request does is chosen by its model name, with the syntax of the Python
 * fake (tests/fake_model.py): "fake;tokens=200;pace_ms=20" (an "openai:" or "ollama:"
 * prefix is dropped). Options:
 *   tokens=N     answer length in tokens (default 12)
 *   pace_ms=N    one token every N ms, on a fixed schedule counted from the response
 *                headers (0: unpaced, as fast as the connection takes them)
 *   first_ms=N   the first token N ms after the headers instead (the rest follow pace_ms)
 *   tag=WORD     ignored
 * Any base name is accepted; an unknown option is a 400.
 *
 * Every token's text is "t<ns> ", where <ns> is the CLOCK_MONOTONIC time in nanoseconds
 * at which the server put the token into its send buffer. A client on the same machine
 * subtracts it from its own receive time to get the token's delay through everything in
 * between (for docchat: curl, docchat, FastCGI, the web server), since docchat relays
 * the text unchanged.
 *
 *   bench-fakemodel [--host 127.0.0.1] [--port 0] [--port-file FILE] [--quiet]
 *
 * Port 0 picks a free port; it is written to --port-file (atomically) or stdout. SIGTERM
 * or SIGINT ends it after printing counters to stderr. Not a general HTTP server: request
 * bodies need Content-Length (curl sends it), and one request at a time per connection. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#define FM_HEAD_MAX (64 * 1024)		/* request line and headers */
#define FM_BODY_MAX (64 * 1024 * 1024)	/* request body */
#define FM_FLOOD_BATCH (16 * 1024)	/* unpaced: bytes of tokens generated per turn */
#define FM_MODEL_MAX 256
#define FM_DEFAULT_TOKENS 12
#define FM_MAX_EVENTS 1024
#define FM_READ_CHUNK 16384

enum api { API_OPENAI, API_OLLAMA };
enum cstate { ST_HEAD, ST_BODY, ST_STREAM, ST_DRAIN };

struct conn {
	int fd;
	enum cstate state;
	char *in;			/* received, not yet consumed */
	size_t inlen, incap;
	size_t head_len;		/* bytes of request line + headers (ST_BODY) */
	size_t body_len;		/* Content-Length (ST_BODY) */
	int keepalive;
	int expect_continue;
	char *out;			/* to send: out[outoff..outlen) */
	size_t outlen, outoff, outcap;
	uint32_t events;		/* what epoll watches now */
	/* the stream */
	enum api api;
	int usage;			/* OpenAI include_usage */
	long long ntokens, sent;
	long long pace_ns;
	long long due;			/* next token (paced), CLOCK_MONOTONIC ns */
	int heap_idx;			/* -1: not waiting for a token */
	long long created;		/* unix seconds, OpenAI "created" */
	long long prompt_tokens;
	char model[FM_MODEL_MAX];	/* as received, JSON-escaped for output */
};

static int epfd;
static volatile sig_atomic_t stop;
static int quiet;

/* Counters printed at exit. */
static long long n_requests, n_streams, n_tokens, n_open, max_open, max_streaming, n_streaming;

/* ---- time ------------------------------------------------------------------------ */

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- timer heap: connections waiting for their next paced token, earliest first --- */

static struct conn **heap;
static size_t heap_n, heap_cap;

static void heap_swap(size_t a, size_t b)
{
	struct conn *t = heap[a];

	heap[a] = heap[b];
	heap[b] = t;
	heap[a]->heap_idx = (int)a;
	heap[b]->heap_idx = (int)b;
}

static void heap_up(size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (heap[p]->due <= heap[i]->due)
			break;
		heap_swap(i, p);
		i = p;
	}
}

static void heap_down(size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < heap_n && heap[l]->due < heap[m]->due)
			m = l;
		if (r < heap_n && heap[r]->due < heap[m]->due)
			m = r;
		if (m == i)
			return;
		heap_swap(i, m);
		i = m;
	}
}

static int heap_push(struct conn *c)
{
	if (heap_n == heap_cap) {
		size_t cap = heap_cap ? heap_cap * 2 : 1024;
		struct conn **h = realloc(heap, cap * sizeof *h);

		if (!h)
			return -1;
		heap = h;
		heap_cap = cap;
	}
	heap[heap_n] = c;
	c->heap_idx = (int)heap_n;
	heap_n++;
	heap_up(heap_n - 1);
	return 0;
}

static void heap_remove(struct conn *c)
{
	size_t i = (size_t)c->heap_idx;

	if (c->heap_idx < 0)
		return;
	c->heap_idx = -1;
	heap_n--;
	if (i == heap_n)
		return;
	heap[i] = heap[heap_n];
	heap[i]->heap_idx = (int)i;
	heap_down(i);
	heap_up(i);
}

/* ---- buffers ---------------------------------------------------------------------- */

static void die(const char *what)
{
	fprintf(stderr, "fakemodel: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void out_reserve(struct conn *c, size_t more)
{
	if (c->outoff > 0 && c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	if (c->outlen + more <= c->outcap)
		return;
	if (c->outoff > 0) {
		memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
		c->outlen -= c->outoff;
		c->outoff = 0;
		if (c->outlen + more <= c->outcap)
			return;
	}
	size_t cap = c->outcap ? c->outcap : 4096;

	while (cap < c->outlen + more)
		cap *= 2;
	c->out = realloc(c->out, cap);
	if (!c->out)
		die("out of memory");
	c->outcap = cap;
}

static void out_add(struct conn *c, const char *p, size_t n)
{
	out_reserve(c, n);
	memcpy(c->out + c->outlen, p, n);
	c->outlen += n;
}

static void out_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	out_reserve(c, 256);
	va_start(ap, fmt);
	n = vsnprintf(c->out + c->outlen, c->outcap - c->outlen, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("vsnprintf");
	if ((size_t)n >= c->outcap - c->outlen) {
		out_reserve(c, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(c->out + c->outlen, c->outcap - c->outlen, fmt, ap);
		va_end(ap);
	}
	c->outlen += (size_t)n;
}

/* One HTTP/1.1 chunk holding p[0..n). */
static void out_chunk(struct conn *c, const char *p, size_t n)
{
	char head[32];
	int h = snprintf(head, sizeof head, "%zx\r\n", n);

	out_reserve(c, (size_t)h + n + 2);
	out_add(c, head, (size_t)h);
	out_add(c, p, n);
	out_add(c, "\r\n", 2);
}

/* ---- connections ------------------------------------------------------------------- */

static void set_events(struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (ev == c->events)
		return;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) < 0)
		die("epoll_ctl");
	c->events = ev;
}

static void conn_close(struct conn *c)
{
	heap_remove(c);
	if (c->state == ST_STREAM)
		n_streaming--;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
	n_open--;
}

/* Send what is buffered; -1 if the connection broke (and was closed). */
static int conn_flush(struct conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_close(c);
			return -1;
		}
		c->outoff += (size_t)w;
	}
	if (c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	return 0;
}

/* Unpaced streams and unsent bytes want to hear when the socket is writable. */
static void update_events(struct conn *c)
{
	uint32_t ev = EPOLLIN | EPOLLRDHUP;

	if (c->outlen > c->outoff ||
	    (c->state == ST_STREAM && c->pace_ns == 0 && c->heap_idx < 0))
		ev |= EPOLLOUT;
	set_events(c, ev);
}

/* ---- responses -------------------------------------------------------------------- */

static void reply(struct conn *c, int status, const char *reason, const char *ctype,
		  const char *body)
{
	size_t n = strlen(body);

	out_printf(c, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
		   status, reason, ctype, n, c->keepalive ? "" : "Connection: close\r\n");
	out_add(c, body, n);
	c->state = c->keepalive ? ST_HEAD : ST_DRAIN;
}

static void reply_error(struct conn *c, int status, const char *reason, const char *msg)
{
	json_object *o = json_object_new_object(), *e = json_object_new_object();

	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_object_add(e, "type", json_object_new_string("invalid_request_error"));
	json_object_object_add(o, "error", c->api == API_OPENAI ? e : json_object_new_string(msg));
	if (c->api != API_OPENAI)
		json_object_put(e);
	reply(c, status, reason, "application/json", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static void rfc3339(char *out, size_t n)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
}

/* One SSE event or NDJSON line, as its own HTTP chunk. */
static void event(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void event(struct conn *c, const char *fmt, ...)
{
	char buf[FM_MODEL_MAX + 1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof buf) {
		fprintf(stderr, "fakemodel: event too long\n");
		exit(1);
	}
	out_chunk(c, buf, (size_t)n);
}

static const char *openai_head =
	"{\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\",\"created\":%lld,"
	"\"model\":\"%s\",\"system_fingerprint\":\"fp_fake\",\"choices\":[{\"index\":0,";

/* Token i (0-based) of c's stream, stamped now. */
static void put_token(struct conn *c)
{
	long long t = now_ns();

	if (c->api == API_OPENAI) {
		event(c, "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\","
		      "\"created\":%lld,\"model\":\"%s\",\"system_fingerprint\":\"fp_fake\","
		      "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t%lld \"},"
		      "\"logprobs\":null,\"finish_reason\":null}]%s}\n\n",
		      c->created, c->model, t, c->usage ? ",\"usage\":null" : "");
	} else {
		char ts[96];

		rfc3339(ts, sizeof ts);
		event(c, "{\"model\":\"%s\",\"created_at\":\"%s\",\"message\":{\"role\":\"assistant\","
		      "\"content\":\"t%lld \"},\"done\":false}\n", c->model, ts, t);
	}
	c->sent++;
	n_tokens++;
}

static void stream_end(struct conn *c)
{
	if (c->api == API_OPENAI) {
		event(c, "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\","
		      "\"created\":%lld,\"model\":\"%s\",\"system_fingerprint\":\"fp_fake\","
		      "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
		      "\"finish_reason\":\"stop\"}]%s}\n\n",
		      c->created, c->model, c->usage ? ",\"usage\":null" : "");
		if (c->usage)
			event(c, "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\","
			      "\"created\":%lld,\"model\":\"%s\",\"system_fingerprint\":\"fp_fake\","
			      "\"choices\":[],\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
			      "\"total_tokens\":%lld}}\n\n", c->created, c->model, c->prompt_tokens,
			      c->ntokens, c->prompt_tokens + c->ntokens);
		event(c, "data: [DONE]\n\n");
	} else {
		char ts[96];

		rfc3339(ts, sizeof ts);
		event(c, "{\"model\":\"%s\",\"created_at\":\"%s\",\"message\":{\"role\":\"assistant\","
		      "\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true,"
		      "\"total_duration\":123456789,\"load_duration\":1234567,"
		      "\"prompt_eval_count\":%lld,\"prompt_eval_duration\":2345678,"
		      "\"eval_count\":%lld,\"eval_duration\":3456789}\n",
		      c->model, ts, c->prompt_tokens, c->ntokens);
	}
	out_add(c, "0\r\n\r\n", 5);
	c->sent = c->ntokens + 1;
	heap_remove(c);
	n_streaming--;
	c->state = c->keepalive ? ST_HEAD : ST_DRAIN;
}

/* Headers and the role chunk; tokens follow from the timer or the write loop. */
static void stream_begin(struct conn *c, long long first_ns)
{
	out_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n"
		   "Cache-Control: no-cache\r\n%s\r\n",
		   c->api == API_OPENAI ? "text/event-stream; charset=utf-8" : "application/x-ndjson",
		   c->keepalive ? "" : "Connection: close\r\n");
	if (c->api == API_OPENAI) {
		char head[FM_MODEL_MAX + 256];

		snprintf(head, sizeof head, openai_head, c->created, c->model);
		event(c, "data: %s\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
		      "\"logprobs\":null,\"finish_reason\":null}]%s}\n\n", head,
		      c->usage ? ",\"usage\":null" : "");
	}
	c->state = ST_STREAM;
	c->sent = 0;
	n_streams++;
	n_streaming++;
	if (n_streaming > max_streaming)
		max_streaming = n_streaming;
	if (c->ntokens == 0) {
		stream_end(c);
		return;
	}
	if (c->pace_ns > 0 || first_ns > 0) {
		c->due = now_ns() + (first_ns > 0 ? first_ns : c->pace_ns);
		heap_push(c);
	}
}

/* The whole answer at once ("stream": false). */
static void reply_whole(struct conn *c)
{
	json_object *o = json_object_new_object(), *msg = json_object_new_object();
	char *text = malloc((size_t)c->ntokens * 24 + 1), *p = text;

	if (!text)
		die("out of memory");
	*p = 0;
	for (long long i = 0; i < c->ntokens; i++)
		p += sprintf(p, "t%lld ", now_ns());
	n_tokens += c->ntokens;
	json_object_object_add(msg, "role", json_object_new_string("assistant"));
	json_object_object_add(msg, "content", json_object_new_string(text));
	if (c->api == API_OPENAI) {
		json_object *ch = json_object_new_object(), *arr = json_object_new_array(),
			    *u = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_string("chatcmpl-fake"));
		json_object_object_add(o, "object", json_object_new_string("chat.completion"));
		json_object_object_add(o, "created", json_object_new_int64(c->created));
		json_object_object_add(o, "model", json_object_new_string(c->model));
		json_object_object_add(ch, "index", json_object_new_int(0));
		json_object_object_add(ch, "message", msg);
		json_object_object_add(ch, "finish_reason", json_object_new_string("stop"));
		json_object_array_add(arr, ch);
		json_object_object_add(o, "choices", arr);
		json_object_object_add(u, "prompt_tokens", json_object_new_int64(c->prompt_tokens));
		json_object_object_add(u, "completion_tokens", json_object_new_int64(c->ntokens));
		json_object_object_add(u, "total_tokens", json_object_new_int64(c->prompt_tokens + c->ntokens));
		json_object_object_add(o, "usage", u);
	} else {
		json_object_object_add(o, "model", json_object_new_string(c->model));
		json_object_object_add(o, "message", msg);
		json_object_object_add(o, "done_reason", json_object_new_string("stop"));
		json_object_object_add(o, "done", json_object_new_boolean(1));
		json_object_object_add(o, "prompt_eval_count", json_object_new_int64(c->prompt_tokens));
		json_object_object_add(o, "eval_count", json_object_new_int64(c->ntokens));
	}
	reply(c, 200, "OK", "application/json", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	free(text);
}

/* ---- requests ----------------------------------------------------------------------- */

/* Parse "fake;tokens=N;pace_ms=M;first_ms=F;tag=T"; 0, or -1 with a message in err. */
static int parse_scenario(const char *name, long long *tokens, long long *pace_ms,
			  long long *first_ms, char *err, size_t errlen)
{
	const char *p = strchr(name, ';');

	*tokens = FM_DEFAULT_TOKENS;
	*pace_ms = 0;
	*first_ms = -1;
	while (p && *p) {
		const char *opt = p + 1, *end = strchr(opt, ';'), *eq;
		size_t len = end ? (size_t)(end - opt) : strlen(opt);
		char key[32];
		long long v;
		char *e;

		p = end;
		if (len == 0)
			continue;
		eq = memchr(opt, '=', len);
		if (!eq || (size_t)(eq - opt) >= sizeof key) {
			snprintf(err, errlen, "fake model: bad option '%.*s'", (int)len, opt);
			return -1;
		}
		memcpy(key, opt, (size_t)(eq - opt));
		key[eq - opt] = 0;
		if (strcmp(key, "tag") == 0)
			continue;
		errno = 0;
		v = strtoll(eq + 1, &e, 10);
		if (errno || e == eq + 1 || e != opt + len || v < 0) {
			snprintf(err, errlen, "fake model: option %s: not a non-negative integer", key);
			return -1;
		}
		if (strcmp(key, "tokens") == 0)
			*tokens = v;
		else if (strcmp(key, "pace_ms") == 0)
			*pace_ms = v;
		else if (strcmp(key, "first_ms") == 0)
			*first_ms = v;
		else {
			snprintf(err, errlen, "fake model: unknown option '%s'", key);
			return -1;
		}
	}
	return 0;
}

static long long prompt_tokens_of(json_object *msgs)
{
	size_t bytes = 0;

	if (msgs && json_object_is_type(msgs, json_type_array))
		for (size_t i = 0; i < json_object_array_length(msgs); i++) {
			json_object *m = json_object_array_get_idx(msgs, i), *ct;

			if (json_object_object_get_ex(m, "content", &ct) &&
			    json_object_is_type(ct, json_type_string))
				bytes += (size_t)json_object_get_string_len(ct);
		}
	return bytes / 4 > 0 ? (long long)(bytes / 4) : 1;
}

static void chat(struct conn *c, const char *body, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *root = tok ? json_tokener_parse_ex(tok, body, (int)len) : NULL, *v;
	const char *model;
	long long tokens, pace_ms, first_ms;
	int streaming = 1;
	char err[256], *esc;
	size_t j = 0;

	json_tokener_free(tok);
	if (!root || !json_object_is_type(root, json_type_object)) {
		reply_error(c, 400, "Bad Request", "the body is not a JSON object");
		goto out;
	}
	if (!json_object_object_get_ex(root, "model", &v) || !json_object_is_type(v, json_type_string)) {
		reply_error(c, 400, "Bad Request", "model is required");
		goto out;
	}
	model = json_object_get_string(v);
	if (parse_scenario(model, &tokens, &pace_ms, &first_ms, err, sizeof err) < 0) {
		reply_error(c, 400, "Bad Request", err);
		goto out;
	}
	/* The name goes back into JSON by printf: keep it short and escape it. */
	esc = c->model;
	for (const char *s = model; *s && j + 7 < sizeof c->model; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			esc[j++] = '\\';
			esc[j++] = (char)ch;
		} else if (ch < 0x20) {
			j += (size_t)sprintf(esc + j, "\\u%04x", ch);
		} else {
			esc[j++] = (char)ch;
		}
	}
	esc[j] = 0;
	if (json_object_object_get_ex(root, "stream", &v))
		streaming = json_object_get_boolean(v);
	else
		streaming = c->api == API_OLLAMA;	/* Ollama streams unless told not to */
	c->usage = 0;
	if (json_object_object_get_ex(root, "stream_options", &v) &&
	    json_object_object_get_ex(v, "include_usage", &v))
		c->usage = json_object_get_boolean(v);
	c->prompt_tokens = prompt_tokens_of(json_object_object_get_ex(root, "messages", &v) ? v : NULL);
	c->ntokens = tokens;
	c->pace_ns = pace_ms * 1000000LL;
	c->created = (long long)time(NULL);
	if (streaming)
		stream_begin(c, first_ms >= 0 ? (first_ms > 0 ? first_ms * 1000000LL : 1) : 0);
	else
		reply_whole(c);
out:
	json_object_put(root);
}

/* A complete request is in c->in[0..head_len + body_len): answer it. */
static void handle(struct conn *c)
{
	char method[16], path[256];
	const char *body = c->in + c->head_len;

	n_requests++;
	if (sscanf(c->in, "%15s %255s", method, path) != 2) {
		c->keepalive = 0;
		reply(c, 400, "Bad Request", "text/plain", "bad request line\n");
		return;
	}
	c->api = strncmp(path, "/v1/", 4) == 0 ? API_OPENAI : API_OLLAMA;
	if (strcmp(method, "POST") == 0 && strcmp(path, "/v1/chat/completions") == 0)
		chat(c, body, c->body_len);
	else if (strcmp(method, "POST") == 0 && strcmp(path, "/api/chat") == 0)
		chat(c, body, c->body_len);
	else if (strcmp(method, "GET") == 0 && strcmp(path, "/v1/models") == 0)
		reply(c, 200, "OK", "application/json",
		      "{\"object\":\"list\",\"data\":[{\"id\":\"fake\",\"object\":\"model\","
		      "\"created\":1700000000,\"owned_by\":\"fake\"}]}");
	else if (strcmp(method, "GET") == 0 && strcmp(path, "/api/tags") == 0)
		reply(c, 200, "OK", "application/json",
		      "{\"models\":[{\"name\":\"fake:latest\",\"model\":\"fake:latest\","
		      "\"modified_at\":\"2024-01-01T00:00:00Z\",\"size\":1000000}]}");
	else if (c->api == API_OPENAI)
		reply_error(c, 404, "Not Found", "Invalid URL");
	else
		reply(c, 404, "Not Found", "text/plain", "404 page not found");
}

/* The value of header name in head (request line and headers, NUL-terminated), or NULL. */
static const char *header(const char *head, const char *name, size_t *vlen)
{
	size_t n = strlen(name);

	for (const char *l = strstr(head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
		const char *s = l + 2, *e;

		if (strncasecmp(s, name, n) != 0 || s[n] != ':')
			continue;
		s += n + 1;
		while (*s == ' ' || *s == '\t')
			s++;
		e = strstr(s, "\r\n");
		*vlen = e ? (size_t)(e - s) : strlen(s);
		return s;
	}
	return NULL;
}

/* Consume complete requests from c->in. */
static void parse(struct conn *c)
{
	for (;;) {
		if (c->state == ST_HEAD) {
			char *end;
			const char *v;
			size_t vlen;

			if (c->inlen == 0)
				return;
			c->in[c->inlen] = 0;
			end = strstr(c->in, "\r\n\r\n");
			if (!end) {
				if (c->inlen > FM_HEAD_MAX) {
					c->keepalive = 0;
					reply(c, 431, "Request Header Fields Too Large", "text/plain", "too large\n");
				}
				return;
			}
			*end = 0;	/* header() stops here */
			c->head_len = (size_t)(end - c->in) + 4;
			c->keepalive = strstr(c->in, " HTTP/1.1\r\n") != NULL;
			v = header(c->in, "Connection", &vlen);
			if (v && vlen == 5 && strncasecmp(v, "close", 5) == 0)
				c->keepalive = 0;
			c->body_len = 0;
			v = header(c->in, "Content-Length", &vlen);
			if (v)
				c->body_len = strtoull(v, NULL, 10);
			v = header(c->in, "Transfer-Encoding", &vlen);
			if (v || c->body_len > FM_BODY_MAX) {
				c->keepalive = 0;
				reply(c, v ? 411 : 413, v ? "Length Required" : "Payload Too Large",
				      "text/plain", "send a Content-Length up to 64 MiB\n");
				return;
			}
			v = header(c->in, "Expect", &vlen);
			if (v && vlen == 12 && strncasecmp(v, "100-continue", 12) == 0)
				out_add(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
			c->state = ST_BODY;
		}
		if (c->state != ST_BODY || c->inlen < c->head_len + c->body_len)
			return;
		{
			size_t used = c->head_len + c->body_len;
			char saved = c->in[used];

			c->in[used] = 0;	/* json-c gets a length anyway */
			handle(c);
			c->in[used] = saved;
			memmove(c->in, c->in + used, c->inlen - used);
			c->inlen -= used;
		}
		if (c->state != ST_HEAD)
			return;
	}
}

/* Readable: take the bytes in; 0 if the peer is gone (connection closed). */
static int conn_read(struct conn *c)
{
	for (;;) {
		ssize_t r;

		if (c->incap - c->inlen < FM_READ_CHUNK + 1) {
			size_t cap = c->incap ? c->incap * 2 : FM_READ_CHUNK * 2;

			if (cap > FM_BODY_MAX + FM_HEAD_MAX + FM_READ_CHUNK * 2) {
				conn_close(c);
				return 0;
			}
			c->in = realloc(c->in, cap);
			if (!c->in)
				die("out of memory");
			c->incap = cap;
		}
		r = recv(c->fd, c->in + c->inlen, c->incap - c->inlen - 1, 0);
		if (r > 0) {
			/* Bytes while streaming would be a pipelined request: keep them. */
			c->inlen += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		conn_close(c);
		return 0;
	}
}

/* Unpaced: one batch of tokens (or the end) when everything before has gone out. */
static void flood(struct conn *c)
{
	if (c->state != ST_STREAM || c->pace_ns != 0 || c->heap_idx >= 0 || c->outlen > c->outoff)
		return;
	while (c->sent < c->ntokens && c->outlen < FM_FLOOD_BATCH)
		put_token(c);
	if (c->sent == c->ntokens)
		stream_end(c);
}

static void after_io(struct conn *c)
{
	if (conn_flush(c) < 0)
		return;
	if (c->state == ST_DRAIN && c->outlen == c->outoff) {
		conn_close(c);
		return;
	}
	if (c->state == ST_HEAD && c->inlen > 0) {
		parse(c);
		if (conn_flush(c) < 0)
			return;
	}
	update_events(c);
}

static void on_event(struct conn *c, uint32_t ev)
{
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		if (!conn_read(c))
			return;
		if (c->state == ST_HEAD || c->state == ST_BODY)
			parse(c);
	}
	if (conn_flush(c) < 0)
		return;
	if ((ev & EPOLLOUT) || c->pace_ns == 0) {
		flood(c);
		if (conn_flush(c) < 0)
			return;
	}
	after_io(c);
}

/* Paced tokens that are due. */
static void on_timer(void)
{
	long long now = now_ns();

	while (heap_n > 0 && heap[0]->due <= now) {
		struct conn *c = heap[0];

		if (c->pace_ns == 0) {	/* first_ms on an unpaced stream: now flood */
			heap_remove(c);
			flood(c);
		} else {
			put_token(c);
			c->due += c->pace_ns;
			heap_down(0);
			if (c->sent == c->ntokens)
				stream_end(c);
		}
		after_io(c);
	}
}

static void on_accept(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct conn *c;
		struct epoll_event e;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				fprintf(stderr, "fakemodel: accept: %s\n", strerror(errno));
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c = calloc(1, sizeof *c);
		if (!c)
			die("out of memory");
		c->fd = fd;
		c->heap_idx = -1;
		c->state = ST_HEAD;
		c->events = EPOLLIN | EPOLLRDHUP;
		e.events = c->events;
		e.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0)
			die("epoll_ctl");
		if (++n_open > max_open)
			max_open = n_open;
	}
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench-fakemodel [--host ADDR] [--port N] [--port-file FILE] [--quiet]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *port_file = NULL;
	int port = 0, lfd, one = 1;
	struct sockaddr_in sa;
	socklen_t salen = sizeof sa;
	struct rlimit rl;
	struct epoll_event evs[FM_MAX_EVENTS], e;
	struct sigaction sact;
	static char lmark;	/* epoll data for the listening socket */

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
			host = argv[++i];
		else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc)
			port_file = argv[++i];
		else if (strcmp(argv[i], "--quiet") == 0)
			quiet = 1;
		else
			usage();
	}
	/* Thousands of connections: as many descriptors as we may have. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* Paced tokens leave on time: no timer slack. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	memset(&sact, 0, sizeof sact);
	sact.sa_handler = on_signal;
	sigaction(SIGTERM, &sact, NULL);
	sigaction(SIGINT, &sact, NULL);
	signal(SIGPIPE, SIG_IGN);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "fakemodel: bad address %s\n", host);
		return 2;
	}
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("bind");
	if (listen(lfd, 4096) < 0)
		die("listen");
	if (getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0)
		die("getsockname");
	port = ntohs(sa.sin_port);
	if (port_file) {
		char tmp[PATH_MAX];
		FILE *f;

		snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
		f = fopen(tmp, "w");
		if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 || rename(tmp, port_file) < 0)
			die(port_file);
	} else {
		printf("%d\n", port);
		fflush(stdout);
	}

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1");
	e.events = EPOLLIN;
	e.data.ptr = &lmark;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &e) < 0)
		die("epoll_ctl");

	while (!stop) {
		struct timespec to, *top = NULL;
		int n;

		if (heap_n > 0) {
			long long left = heap[0]->due - now_ns();

			if (left < 0)
				left = 0;
			to.tv_sec = left / 1000000000LL;
			to.tv_nsec = left % 1000000000LL;
			top = &to;
		}
		n = epoll_pwait2(epfd, evs, FM_MAX_EVENTS, top, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_pwait2");
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &lmark)
				on_accept(lfd);
			else
				on_event(evs[i].data.ptr, evs[i].events);
		}
		on_timer();
	}
	if (!quiet)
		fprintf(stderr, "fakemodel: %lld requests, %lld streams, %lld tokens; at most %lld "
			"connections and %lld streams at once\n", n_requests, n_streams, n_tokens,
			max_open, max_streaming);
	return 0;
}
