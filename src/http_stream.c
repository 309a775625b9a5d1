/* http_stream.c - one HTTP request to a model server on its own curl multi handle.
 *
 * Why multi and not curl_easy_perform: between two curl_multi_poll calls (never longer
 * than HTTP_STREAM_POLL_MS) this module runs the caller's tick, checks the silence
 * limit, and can drop the transfer at once; removing an unfinished easy handle and
 * cleaning up the multi handle closes its connection, so the model server sees the
 * close immediately and stops generating. Silence is measured from the moment the
 * connection is ready (curl's prereq callback) to the last header or body byte; before
 * that the connect timeout rules.
 *
 * The body of a reply with status >= 300 is kept (up to HTTP_STREAM_ERRBODY_MAX) to
 * quote the upstream's own message; any other body goes to the caller's data callback.
 * What the body means (SSE, NDJSON, a JSON list) is left to the backends. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "buf.h"
#include "http_stream.h"
#include "utf8.h"

#define HTTP_STREAM_POLL_MS 100		/* longest wait in one curl_multi_poll */
#define HTTP_STREAM_TICK_MS 150		/* tick period; backend.h promises <= 250 ms */
#define HTTP_STREAM_ERROR_STATUS 300	/* replies from here on are errors, not bodies */
#define HTTP_STREAM_ERRBODY_MAX (64 * 1024)
#define HTTP_STREAM_QUOTE_MAX 400	/* bytes of an upstream message put in an error */
#define HTTP_STREAM_URL_MAX 256		/* bytes of a URL put in an error */
#define HTTP_STREAM_REDACTED "[redacted]"
#define HTTP_STREAM_USER_AGENT "docchat"

#ifndef CURL_WRITEFUNC_ERROR
#define CURL_WRITEFUNC_ERROR 0
#endif

/* The state of one transfer, shared with curl's callbacks. */
struct http_stream {
	const struct http_stream_req *req;
	CURLM *multi;		/* the multi handle it runs on (not owned) */
	CURL *easy;
	struct curl_slist *headers;
	int added;		/* easy is in multi */
	int done;		/* curl reported the end (result is set) */
	int paused;		/* receiving is paused (silence is not counted) */
	void *owner;		/* the caller's, for http_stream_owner */
	long status;		/* HTTP status, known from the first body byte on */
	int connected;		/* the connection (and TLS) is up */
	int idle_hit;		/* stopped by the silence limit */
	enum dc_err stop_rc;	/* non-OK: the tick stopped the transfer */
	enum dc_err data_rc;	/* non-OK: the data callback stopped it (err is set) */
	CURLcode result;
	long long last_data_ms;
	struct buf errbody;	/* body of an error reply */
	char *err;
	size_t errlen;
	char curlerr[CURL_ERROR_SIZE];
};

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Drop a character cut in half at the end of s (after a truncating snprintf). */
static void utf8_trim_tail(char *s)
{
	size_t len = strlen(s), start = len, back = 0;

	while (start > 0 && back < 4 && ((unsigned char)s[start - 1] & 0xc0) == 0x80) {
		start--;
		back++;
	}
	if (start == 0 || (unsigned char)s[start - 1] < 0x80)
		return;
	start--;
	if (!utf8_valid(s + start, len - start))
		s[start] = '\0';
}

