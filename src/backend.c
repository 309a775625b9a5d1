/* backend.c - picking the model backend for a provider name (see backend.h).
 *
 * A table maps each provider to its stream and model-list functions; this file only
 * dispatches and names the known providers when a request asks for another. The
 * network, the wire formats and the offline answers live in backend_openai.c,
 * backend_ollama.c and backend_extractive.c. */
#include <stdlib.h>
#include <string.h>

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
	enum dc_err (*stream)(const struct config *cfg, const struct backend_req *req,
			      const struct backend_cb *cb, struct backend_result *res,
			      char *err, size_t errlen);
	enum dc_err (*list)(const struct config *cfg, char ***names, size_t *n,
			    char *err, size_t errlen);
};

/* Keep in the order of backend_impls. */
const char *const backend_providers[] = { "openai", "ollama", "extractive", NULL };

static enum dc_err extractive_stream(const struct config *cfg, const struct backend_req *req,
				     const struct backend_cb *cb, struct backend_result *res,
				     char *err, size_t errlen)
{
	(void)cfg;
	return backend_extractive_stream(req, cb, res, err, errlen);
}

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
	{ "openai", backend_openai_stream, backend_openai_list_models },
	{ "ollama", backend_ollama_stream, backend_ollama_list_models },
	{ "extractive", extractive_stream, extractive_list },
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

enum dc_err backend_stream(const struct config *cfg, const struct backend_req *req,
			   const struct backend_cb *cb, struct backend_result *res,
			   char *err, size_t errlen)
{
	const struct backend_impl *impl;

	res->finish_reason[0] = '\0';
	res->prompt_tokens = -1;
	res->completion_tokens = -1;
	impl = backend_find(req->provider);
	if (!impl)
		return unknown_provider(req->provider, err, errlen);
	return impl->stream(cfg, req, cb, res, err, errlen);
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
