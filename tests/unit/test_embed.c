/* test_embed.c - the embeddings client (src/embed.c): parsing DOCCHAT_EMBED_MODEL, the
 * validation of replies of both wire formats (wrong count, ragged dimensions, NaN,
 * infinities, strings, giant vectors, zero vectors, duplicate or missing indexes, an
 * error inside a 200 reply), normalization, and whole requests against a loopback
 * server forked here: batching, the request bodies, the Authorization header, error
 * replies quoted without the API key. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "buf.h"
#include "check.h"
#include "config.h"
#include "embed.h"

#define SECRET "sk-test-SECRET-0123456789"
#define EPS 1e-6
#define SERVER_ALARM_S 10
#define REPORT_MAX (1024 * 1024)

/* ---- replies parsed directly ---- */

static enum dc_err parse(const char *provider, const char *body, size_t n, float **v, int *dim,
			 char *err, size_t errlen)
{
	return embed_parse_reply(provider, body, strlen(body), n, v, dim, err, errlen);
}

/* The error text for a bad reply (and that nothing was returned). */
static const char *bad(const char *provider, const char *body, size_t n)
{
	static char err[DC_ERRMAX];
	float *v = (float *)1;
	int dim = 7;

	err[0] = '\0';
	if (parse(provider, body, n, &v, &dim, err, sizeof(err)) != DC_UPSTREAM)
		return "(accepted)";
	if (v != NULL || dim != 0)
		return "(left output set)";
	return err;
}

static void test_ollama_reply_is_parsed_and_normalized(void)
{
	char err[DC_ERRMAX] = "";
	float *v = NULL;
	int dim = 0;

	CHECK_INT(parse("ollama", "{\"model\":\"m\",\"embeddings\":[[3,4],[0,-2.5]]}", 2, &v,
			&dim, err, sizeof(err)), DC_OK);
	CHECK_INT(dim, 2);
	CHECK(v && fabs(v[0] - 0.6) < EPS && fabs(v[1] - 0.8) < EPS);
	CHECK(v && fabs(v[2]) < EPS && fabs(v[3] + 1.0) < EPS);
	free(v);
}

static void test_openai_reply_is_put_in_index_order(void)
{
	char err[DC_ERRMAX] = "";
	float *v = NULL;
	int dim = 0;

	CHECK_INT(parse("openai", "{\"object\":\"list\",\"data\":["
			"{\"object\":\"embedding\",\"index\":1,\"embedding\":[0,0,2]},"
			"{\"object\":\"embedding\",\"index\":0,\"embedding\":[1,0,0]}],"
			"\"model\":\"m\",\"usage\":{\"prompt_tokens\":2,\"total_tokens\":2}}", 2,
			&v, &dim, err, sizeof(err)), DC_OK);
	CHECK_INT(dim, 3);
	CHECK(v && v[0] == 1.0f && v[1] == 0 && v[2] == 0);
	CHECK(v && v[3] == 0 && v[4] == 0 && v[5] == 1.0f);
	free(v);
}

static void test_wrong_count_is_rejected(void)
{
	CHECK_STR(bad("ollama", "{\"embeddings\":[[1,2]]}", 2),
		  "ollama: the reply has 1 embeddings for 2 texts");
	CHECK_STR(bad("ollama", "{\"embeddings\":[[1],[2],[3]]}", 2),
		  "ollama: the reply has 3 embeddings for 2 texts");
	CHECK_STR(bad("openai", "{\"data\":[]}", 1), "openai: the reply has 0 embeddings for 1 texts");
	CHECK_STR(bad("ollama", "{\"embedding\":[1,2]}", 1),
		  "ollama: the reply has no \"embeddings\" list");
	CHECK_STR(bad("openai", "{\"data\":{}}", 1), "openai: the reply has no \"data\" list");
}

static void test_ragged_dimensions_are_rejected(void)
{
	CHECK_STR(bad("ollama", "{\"embeddings\":[[1,2],[1,2,3]]}", 2),
		  "ollama: embedding 1 has 3 dimensions, the first has 2");
	CHECK_STR(bad("openai", "{\"data\":[{\"index\":0,\"embedding\":[1,2]},"
		      "{\"index\":1,\"embedding\":[1]}]}", 2),
		  "openai: embedding 1 has 1 dimensions, the first has 2");
	CHECK_STR(bad("ollama", "{\"embeddings\":[[]]}", 1), "ollama: embedding 0 is empty");
}