/* The quoting behind http_stream_quote; markup: also drop <...> tags (HTML pages). */
static void quote_text(const char *p, size_t n, size_t max, int markup, char *out,
		       size_t outlen)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0, o = 0, fit = 0, limit, cl, add;
	unsigned long cp;
	int space = 0, cut = 0;
	const char *src;

	if (!outlen)
		return;
	limit = max < outlen - 1 ? max : outlen - 1;
	while (i < n) {
		if (markup && s[i] == '<') {
			while (i < n && s[i] != '>')
				i++;
			if (i < n)
				i++;
			space = o > 0;
			continue;
		}
		if (s[i] <= ' ' || s[i] == 0x7f) {
			space = o > 0;
			i++;
			continue;
		}
		cl = utf8_decode((const char *)s + i, n - i, &cp);
		src = cl ? (const char *)s + i : "?";
		add = cl ? cl : 1;
		if (o + space + add > limit) {
			cut = 1;
			break;
		}
		if (space)
			out[o++] = ' ';
		memcpy(out + o, src, add);
		o += add;
		i += cl ? cl : 1;
		space = 0;
		if (o + 3 <= limit)
			fit = o;
	}
	if (cut && limit >= 3) {
		o = fit;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

void http_stream_quote(const char *p, size_t n, size_t max, char *out, size_t outlen)
{
	quote_text(p, n, max, 0, out, outlen);
}

/* The message an error reply's JSON carries, or NULL. */
static const char *json_error_message(struct json_object *root, size_t *len)
{
	static const char *const keys[] = { "message", "detail", NULL };
	struct json_object *e, *m;
	size_t k;

	if (json_object_object_get_ex(root, "error", &e)) {
		if (json_object_is_type(e, json_type_string)) {
			*len = (size_t)json_object_get_string_len(e);
			return json_object_get_string(e);
		}
		if (json_object_is_type(e, json_type_object) &&
		    json_object_object_get_ex(e, "message", &m) &&
		    json_object_is_type(m, json_type_string)) {
			*len = (size_t)json_object_get_string_len(m);
			return json_object_get_string(m);
		}
	}
	for (k = 0; keys[k]; k++) {
		if (json_object_object_get_ex(root, keys[k], &m) &&
		    json_object_is_type(m, json_type_string)) {
			*len = (size_t)json_object_get_string_len(m);
			return json_object_get_string(m);
		}
	}
	return NULL;
}

struct json_object *http_stream_json_object(const char *body, size_t len)
{
	struct json_tokener *tok;
	struct json_object *obj = NULL;
	size_t end;

	if (len > INT32_MAX || memchr(body, '\0', len))
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	obj = json_tokener_parse_ex(tok, body, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (json_tokener_get_error(tok) != json_tokener_success)
		end = 0;
	json_tokener_free(tok);
	while (end < len && is_space(body[end]))
		end++;
	if (!obj || end != len || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

enum dc_err http_stream_http_error(const char *provider, long status, const char *body,
				   size_t len, char *err, size_t errlen)
{
	char msg[HTTP_STREAM_QUOTE_MAX + 1];
	struct json_object *root;
	const char *text = NULL;
	size_t tlen = 0, lead = 0;

	root = http_stream_json_object(body, len);
	if (root)
		text = json_error_message(root, &tlen);
	if (text) {
		http_stream_quote(text, tlen, HTTP_STREAM_QUOTE_MAX, msg, sizeof(msg));
	} else {
		while (lead < len && is_space(body[lead]))
			lead++;
		quote_text(body, len, HTTP_STREAM_QUOTE_MAX, lead < len && body[lead] == '<',
			   msg, sizeof(msg));
	}
	json_object_put(root);
	if (!msg[0])
		return dc_fail(err, errlen, DC_UPSTREAM, "%s: HTTP %ld", provider, status);
	return dc_fail(err, errlen, DC_UPSTREAM, "%s: HTTP %ld: %s", provider, status, msg);
}

/* The URL as it may be shown: without user, password, query and fragment. */
static void url_for_humans(const char *url, char *out, size_t outlen)
{
	CURLU *u = curl_url();
	char *s = NULL;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_OPTIONS, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK)
		http_stream_quote(s, strlen(s), HTTP_STREAM_URL_MAX, out, outlen);
	else
		http_stream_quote("(invalid URL)", 13, HTTP_STREAM_URL_MAX, out, outlen);
	curl_free(s);
	curl_url_cleanup(u);
}

/* Replace every occurrence of secret in b. On failure b is freed (buf's rule). */
static enum dc_err redact_buf(struct buf *b, const char *secret)
{
	struct buf out;
	size_t slen = secret ? strlen(secret) : 0, i = 0;
	const char *hit;
	enum dc_err rc = DC_OK;

	if (!slen || !b->data)
		return DC_OK;
	buf_init(&out, b->max);
	while (i < b->len) {
		hit = memmem(b->data + i, b->len - i, secret, slen);
		if (!hit) {
			rc = buf_append(&out, b->data + i, b->len - i);
			break;
		}
		rc = buf_append(&out, b->data + i, (size_t)(hit - (b->data + i)));
		if (rc == DC_OK)
			rc = buf_appends(&out, HTTP_STREAM_REDACTED);
		if (rc != DC_OK)
			break;
		i = (size_t)(hit - b->data) + slen;
	}
	buf_free(b);
	if (rc == DC_OK)
		*b = out;
	return rc;
}

/* Remove the secret from an error text in place. */
static void redact_err(char *err, size_t errlen, const char *secret)
{
	struct buf b;

	if (!err || !errlen || !secret || !secret[0] || !strstr(err, secret))
		return;
	buf_init(&b, DC_ERRMAX * 4);
	if (buf_appends(&b, err) != DC_OK || redact_buf(&b, secret) != DC_OK) {
		/* Cannot rebuild the text: drop it rather than show the secret. */
		dc_fail(err, errlen, DC_UPSTREAM, "(error text withheld)");
		return;
	}
	dc_fail(err, errlen, DC_UPSTREAM, "%s", buf_str(&b));
	buf_free(&b);
}

static size_t on_header(char *p, size_t size, size_t nitems, void *ud)
{
	struct http_stream *x = ud;

	(void)p;
	x->last_data_ms = now_ms();
	return size * nitems;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct http_stream *x = ud;
	size_t n = size * nmemb, room;

	x->last_data_ms = now_ms();
	if (x->status == 0)
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->status >= HTTP_STREAM_ERROR_STATUS) {
		room = HTTP_STREAM_ERRBODY_MAX - x->errbody.len;
		if (n > room) {
			/* Enough to quote; stop instead of reading a huge error page. */
			buf_append(&x->errbody, p, room);
			return CURL_WRITEFUNC_ERROR;
		}
		if (buf_append(&x->errbody, p, n) != DC_OK)
			return CURL_WRITEFUNC_ERROR;
		return n;
	}
	if (n == 0)
		return 0;
	x->data_rc = x->req->data(x->req->data_ud, p, n, x->err, x->errlen);
	if (x->data_rc != DC_OK)
		return CURL_WRITEFUNC_ERROR;
	return n;
}

static int on_prereq(void *ud, char *primary_ip, char *local_ip, int primary_port,
		     int local_port)
{
	struct http_stream *x = ud;

	(void)primary_ip;
	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	x->connected = 1;
	x->last_data_ms = now_ms();
	return CURL_PREREQFUNC_OK;
}

/* Build the header list: the caller's lines plus "Expect:", which keeps curl from
 * waiting for a "100 Continue" that model servers do not send. NULL on no memory. */
static struct curl_slist *make_headers(const char *const *headers)
{
	struct curl_slist *list = NULL, *next;
	size_t i;

	for (i = 0; headers && headers[i]; i++) {
		next = curl_slist_append(list, headers[i]);
		if (!next)
			goto fail;
		list = next;
	}
	next = curl_slist_append(list, "Expect:");
	if (!next)
		goto fail;
	return next;
fail:
	curl_slist_free_all(list);
	return NULL;
}

static CURLcode setup_easy(struct http_stream *x, struct curl_slist *headers)
{
	const struct http_stream_req *req = x->req;
	CURL *e = x->easy;
	CURLcode c;

	if ((c = curl_easy_setopt(e, CURLOPT_URL, req->url)) != CURLE_OK ||
	    (c = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
	    (c = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https")) != CURLE_OK ||
	    (c = curl_easy_setopt(e, CURLOPT_USERAGENT, HTTP_STREAM_USER_AGENT)) != CURLE_OK ||
	    (c = curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers)) != CURLE_OK ||
	    (c = curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->curlerr)) != CURLE_OK ||
	    (c = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body)) != CURLE_OK ||
	    (c = curl_easy_setopt(e, CURLOPT_WRITEDATA, x)) != CURLE_OK ||
	    (c = curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header)) != CURLE_OK ||
	    (c = curl_easy_setopt(e, CURLOPT_HEADERDATA, x)) != CURLE_OK ||
	    (c = curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq)) != CURLE_OK ||
	    (c = curl_easy_setopt(e, CURLOPT_PREREQDATA, x)) != CURLE_OK)
		return c;
	if (req->connect_s > 0 &&
	    (c = curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)req->connect_s)) != CURLE_OK)
		return c;
	if (req->total_s > 0 &&
	    (c = curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)req->total_s)) != CURLE_OK)
		return c;
	if (req->body &&
	    ((c = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				   (curl_off_t)req->body_len)) != CURLE_OK ||
	     (c = curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body)) != CURLE_OK))
		return c;
	return CURLE_OK;
}

