/* backend.c - picking the model backend for a provider name, and running an answer
 * (see backend.h).
 *
 * A table maps each provider to its open and model-list functions. An HTTP provider's
 * open prepares a backend_http (request, body, parser); this file runs it, either
 * blocking (http_stream_run) or on a caller's multi handle (backend_run), and hands the
 * body's end to the parser. The extractive backend composes its answer at open and is
 * handed out word by word. The wire formats and the offline answers live in
 * backend_openai.c, backend_ollama.c and backend_extractive.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "backend_extractive.h"
#include "backend_ollama.h"
#include "backend_openai.h"
#include "buf.h"
#include "http_stream.h"

#define BACKEND_NAME_QUOTE_MAX 64	/* bytes of an unknown provider name echoed back */
#define BACKEND_KNOWN_MAX 256		/* room for the list of known providers */

struct backend_impl {
	const char *name;
	/* HTTP providers: prepare the request; NULL for extractive */
	enum dc_err (*open)(const struct config *cfg, const struct backend_req *req,
			    const struct backend_cb *cb, struct backend_result *res,
			    struct backend_http *h, char *err, size_t errlen);
	enum dc_err (*list)(const struct config *cfg, char ***names, size_t *n,
			    char *err, size_t errlen);
};

/* Keep in the order of backend_impls. */
const char *const backend_providers[] = { "openai", "ollama", "extractive", NULL };

/* The extractive backend has one model, named after itself. */
static enum dc_err extractive_list(const struct config *cfg, char ***names, size_t *n,
				   char *err, size_t errlen)
{
	char **list;

	(void)cfg;
	list = calloc(1, sizeof(*list));
	if (list)
		list[0] = strdup("extractive");
	if (!list || !list[0]) {
		free(list);
		return dc_fail(err, errlen, DC_NOMEM, "extractive: out of memory");
	}
	*names = list;
	*n = 1;
	return DC_OK;
}

static const struct backend_impl backend_impls[] = {
	{ "openai", backend_openai_open, backend_openai_list_models },
	{ "ollama", backend_ollama_open, backend_ollama_list_models },
	{ "extractive", NULL, extractive_list },
};

static const struct backend_impl *backend_find(const char *name)
{
	size_t i;

	for (i = 0; name && i < sizeof(backend_impls) / sizeof(backend_impls[0]); i++) {
		if (strcmp(backend_impls[i].name, name) == 0)
			return &backend_impls[i];
	}
	return NULL;
}

int backend_known(const char *name)
{
	size_t i;

	for (i = 0; name && backend_providers[i]; i++) {
		if (strcmp(backend_providers[i], name) == 0)
			return 1;
	}
	return 0;
}

/* DC_BADREQ naming the provider asked for and the known ones. */
static enum dc_err unknown_provider(const char *name, char *err, size_t errlen)
{
	char quoted[BACKEND_NAME_QUOTE_MAX + 1];
	struct buf known;
	size_t i;
	enum dc_err rc = DC_OK;

	buf_init(&known, BACKEND_KNOWN_MAX);
	for (i = 0; backend_providers[i] && rc == DC_OK; i++)
		rc = buf_printf(&known, "%s%s", i ? ", " : "", backend_providers[i]);
	if (!name || !name[0]) {
		rc = dc_fail(err, errlen, DC_BADREQ, "no provider was named (known: %s)",
			     buf_str(&known));
	} else {
		http_stream_quote(name, strlen(name), BACKEND_NAME_QUOTE_MAX, quoted,
				  sizeof(quoted));
		rc = dc_fail(err, errlen, DC_BADREQ, "unknown provider '%s' (known: %s)", quoted,
			     buf_str(&known));
	}
	buf_free(&known);
	return rc;
}

void backend_http_init(struct backend_http *h, size_t url_max, size_t body_max,
		       size_t auth_max)
{
	memset(h, 0, sizeof(*h));
	buf_init(&h->url, url_max);
	buf_init(&h->body, body_max);
	buf_init(&h->auth, auth_max);
}

void backend_http_ready(struct backend_http *h, const char *provider, const char *secret,
			int connect_s, int idle_s, http_stream_data_fn feed, void *parser,
			const struct backend_cb *cb)
{
	h->hreq.provider = provider;
	h->hreq.url = buf_str(&h->url);
	h->hreq.body = buf_str(&h->body);
	h->hreq.body_len = h->body.len;
	h->hreq.headers = h->headers;
	h->hreq.secret = secret;
	h->hreq.connect_s = connect_s;
	h->hreq.idle_s = idle_s;
	h->hreq.data = feed;
	h->hreq.data_ud = parser;
	h->hreq.tick = cb->tick;
	h->hreq.tick_ud = cb->ud;
}

void backend_http_free(struct backend_http *h)
{
	buf_free_secret(&h->auth);
	buf_free(&h->body);
	buf_free(&h->url);
	if (h->parser_free)
		h->parser_free(h->parser);
	h->parser = NULL;
}

struct backend_run {
	const struct backend_impl *impl;
	struct backend_cb cb;
	struct backend_result *res;
	char *err;
	size_t errlen;
	enum dc_err stop_rc;		/* the caller stopped the answer */
	/* HTTP providers */
	struct backend_http http;
	struct http_stream *xfer;	/* while on a multi handle */
	/* extractive */
	struct extractive_words words;
	int delay_ms;
	int more;			/* words left */
	enum dc_err step_rc;		/* a word's token callback refused it */
};