static void test_non_numbers_are_rejected(void)
{
	CHECK_STR(bad("ollama", "{\"embeddings\":[[NaN,1]]}", 1),
		  "ollama: embedding 0: element 0 is not a finite number");
	CHECK_STR(bad("ollama", "{\"embeddings\":[[1,Infinity]]}", 1),
		  "ollama: embedding 0: element 1 is not a finite number");
	CHECK_STR(bad("ollama", "{\"embeddings\":[[1,-1e400]]}", 1),
		  "ollama: embedding 0: element 1 is not a finite number");
	/* finite as a double, infinite as a float */
	CHECK_STR(bad("ollama", "{\"embeddings\":[[1e39,1]]}", 1),
		  "ollama: embedding 0: element 0 is not a finite number");
	CHECK_STR(bad("ollama", "{\"embeddings\":[[1,\"0.5\"]]}", 1),
		  "ollama: embedding 0: element 1 is not a number");
	CHECK_STR(bad("ollama", "{\"embeddings\":[[1,null]]}", 1),
		  "ollama: embedding 0: element 1 is not a number");
	CHECK_STR(bad("ollama", "{\"embeddings\":[[true]]}", 1),
		  "ollama: embedding 0: element 0 is not a number");
	CHECK_STR(bad("ollama", "{\"embeddings\":[\"AAAA\"]}", 1),
		  "ollama: embedding 0 is not a list of numbers");
	/* base64 answers (encoding_format base64) are not what docchat asks for */
	CHECK_STR(bad("openai", "{\"data\":[{\"index\":0,\"embedding\":\"AACAPw==\"}]}", 1),
		  "openai: embedding 0 is not a list of numbers");
	CHECK_STR(bad("ollama", "{\"embeddings\":[[0,0,0]]}", 1),
		  "ollama: embedding 0 has no direction (all zeros)");
}

static void test_giant_vectors_are_rejected(void)
{
	struct buf b;
	int i;

	buf_init(&b, REPORT_MAX);
	CHECK_INT(buf_appends(&b, "{\"embeddings\":[[1"), DC_OK);
	for (i = 1; i < EMBED_DIM_MAX + 1; i++)
		buf_appends(&b, ",0");
	buf_appends(&b, "]]}");
	CHECK_STR(bad("ollama", buf_str(&b), 1),
		  "ollama: embedding 0 has 8193 dimensions, more than the 8192 docchat accepts");
	buf_free(&b);
	/* exactly the limit is fine */
	buf_init(&b, REPORT_MAX);
	buf_appends(&b, "{\"embeddings\":[[1");
	for (i = 1; i < EMBED_DIM_MAX; i++)
		buf_appends(&b, ",0");
	buf_appends(&b, "]]}");
	{
		char err[DC_ERRMAX] = "";
		float *v = NULL;
		int dim = 0;

		CHECK_INT(parse("ollama", buf_str(&b), 1, &v, &dim, err, sizeof(err)), DC_OK);
		CHECK_INT(dim, EMBED_DIM_MAX);
		free(v);
	}
	buf_free(&b);
}

static void test_openai_indexes_are_checked(void)
{
	CHECK_STR(bad("openai", "{\"data\":[{\"index\":0,\"embedding\":[1]},"
		      "{\"index\":0,\"embedding\":[1]}]}", 2),
		  "openai: index 0 appears twice in the reply");
	CHECK_STR(bad("openai", "{\"data\":[{\"index\":2,\"embedding\":[1]},"
		      "{\"index\":0,\"embedding\":[1]}]}", 2),
		  "openai: data item 0 has index 2, outside 0..1");
	CHECK_STR(bad("openai", "{\"data\":[{\"index\":-1,\"embedding\":[1]}]}", 1),
		  "openai: data item 0 has index -1, outside 0..0");
	CHECK_STR(bad("openai", "{\"data\":[{\"embedding\":[1]}]}", 1),
		  "openai: data item 0 has no integer \"index\"");
	CHECK_STR(bad("openai", "{\"data\":[{\"index\":\"0\",\"embedding\":[1]}]}", 1),
		  "openai: data item 0 has no integer \"index\"");
	CHECK_STR(bad("openai", "{\"data\":[{\"index\":0}]}", 1),
		  "openai: embedding 0 is not a list of numbers");
}