/* Drive a transfer that runs on a multi handle of its own until it ends, the tick
 * says stop or the silence limit hits. */
static enum dc_err xfer_loop(struct http_stream *x)
{
	const struct http_stream_req *req = x->req;
	long long now, wait, next_tick = now_ms() + HTTP_STREAM_TICK_MS;
	long long idle_ms = (long long)req->idle_s * 1000;
	int running = 1, left;
	CURLMcode mc;
	CURLMsg *msg;

	for (;;) {
		mc = curl_multi_perform(x->multi, &running);
		if (mc != CURLM_OK)
			break;
		if (!running)
			break;
		now = now_ms();
		if (req->tick && now >= next_tick) {
			x->stop_rc = req->tick(req->tick_ud);
			if (x->stop_rc != DC_OK)
				return DC_OK;
			now = now_ms();
			next_tick = now + HTTP_STREAM_TICK_MS;
		}
		if (http_stream_silent(x, now))
			return DC_OK;
		wait = HTTP_STREAM_POLL_MS;
		if (req->tick && next_tick - now < wait)
			wait = next_tick - now;
		if (idle_ms > 0 && x->connected && x->last_data_ms + idle_ms - now < wait)
			wait = x->last_data_ms + idle_ms - now;
		mc = curl_multi_poll(x->multi, NULL, 0, wait > 0 ? (int)wait : 0, NULL);
		if (mc != CURLM_OK)
			break;
	}
	if (mc != CURLM_OK)
		return dc_fail(x->err, x->errlen, mc == CURLM_OUT_OF_MEMORY ? DC_NOMEM : DC_SYSTEM,
			       "%s: %s", req->provider, curl_multi_strerror(mc));
	while ((msg = curl_multi_info_read(x->multi, &left)) != NULL) {
		if (msg->msg == CURLMSG_DONE)
			http_stream_done(x, msg->data.result);
	}
	return DC_OK;
}