static void reset_result(struct backend_result *res)
{
	res->finish_reason[0] = '\0';
	res->prompt_tokens = -1;
	res->completion_tokens = -1;
}

enum dc_err backend_run_open(const struct config *cfg, const struct backend_req *req,
			     const struct backend_cb *cb, struct backend_result *res,
			     struct backend_run **out, char *err, size_t errlen)
{
	const struct backend_impl *impl = backend_find(req->provider);
	struct backend_run *r;
	enum dc_err rc;

	*out = NULL;
	reset_result(res);
	if (!impl)
		return unknown_provider(req->provider, err, errlen);
	r = calloc(1, sizeof(*r));
	if (!r)
		return dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", impl->name);
	r->impl = impl;
	r->cb = *cb;
	r->res = res;
	r->err = err;
	r->errlen = errlen;
	if (impl->open) {
		rc = impl->open(cfg, req, &r->cb, res, &r->http, err, errlen);
	} else {
		rc = backend_extractive_open(req, res, &r->words, err, errlen);
		r->delay_ms = req->delay_ms;
		r->more = 1;
	}
	if (rc != DC_OK) {
		backend_run_free(r);
		return rc;
	}
	*out = r;
	return DC_OK;
}

int backend_run_is_http(const struct backend_run *r)
{
	return r->impl->open != NULL;
}

enum dc_err backend_run_start(struct backend_run *r, CURLM *multi)
{
	return http_stream_start(&r->http.hreq, multi, &r->xfer, r->err, r->errlen);
}

struct http_stream *backend_run_transfer(struct backend_run *r)
{
	return r->xfer;
}

void backend_run_done(struct backend_run *r, CURLcode result)
{
	if (r->xfer)
		http_stream_done(r->xfer, result);
}

int backend_run_silent(struct backend_run *r, long long now)
{
	return r->xfer && http_stream_silent(r->xfer, now);
}

void backend_run_pause(struct backend_run *r, int pause)
{
	if (r->xfer)
		http_stream_pause(r->xfer, pause);
}

enum dc_err backend_run_step(struct backend_run *r, int *more, int *delay_ms)
{
	enum dc_err rc = DC_OK;

	*delay_ms = r->delay_ms;
	if (r->more && r->stop_rc == DC_OK && r->step_rc == DC_OK) {
		rc = backend_extractive_next(&r->words, &r->cb, r->res, &r->more);
		if (rc != DC_OK) {
			r->step_rc = rc;
			r->more = 0;
		}
	}
	*more = r->more && r->stop_rc == DC_OK;
	return rc;
}

void backend_run_stop(struct backend_run *r, enum dc_err why)
{
	if (r->stop_rc == DC_OK)
		r->stop_rc = why;
	if (r->xfer)
		http_stream_stop(r->xfer, why);
}

static enum dc_err end_words(struct backend_run *r)
{
	enum dc_err rc = r->step_rc != DC_OK ? r->step_rc : r->stop_rc;

	if (rc != DC_OK)
		return dc_fail(r->err, r->errlen, rc, "extractive: stopped: %s", dc_strerror(rc));
	if (r->more)
		return dc_fail(r->err, r->errlen, DC_SYSTEM, "extractive: ended early");
	memcpy(r->res->finish_reason, "stop", sizeof("stop"));
	return DC_OK;
}

enum dc_err backend_run_end(struct backend_run *r)
{
	enum dc_err rc;

	if (!backend_run_is_http(r))
		return end_words(r);
	if (!r->xfer)
		return dc_fail(r->err, r->errlen, DC_SYSTEM, "%s: the request never started",
			       r->impl->name);
	rc = http_stream_end(r->xfer, NULL);
	r->xfer = NULL;
	if (rc == DC_OK)
		rc = r->http.finish(r->http.parser, r->err, r->errlen);
	return rc;
}

void backend_run_free(struct backend_run *r)
{
	if (!r)
		return;
	if (r->xfer)
		http_stream_end(r->xfer, NULL);
	if (r->impl->open)
		backend_http_free(&r->http);
	else
		backend_extractive_close(&r->words);
	free(r);
}

enum dc_err backend_stream(const struct config *cfg, const struct backend_req *req,
			   const struct backend_cb *cb, struct backend_result *res,
			   char *err, size_t errlen)
{
	const struct backend_impl *impl;
	struct backend_http h;
	enum dc_err rc;

	reset_result(res);
	impl = backend_find(req->provider);
	if (!impl)
		return unknown_provider(req->provider, err, errlen);
	if (!impl->open)
		return backend_extractive_stream(req, cb, res, err, errlen);
	rc = impl->open(cfg, req, cb, res, &h, err, errlen);
	if (rc == DC_OK)
		rc = http_stream_run(&h.hreq, NULL, err, errlen);
	if (rc == DC_OK)
		rc = h.finish(h.parser, err, errlen);
	backend_http_free(&h);
	return rc;
}

enum dc_err backend_list_models(const struct config *cfg, const char *provider,
				char ***names, size_t *n, char *err, size_t errlen)
{
	const struct backend_impl *impl;

	*names = NULL;
	*n = 0;
	impl = backend_find(provider);
	if (!impl)
		return unknown_provider(provider, err, errlen);
	return impl->list(cfg, names, n, err, errlen);
}

void backend_names_free(char **names, size_t n)
{
	size_t i;

	if (!names)
		return;
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}