static void test_other_bad_replies(void)
{
	CHECK_STR(bad("ollama", "not json", 1), "ollama: the embeddings reply is not a JSON object");
	CHECK_STR(bad("ollama", "[[1,2]]", 1), "ollama: the embeddings reply is not a JSON object");
	CHECK_STR(bad("ollama", "{\"embeddings\":[[1]]} {}", 1),
		  "ollama: the embeddings reply is not a JSON object");
	CHECK_STR(bad("ollama", "", 1), "ollama: the embeddings reply is not a JSON object");
	CHECK_STR(bad("ollama", "{\"error\":\"model is loading\"}", 1), "ollama: model is loading");
	CHECK_STR(bad("openai", "{\"error\":{\"message\":\"quota\\nexceeded\"}}", 1),
		  "openai: quota exceeded");
}

static void test_normalize(void)
{
	float v[3] = { 0, 3, 4 }, z[2] = { 0, 0 }, n[2] = { NAN, 1 };

	CHECK(embed_normalize(v, 3));
	CHECK(fabs(v[1] - 0.6) < EPS && fabs(v[2] - 0.8) < EPS);
	CHECK(!embed_normalize(z, 2));
	CHECK(!embed_normalize(n, 2));
	CHECK(n[1] == 1);	/* untouched on failure */
}

/* ---- the model name ---- */

static char def_ollama[] = "ollama";
static char def_extractive[] = "extractive";

static void test_model_names(void)
{
	struct config cfg;
	struct embed_model m;
	char err[DC_ERRMAX] = "";

	memset(&cfg, 0, sizeof(cfg));
	cfg.default_provider = def_ollama;
	CHECK_INT(embed_model_parse(&cfg, "ollama:nomic-embed-text", &m, err, sizeof(err)), DC_OK);
	CHECK_STR(m.provider, "ollama");
	CHECK_STR(m.name, "nomic-embed-text");
	CHECK_STR(m.full, "ollama:nomic-embed-text");
	CHECK_INT(embed_model_parse(&cfg, "openai:text-embedding-3-small", &m, err, sizeof(err)),
		  DC_OK);
	CHECK_STR(m.provider, "openai");
	CHECK_STR(m.full, "openai:text-embedding-3-small");
	/* Ollama names may carry a tag after a second colon */
	CHECK_INT(embed_model_parse(&cfg, "ollama:bge-m3:567m", &m, err, sizeof(err)), DC_OK);
	CHECK_STR(m.name, "bge-m3:567m");
	/* a bare name takes the default provider */
	CHECK_INT(embed_model_parse(&cfg, "nomic-embed-text", &m, err, sizeof(err)), DC_OK);
	CHECK_STR(m.full, "ollama:nomic-embed-text");
	cfg.default_provider = def_extractive;
	CHECK_INT(embed_model_parse(&cfg, "nomic-embed-text", &m, err, sizeof(err)), DC_BADREQ);
	CHECK_STR(err, "DOCCHAT_EMBED_MODEL: unknown provider 'extractive' in 'nomic-embed-text':"
		  " use ollama:NAME or openai:NAME");
	CHECK_INT(embed_model_parse(&cfg, "extractive:x", &m, err, sizeof(err)), DC_BADREQ);
	CHECK_INT(embed_model_parse(&cfg, "ollama:", &m, err, sizeof(err)), DC_BADREQ);
	CHECK_STR(err, "DOCCHAT_EMBED_MODEL: 'ollama:' has no model name after the provider");
	CHECK_INT(embed_model_parse(&cfg, "", &m, err, sizeof(err)), DC_BADREQ);
	CHECK_STR(err, "DOCCHAT_EMBED_MODEL is not set");
	CHECK_INT(embed_model_parse(&cfg, "ollama:a\nb", &m, err, sizeof(err)), DC_BADREQ);
	CHECK_STR(err, "DOCCHAT_EMBED_MODEL: the model name contains a control character");
}

/* ---- whole requests against a loopback server ---- */

/* What the server answers to one request body. */
typedef void (*reply_fn)(const char *body, int *status, struct buf *out);

struct server {
	int port;
	pid_t pid;
	int report;
};