/* Turn how the transfer ended into docchat's code and error text. */
static enum dc_err xfer_outcome(struct http_stream *x)
{
	const struct http_stream_req *req = x->req;
	char url[HTTP_STREAM_URL_MAX + 1], why[CURL_ERROR_SIZE];
	const char *cerr;

	if (x->stop_rc != DC_OK)
		return dc_fail(x->err, x->errlen, x->stop_rc, "%s: stopped: %s", req->provider,
			       dc_strerror(x->stop_rc));
	if (x->data_rc != DC_OK)
		return x->data_rc;
	if (x->status == 0)
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->status >= HTTP_STREAM_ERROR_STATUS) {
		if (redact_buf(&x->errbody, req->secret) != DC_OK)
			return dc_fail(x->err, x->errlen, DC_NOMEM, "%s: HTTP %ld", req->provider,
				       x->status);
		return http_stream_http_error(req->provider, x->status, buf_str(&x->errbody),
					      x->errbody.len, x->err, x->errlen);
	}
	if (x->idle_hit)
		return dc_fail(x->err, x->errlen, DC_TIMEOUT,
			       "%s: no data from the model server for %d s", req->provider,
			       req->idle_s);
	if (x->result == CURLE_OK)
		return DC_OK;
	if (x->result == CURLE_OUT_OF_MEMORY)
		return dc_fail(x->err, x->errlen, DC_NOMEM, "%s: out of memory", req->provider);
	cerr = x->curlerr[0] ? x->curlerr : curl_easy_strerror(x->result);
	http_stream_quote(cerr, strlen(cerr), sizeof(why) - 1, why, sizeof(why));
	url_for_humans(req->url, url, sizeof(url));
	if (!x->connected)
		return dc_fail(x->err, x->errlen, DC_UPSTREAM, "%s: cannot reach %s: %s",
			       req->provider, url, why);
	if (x->result == CURLE_OPERATION_TIMEDOUT)
		return dc_fail(x->err, x->errlen, DC_TIMEOUT,
			       "%s: the model server did not answer within %d s", req->provider,
			       req->total_s);
	if (x->status != 0)
		return DC_OK;	/* cut after the reply began: the parser judges */
	return dc_fail(x->err, x->errlen, DC_UPSTREAM, "%s: no answer from %s: %s",
		       req->provider, url, why);
}