static void send_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Read one request (headers and a Content-Length body) into req; the body's offset. */
static size_t read_request(int fd, struct buf *req)
{
	char tmp[4096];
	const char *end, *cl;
	size_t head = 0, want = 0;
	ssize_t r;

	for (;;) {
		if (head == 0 && (end = strstr(buf_str(req), "\r\n\r\n")) != NULL) {
			head = (size_t)(end - buf_str(req)) + 4;
			cl = strcasestr(buf_str(req), "\r\nContent-Length:");
			want = cl ? strtoul(cl + 17, NULL, 10) : 0;
		}
		if (head && req->len >= head + want)
			return head;
		r = read(fd, tmp, sizeof(tmp));
		if (r <= 0)
			return head ? head : req->len;
		if (buf_append(req, tmp, (size_t)r) != DC_OK)
			return 0;
	}
}

static void server_child(int lfd, int report, int nreq, reply_fn fn)
{
	struct buf all, req, reply, head;
	int i, status;

	alarm(SERVER_ALARM_S);
	buf_init(&all, REPORT_MAX);
	for (i = 0; i < nreq; i++) {
		int fd = accept(lfd, NULL, NULL);
		size_t off;

		if (fd < 0)
			break;
		buf_init(&req, REPORT_MAX);
		buf_init(&reply, REPORT_MAX);
		buf_init(&head, 4096);
		off = read_request(fd, &req);
		status = 200;
		fn(buf_str(&req) + off, &status, &reply);
		buf_printf(&head, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
			   "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, reply.len);
		send_all(fd, head.data, head.len);
		send_all(fd, buf_str(&reply), reply.len);
		close(fd);
		buf_printf(&all, "%s\n----\n", buf_str(&req));
		buf_free(&req);
		buf_free(&reply);
		buf_free(&head);
	}
	send_all(report, buf_str(&all), all.len);
	_exit(0);
}

static void server_start(struct server *s, int nreq, reply_fn fn)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int lfd, p[2];

	memset(s, 0, sizeof(*s));
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 8) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) != 0 || pipe(p) != 0) {
		printf("# server setup failed: %s\n", strerror(errno));
		return;
	}
	s->port = ntohs(a.sin_port);
	fflush(stdout);
	s->pid = fork();
	if (s->pid == 0) {
		close(p[0]);
		server_child(lfd, p[1], nreq, fn);
	}
	close(p[1]);
	close(lfd);
	s->report = p[0];
}

/* Wait for the server; its record of every request goes to requests. */
static void server_finish(struct server *s, struct buf *requests)
{
	char tmp[4096];
	ssize_t r;

	while ((r = read(s->report, tmp, sizeof(tmp))) > 0)
		buf_append(requests, tmp, (size_t)r);
	close(s->report);
	waitpid(s->pid, NULL, 0);
}

static int count(const char *s, const char *sub)
{
	int n = 0;

	while ((s = strstr(s, sub)) != NULL) {
		n++;
		s += strlen(sub);
	}
	return n;
}

/* Vectors that encode the text: [length, 1, 0]. Ollama's shape, or OpenAI's reversed. */
static void reply_vectors(const char *body, int openai, struct buf *out)
{
	json_object *root = json_tokener_parse(body), *input = NULL;
	size_t i, n;

	if (!root || !json_object_object_get_ex(root, "input", &input)) {
		buf_appends(out, "{\"error\":\"bad request body\"}");
		json_object_put(root);
		return;
	}
	n = json_object_array_length(input);
	buf_appends(out, openai ? "{\"object\":\"list\",\"data\":[" : "{\"embeddings\":[");
	for (i = 0; i < n; i++) {
		size_t k = openai ? n - 1 - i : i;
		size_t len = strlen(json_object_get_string(json_object_array_get_idx(input, k)));

		if (openai)
			buf_printf(out, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":"
				   "[%zu,1,0]}", i ? "," : "", k, len);
		else
			buf_printf(out, "%s[%zu,1,0]", i ? "," : "", len);
	}
	buf_appends(out, "]}");
	json_object_put(root);
}

static void reply_ollama(const char *body, int *status, struct buf *out)
{
	(void)status;
	reply_vectors(body, 0, out);
}

static void reply_openai(const char *body, int *status, struct buf *out)
{
	(void)status;
	reply_vectors(body, 1, out);
}

static void reply_openai_401(const char *body, int *status, struct buf *out)
{
	(void)body;
	*status = 401;
	buf_appends(out, "{\"error\":{\"message\":\"Incorrect API key provided: " SECRET
		    "\",\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}");
}

static void reply_ollama_404(const char *body, int *status, struct buf *out)
{
	(void)body;
	*status = 404;
	buf_appends(out, "{\"error\":\"model \\\"nomic\\\" not found, try pulling it first\"}");
}

static void reply_ragged(const char *body, int *status, struct buf *out)
{
	(void)body;
	(void)status;
	buf_appends(out, "{\"embeddings\":[[1,2,3],[1,2]]}");
}

static char url_ollama[64], url_openai[64];
static char key[] = SECRET;

static void cfg_for(struct config *cfg, int port, int batch)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(url_ollama, sizeof(url_ollama), "http://127.0.0.1:%d", port);
	snprintf(url_openai, sizeof(url_openai), "http://127.0.0.1:%d/v1", port);
	cfg->ollama_url = url_ollama;
	cfg->openai_url = url_openai;
	cfg->openai_key = key;
	cfg->default_provider = def_ollama;
	cfg->embed_batch = batch;
	cfg->upstream_connect_s = 5;
	cfg->upstream_idle_s = 5;
}

static void model_for(const struct config *cfg, const char *spec, struct embed_model *m)
{
	char err[DC_ERRMAX] = "";

	if (embed_model_parse(cfg, spec, m, err, sizeof(err)) != DC_OK)
		printf("# model: %s\n", err);
}

static void test_ollama_requests_in_batches(void)
{
	static const char *const texts[] = { "a", "bb", "ccc", "dddd", "eeeee" };
	struct server s;
	struct config cfg;
	struct embed_model m;
	struct buf reqs;
	char err[DC_ERRMAX] = "";
	float *v = NULL;
	int dim = 0;
	size_t i;

	server_start(&s, 3, reply_ollama);
	cfg_for(&cfg, s.port, 2);
	model_for(&cfg, "ollama:nomic", &m);
	CHECK_INT(embed_texts(&cfg, &m, texts, 5, 0, &v, &dim, err, sizeof(err)), DC_OK);
	CHECK_STR(err, "");
	CHECK_INT(dim, 3);
	for (i = 0; v && i < 5; i++) {
		double len = (double)(i + 1), norm = sqrt(len * len + 1);

		CHECK(fabs(v[i * 3] - len / norm) < EPS);
		CHECK(fabs(v[i * 3 + 1] - 1 / norm) < EPS);
		CHECK(v[i * 3 + 2] == 0);
	}
	free(v);
	buf_init(&reqs, REPORT_MAX);
	server_finish(&s, &reqs);
	CHECK_INT(count(buf_str(&reqs), "POST /api/embed HTTP/1.1\r\n"), 3);
	CHECK_INT(count(buf_str(&reqs), "\r\nContent-Type: application/json\r\n"), 3);
	CHECK(strstr(buf_str(&reqs), "\r\n\r\n{\"model\":\"nomic\",\"input\":[\"a\",\"bb\"]}") != NULL);
	CHECK(strstr(buf_str(&reqs), "\r\n\r\n{\"model\":\"nomic\",\"input\":[\"ccc\",\"dddd\"]}") != NULL);
	CHECK(strstr(buf_str(&reqs), "\r\n\r\n{\"model\":\"nomic\",\"input\":[\"eeeee\"]}") != NULL);
	CHECK_INT(count(buf_str(&reqs), "Authorization"), 0);
	buf_free(&reqs);
}

static void test_openai_request_carries_key_and_format(void)
{
	static const char *const texts[] = { "one", "three" };
	struct server s;
	struct config cfg;
	struct embed_model m;
	struct buf reqs;
	char err[DC_ERRMAX] = "";
	float *v = NULL;
	int dim = 0;

	server_start(&s, 1, reply_openai);
	cfg_for(&cfg, s.port, 8);
	model_for(&cfg, "openai:text-embedding-3-small", &m);
	CHECK_INT(embed_texts(&cfg, &m, texts, 2, 5, &v, &dim, err, sizeof(err)), DC_OK);
	CHECK_INT(dim, 3);
	/* the reply lists them in reverse; the index puts them back */
	CHECK(v && fabs(v[0] - 3 / sqrt(10)) < EPS && fabs(v[3] - 5 / sqrt(26)) < EPS);
	free(v);
	buf_init(&reqs, REPORT_MAX);
	server_finish(&s, &reqs);
	CHECK_INT(count(buf_str(&reqs), "POST /v1/embeddings HTTP/1.1\r\n"), 1);
	CHECK_INT(count(buf_str(&reqs), "\r\nAuthorization: Bearer " SECRET "\r\n"), 1);
	CHECK(strstr(buf_str(&reqs), "\r\n\r\n{\"model\":\"text-embedding-3-small\",\"input\":"
		     "[\"one\",\"three\"],\"encoding_format\":\"float\"}") != NULL);
	buf_free(&reqs);
}