static void xfer_free(struct http_stream *x)
{
	/* Removing an unfinished transfer closes its connection at once. */
	if (x->added)
		curl_multi_remove_handle(x->multi, x->easy);
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	buf_free(&x->errbody);
	free(x);
}

static void err_tidy(const struct http_stream_req *req, char *err, size_t errlen)
{
	if (err && errlen) {
		redact_err(err, errlen, req->secret);
		utf8_trim_tail(err);
	}
}

enum dc_err http_stream_start(const struct http_stream_req *req, CURLM *multi,
			      struct http_stream **out, char *err, size_t errlen)
{
	struct http_stream *x = calloc(1, sizeof *x);
	CURLMcode mc;
	CURLcode c;
	enum dc_err rc = DC_OK;

	*out = NULL;
	if (!x)
		return dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", req->provider);
	x->req = req;
	x->multi = multi;
	x->err = err;
	x->errlen = errlen;
	x->last_data_ms = now_ms();
	buf_init(&x->errbody, HTTP_STREAM_ERRBODY_MAX);
	x->headers = make_headers(req->headers);
	x->easy = curl_easy_init();
	if (!x->headers || !x->easy) {
		rc = dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", req->provider);
		goto fail;
	}
	c = setup_easy(x, x->headers);
	if (c == CURLE_OK)
		c = curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (void *)x);
	if (c != CURLE_OK) {
		rc = dc_fail(err, errlen, c == CURLE_OUT_OF_MEMORY ? DC_NOMEM : DC_SYSTEM,
			     "%s: cannot set up the request: %s", req->provider,
			     curl_easy_strerror(c));
		goto fail;
	}
	mc = curl_multi_add_handle(multi, x->easy);
	if (mc != CURLM_OK) {
		rc = dc_fail(err, errlen, DC_SYSTEM, "%s: %s", req->provider,
			     curl_multi_strerror(mc));
		goto fail;
	}
	x->added = 1;
	*out = x;
	return DC_OK;
fail:
	xfer_free(x);
	err_tidy(req, err, errlen);
	return rc;
}

struct http_stream *http_stream_of(CURL *easy)
{
	char *p = NULL;

	if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p) != CURLE_OK)
		return NULL;
	return (struct http_stream *)(void *)p;
}

void http_stream_set_owner(struct http_stream *x, void *owner)
{
	x->owner = owner;
}