static void test_openai_401_never_shows_the_key(void)
{
	static const char *const texts[] = { "x" };
	struct server s;
	struct config cfg;
	struct embed_model m;
	struct buf reqs;
	char err[DC_ERRMAX] = "";
	float *v = NULL;
	int dim = 0;

	server_start(&s, 1, reply_openai_401);
	cfg_for(&cfg, s.port, 8);
	model_for(&cfg, "openai:text-embedding-3-small", &m);
	CHECK_INT(embed_texts(&cfg, &m, texts, 1, 0, &v, &dim, err, sizeof(err)), DC_UPSTREAM);
	CHECK(v == NULL);
	CHECK_STR(err, "openai: HTTP 401: Incorrect API key provided: [redacted]");
	CHECK(strstr(err, SECRET) == NULL);
	buf_init(&reqs, REPORT_MAX);
	server_finish(&s, &reqs);
	buf_free(&reqs);
}

static void test_ollama_404_quotes_the_server(void)
{
	static const char *const texts[] = { "x" };
	struct server s;
	struct config cfg;
	struct embed_model m;
	struct buf reqs;
	char err[DC_ERRMAX] = "";
	float *v = NULL;
	int dim = 0;

	server_start(&s, 1, reply_ollama_404);
	cfg_for(&cfg, s.port, 8);
	model_for(&cfg, "ollama:nomic", &m);
	CHECK_INT(embed_texts(&cfg, &m, texts, 1, 0, &v, &dim, err, sizeof(err)), DC_UPSTREAM);
	CHECK_STR(err, "ollama: HTTP 404: model \"nomic\" not found, try pulling it first");
	buf_init(&reqs, REPORT_MAX);
	server_finish(&s, &reqs);
	buf_free(&reqs);
}

static void test_bad_reply_over_http_is_an_error(void)
{
	static const char *const texts[] = { "x", "y" };
	struct server s;
	struct config cfg;
	struct embed_model m;
	struct buf reqs;
	char err[DC_ERRMAX] = "";
	float *v = NULL;
	int dim = 0;

	server_start(&s, 1, reply_ragged);
	cfg_for(&cfg, s.port, 8);
	model_for(&cfg, "ollama:nomic", &m);
	CHECK_INT(embed_texts(&cfg, &m, texts, 2, 0, &v, &dim, err, sizeof(err)), DC_UPSTREAM);
	CHECK_STR(err, "ollama: embedding 1 has 2 dimensions, the first has 3");
	CHECK(v == NULL && dim == 0);
	buf_init(&reqs, REPORT_MAX);
	server_finish(&s, &reqs);
	buf_free(&reqs);
}

static void test_unreachable_server(void)
{
	static const char *const texts[] = { "x" };
	static const char want[] = "ollama: cannot reach http://127.0.0.1:1/api/embed: ";
	struct config cfg;
	struct embed_model m;
	char err[DC_ERRMAX] = "";
	float *v = NULL;
	int dim = 0;

	cfg_for(&cfg, 1, 8);
	model_for(&cfg, "ollama:nomic", &m);
	CHECK_INT(embed_texts(&cfg, &m, texts, 1, 0, &v, &dim, err, sizeof(err)), DC_UPSTREAM);
	CHECK(strncmp(err, want, strlen(want)) == 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	RUN(test_ollama_reply_is_parsed_and_normalized);
	RUN(test_openai_reply_is_put_in_index_order);
	RUN(test_wrong_count_is_rejected);
	RUN(test_ragged_dimensions_are_rejected);
	RUN(test_non_numbers_are_rejected);
	RUN(test_giant_vectors_are_rejected);
	RUN(test_openai_indexes_are_checked);
	RUN(test_other_bad_replies);
	RUN(test_normalize);
	RUN(test_model_names);
	RUN(test_ollama_requests_in_batches);
	RUN(test_openai_request_carries_key_and_format);
	RUN(test_openai_401_never_shows_the_key);
	RUN(test_ollama_404_quotes_the_server);
	RUN(test_bad_reply_over_http_is_an_error);
	RUN(test_unreachable_server);
	curl_global_cleanup();
	return check_summary();
}