void *http_stream_owner(const struct http_stream *x)
{
	return x->owner;
}

void http_stream_done(struct http_stream *x, CURLcode result)
{
	x->result = result;
	x->done = 1;
}

int http_stream_silent(struct http_stream *x, long long now)
{
	long long idle_ms = (long long)x->req->idle_s * 1000;

	if (idle_ms > 0 && x->connected && !x->paused && !x->done &&
	    now - x->last_data_ms >= idle_ms)
		x->idle_hit = 1;
	return x->idle_hit;
}

void http_stream_stop(struct http_stream *x, enum dc_err why)
{
	if (x->stop_rc == DC_OK)
		x->stop_rc = why;
}

void http_stream_pause(struct http_stream *x, int pause)
{
	if (pause == x->paused || x->done)
		return;
	if (curl_easy_pause(x->easy, pause ? CURLPAUSE_RECV : CURLPAUSE_CONT) == CURLE_OK)
		x->paused = pause;
	x->last_data_ms = now_ms();
}

enum dc_err http_stream_end(struct http_stream *x, long *status)
{
	const struct http_stream_req *req = x->req;
	char *err = x->err;
	size_t errlen = x->errlen;
	enum dc_err rc = xfer_outcome(x);

	if (status)
		*status = x->status;
	xfer_free(x);
	if (rc != DC_OK)
		err_tidy(req, err, errlen);
	return rc;
}

enum dc_err http_stream_run(const struct http_stream_req *req, long *status,
			    char *err, size_t errlen)
{
	struct http_stream *x = NULL;
	CURLM *multi = curl_multi_init();
	enum dc_err rc;

	if (status)
		*status = 0;
	if (!multi)
		return dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", req->provider);
	rc = http_stream_start(req, multi, &x, err, errlen);
	if (rc == DC_OK) {
		rc = xfer_loop(x);
		if (rc == DC_OK) {
			rc = http_stream_end(x, status);
		} else {
			xfer_free(x);
			err_tidy(req, err, errlen);
		}
	}
	curl_multi_cleanup(multi);
	return rc;
}

#define NAMES_EXCERPT_MAX 100	/* bytes of a malformed model list quoted in an error */

static int names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

enum dc_err http_stream_names(const char *provider, const char *body, size_t len,
			      const char *array_key, const char *name_key, char ***names,
			      size_t *n, char *err, size_t errlen)
{
	struct json_object *root, *data = NULL, *item, *id;
	char ex[NAMES_EXCERPT_MAX + 1];
	char **list = NULL;
	size_t i, count, k = 0;
	enum dc_err rc = DC_OK;

	*names = NULL;
	*n = 0;
	root = http_stream_json_object(body, len);
	if (!root || !json_object_object_get_ex(root, array_key, &data) ||
	    !json_object_is_type(data, json_type_array)) {
		http_stream_quote(body, len, NAMES_EXCERPT_MAX, ex, sizeof(ex));
		rc = dc_fail(err, errlen, DC_UPSTREAM,
			     "%s: the model list from the model server is malformed: %s", provider, ex);
		goto out;
	}
	count = json_object_array_length(data);
	list = calloc(count ? count : 1, sizeof(*list));
	if (!list) {
		rc = dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", provider);
		goto out;
	}
	for (i = 0; i < count; i++) {
		item = json_object_array_get_idx(data, i);
		if (!json_object_is_type(item, json_type_object) ||
		    !json_object_object_get_ex(item, name_key, &id) ||
		    !json_object_is_type(id, json_type_string) ||
		    json_object_get_string_len(id) == 0)
			continue;
		list[k] = strdup(json_object_get_string(id));
		if (!list[k]) {
			rc = dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", provider);
			goto out;
		}
		k++;
	}
	qsort(list, k, sizeof(*list), names_cmp);
	*names = list;
	*n = k;
	list = NULL;
out:
	if (list)
		names_free(list, k);
	json_object_put(root);
	return rc;
}
