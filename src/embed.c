/* embed.c - the embeddings client (see embed.h).
 *
 * One request per batch of texts: the body is built with json-c, sent through
 * http_stream.c (which also turns HTTP errors into "<provider>: HTTP 404: <message>"
 * and keeps the API key out of every error text), and the whole reply is collected,
 * up to EMBED_REPLY_MAX, before it is parsed: an embeddings reply is one JSON object,
 * not a stream. Parsing checks the reply against the request it answers (how many
 * vectors, in which order) before a single number is trusted; the vectors are then
 * normalized so that everything downstream may compare them by a plain dot product.
 * Knows nothing of chunks, the database or ranking. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "config.h"
#include "embed.h"
#include "http_stream.h"

#define EMBED_REPLY_MAX (64u * 1024 * 1024)	/* largest reply body read */
#define EMBED_BODY_MAX (64u * 1024 * 1024)	/* largest request body built */
#define EMBED_URL_MAX 4096
#define EMBED_AUTH_MAX 4096
#define EMBED_CONNECT_DEFAULT_S 10
#define EMBED_BATCH_DEFAULT 32

/* ---- the model name ---- */

static int embed_provider_known(const char *p, size_t len)
{
	return (len == 6 && memcmp(p, "ollama", 6) == 0) ||
	       (len == 6 && memcmp(p, "openai", 6) == 0);
}

enum dc_err embed_model_parse(const struct config *cfg, const char *spec,
			      struct embed_model *out, char *err, size_t errlen)
{
	const char *colon, *provider, *name;
	size_t plen, nlen, i;

	memset(out, 0, sizeof(*out));
	if (!spec || !*spec)
		return dc_fail(err, errlen, DC_BADREQ, "DOCCHAT_EMBED_MODEL is not set");
	colon = strchr(spec, ':');
	if (colon) {
		provider = spec;
		plen = (size_t)(colon - spec);
		name = colon + 1;
	} else {
		provider = cfg && cfg->default_provider ? cfg->default_provider : "";
		plen = strlen(provider);
		name = spec;
	}
	if (!embed_provider_known(provider, plen))
		return dc_fail(err, errlen, DC_BADREQ,
			       "DOCCHAT_EMBED_MODEL: unknown provider '%.*s' in '%.200s': use "
			       "ollama:NAME or openai:NAME", (int)(plen < 40 ? plen : 40),
			       provider, spec);
	nlen = strlen(name);
	if (nlen == 0)
		return dc_fail(err, errlen, DC_BADREQ,
			       "DOCCHAT_EMBED_MODEL: '%.200s' has no model name after the provider",
			       spec);
	if (nlen >= sizeof(out->name))
		return dc_fail(err, errlen, DC_BADREQ,
			       "DOCCHAT_EMBED_MODEL: the model name is longer than %zu bytes",
			       sizeof(out->name) - 1);
	for (i = 0; i < nlen; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return dc_fail(err, errlen, DC_BADREQ,
				       "DOCCHAT_EMBED_MODEL: the model name contains a control character");
	memcpy(out->provider, provider, plen);
	memcpy(out->name, name, nlen);
	if (snprintf(out->full, sizeof(out->full), "%s:%s", out->provider, out->name) < 0)
		return dc_fail(err, errlen, DC_BADREQ, "DOCCHAT_EMBED_MODEL: cannot format");
	return DC_OK;
}

/* ---- reply validation ---- */

int embed_normalize(float *v, size_t dim)
{
	double sum = 0, len;
	size_t i;

	for (i = 0; i < dim; i++)
		sum += (double)v[i] * (double)v[i];
	len = sqrt(sum);
	if (!(len > 0) || !isfinite(len))
		return 0;
	for (i = 0; i < dim; i++)
		v[i] = (float)((double)v[i] / len);
	return 1;
}

/* The "error" message some servers put in a 200 reply, or NULL. */
static const char *reply_error(json_object *root)
{
	json_object *e, *m;

	if (!json_object_object_get_ex(root, "error", &e) || json_object_is_type(e, json_type_null))
		return NULL;
	if (json_object_is_type(e, json_type_string))
		return json_object_get_string(e);
	if (json_object_is_type(e, json_type_object) &&
	    json_object_object_get_ex(e, "message", &m) && json_object_is_type(m, json_type_string))
		return json_object_get_string(m);
	return "(an error without a message)";
}

/* Copy vector number i (a JSON array) into dst[0..dim); *dim is set by the first vector
 * (*dim == 0) and enforced on the others. */
static enum dc_err take_vector(const char *provider, json_object *arr, size_t i, float **all,
			       size_t n, int *dim, char *err, size_t errlen)
{
	size_t len, j;
	float *dst;

	if (!json_object_is_type(arr, json_type_array))
		return dc_fail(err, errlen, DC_UPSTREAM,
			       "%s: embedding %zu is not a list of numbers", provider, i);
	len = json_object_array_length(arr);
	if (len == 0)
		return dc_fail(err, errlen, DC_UPSTREAM, "%s: embedding %zu is empty", provider, i);
	if (len > EMBED_DIM_MAX)
		return dc_fail(err, errlen, DC_UPSTREAM,
			       "%s: embedding %zu has %zu dimensions, more than the %d docchat accepts",
			       provider, i, len, EMBED_DIM_MAX);
	if (*dim == 0) {
		*all = calloc(n * len, sizeof(**all));
		if (!*all)
			return dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", provider);
		*dim = (int)len;
	} else if (len != (size_t)*dim) {
		return dc_fail(err, errlen, DC_UPSTREAM,
			       "%s: embedding %zu has %zu dimensions, the first has %d", provider,
			       i, len, *dim);
	}
	dst = *all + i * len;
	for (j = 0; j < len; j++) {
		json_object *x = json_object_array_get_idx(arr, j);
		double d;

		if (!json_object_is_type(x, json_type_double) && !json_object_is_type(x, json_type_int))
			return dc_fail(err, errlen, DC_UPSTREAM,
				       "%s: embedding %zu: element %zu is not a number", provider,
				       i, j);
		d = json_object_get_double(x);
		if (!isfinite(d) || fabs(d) > FLT_MAX)
			return dc_fail(err, errlen, DC_UPSTREAM,
				       "%s: embedding %zu: element %zu is not a finite number",
				       provider, i, j);
		dst[j] = (float)d;
	}
	if (!embed_normalize(dst, len))
		return dc_fail(err, errlen, DC_UPSTREAM,
			       "%s: embedding %zu has no direction (all zeros)", provider, i);
	return DC_OK;
}

/* Ollama: {"embeddings": [[...], ...]} in the order of the inputs. */
static enum dc_err parse_ollama(json_object *root, size_t n, float **all, int *dim,
				char *err, size_t errlen)
{
	json_object *list;
	enum dc_err rc = DC_OK;
	size_t i;

	if (!json_object_object_get_ex(root, "embeddings", &list) ||
	    !json_object_is_type(list, json_type_array))
		return dc_fail(err, errlen, DC_UPSTREAM,
			       "ollama: the reply has no \"embeddings\" list");
	if (json_object_array_length(list) != n)
		return dc_fail(err, errlen, DC_UPSTREAM,
			       "ollama: the reply has %zu embeddings for %zu texts",
			       json_object_array_length(list), n);
	for (i = 0; rc == DC_OK && i < n; i++)
		rc = take_vector("ollama", json_object_array_get_idx(list, i), i, all, n, dim,
				 err, errlen);
	return rc;
}

/* The "index" of one OpenAI data item, checked against n and earlier items. */
static enum dc_err openai_index(json_object *item, size_t pos, size_t n, unsigned char *seen,
				size_t *idx, char *err, size_t errlen)
{
	json_object *v;
	int64_t k;

	if (!json_object_is_type(item, json_type_object) ||
	    !json_object_object_get_ex(item, "index", &v) || !json_object_is_type(v, json_type_int))
		return dc_fail(err, errlen, DC_UPSTREAM,
			       "openai: data item %zu has no integer \"index\"", pos);
	k = json_object_get_int64(v);
	if (k < 0 || (uint64_t)k >= n)
		return dc_fail(err, errlen, DC_UPSTREAM,
			       "openai: data item %zu has index %lld, outside 0..%zu", pos,
			       (long long)k, n - 1);
	if (seen[k])
		return dc_fail(err, errlen, DC_UPSTREAM,
			       "openai: index %lld appears twice in the reply", (long long)k);
	seen[k] = 1;
	*idx = (size_t)k;
	return DC_OK;
}

/* OpenAI: {"data": [{"index": i, "embedding": [...]}, ...]}, items in any order. */
static enum dc_err parse_openai(json_object *root, size_t n, float **all, int *dim,
				char *err, size_t errlen)
{
	json_object *list, *item, *vec;
	unsigned char *seen = NULL;
	enum dc_err rc = DC_OK;
	size_t i, idx = 0;

	if (!json_object_object_get_ex(root, "data", &list) ||
	    !json_object_is_type(list, json_type_array))
		return dc_fail(err, errlen, DC_UPSTREAM, "openai: the reply has no \"data\" list");
	if (json_object_array_length(list) != n)
		return dc_fail(err, errlen, DC_UPSTREAM,
			       "openai: the reply has %zu embeddings for %zu texts",
			       json_object_array_length(list), n);
	seen = calloc(n, 1);
	if (!seen)
		return dc_fail(err, errlen, DC_NOMEM, "openai: out of memory");
	for (i = 0; rc == DC_OK && i < n; i++) {
		item = json_object_array_get_idx(list, i);
		rc = openai_index(item, i, n, seen, &idx, err, errlen);
		if (rc != DC_OK)
			break;
		if (!json_object_object_get_ex(item, "embedding", &vec))
			vec = NULL;
		rc = take_vector("openai", vec, idx, all, n, dim, err, errlen);
	}
	free(seen);
	return rc;
}

enum dc_err embed_parse_reply(const char *provider, const char *body, size_t len, size_t n,
			      float **vectors, int *dim, char *err, size_t errlen)
{
	json_object *root = NULL;
	const char *msg;
	char quoted[DC_ERRMAX / 2];
	float *all = NULL;
	int d = 0;
	enum dc_err rc;

	*vectors = NULL;
	*dim = 0;
	if (n == 0)
		return dc_fail(err, errlen, DC_UPSTREAM, "%s: no texts to embed", provider);
	root = http_stream_json_object(body, len);
	if (!root) {
		rc = dc_fail(err, errlen, DC_UPSTREAM, "%s: the embeddings reply is not a JSON object",
			     provider);
		goto out;
	}
	msg = reply_error(root);
	if (msg) {
		http_stream_quote(msg, strlen(msg), sizeof(quoted) - 1, quoted, sizeof(quoted));
		rc = dc_fail(err, errlen, DC_UPSTREAM, "%s: %s", provider, quoted);
		goto out;
	}
	if (strcmp(provider, "openai") == 0)
		rc = parse_openai(root, n, &all, &d, err, errlen);
	else
		rc = parse_ollama(root, n, &all, &d, err, errlen);
	if (rc != DC_OK)
		goto out;
	*vectors = all;
	*dim = d;
	all = NULL;
out:
	free(all);
	json_object_put(root);
	return rc;
}

/* ---- one request ---- */

static enum dc_err collect(void *ud, const char *p, size_t n, char *err, size_t errlen)
{
	struct buf *b = ud;
	enum dc_err rc = buf_append(b, p, n);

	if (rc == DC_TOOBIG)
		return dc_fail(err, errlen, DC_UPSTREAM,
			       "embeddings: the reply is larger than %u MiB (lower DOCCHAT_EMBED_BATCH)",
			       EMBED_REPLY_MAX / (1024 * 1024));
	if (rc != DC_OK)
		return dc_fail(err, errlen, rc, "embeddings: out of memory");
	return DC_OK;
}

static enum dc_err build_body(const struct embed_model *m, const char *const *texts,
			      size_t n, struct buf *out, char *err, size_t errlen)
{
	json_object *root = json_object_new_object();
	json_object *input = json_object_new_array();
	const char *text;
	size_t len, i;
	enum dc_err rc = DC_NOMEM;

	if (!root || !input)
		goto out;
	for (i = 0; i < n; i++)
		if (json_object_array_add(input, json_object_new_string(texts[i] ? texts[i] : "")) != 0)
			goto out;
	json_object_object_add(root, "model", json_object_new_string(m->name));
	json_object_object_add(root, "input", input);
	input = NULL;
	if (strcmp(m->provider, "openai") == 0)
		json_object_object_add(root, "encoding_format", json_object_new_string("float"));
	text = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN |
						 JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (!text)
		goto out;
	rc = buf_append(out, text, len);
out:
	json_object_put(input);
	json_object_put(root);
	if (rc == DC_TOOBIG)
		return dc_fail(err, errlen, rc, "%s: the texts to embed exceed %u MiB", m->provider,
			       EMBED_BODY_MAX / (1024 * 1024));
	if (rc != DC_OK)
		return dc_fail(err, errlen, rc, "%s: out of memory", m->provider);
	return DC_OK;
}

/* URL and headers (slots for 3 lines and the NULL) of a request to m's provider. */
static enum dc_err build_target(const struct config *cfg, const struct embed_model *m,
				struct buf *url, struct buf *auth, const char **headers,
				char *err, size_t errlen)
{
	int openai = strcmp(m->provider, "openai") == 0;
	const char *base = openai ? cfg->openai_url : cfg->ollama_url;
	size_t nh = 0;

	if (!base || !base[0])
		return dc_fail(err, errlen, DC_BADREQ, "%s: no server URL is configured (%s)",
			       m->provider, openai ? "DOCCHAT_OPENAI_URL" : "DOCCHAT_OLLAMA_URL");
	if (buf_printf(url, "%s%s", base, openai ? "/embeddings" : "/api/embed") != DC_OK)
		return dc_fail(err, errlen, DC_BADREQ, "%s: the server URL is too long", m->provider);
	headers[nh++] = "Content-Type: application/json";
	headers[nh++] = "Accept: application/json";
	if (openai && cfg->openai_key && cfg->openai_key[0]) {
		if (buf_printf(auth, "Authorization: Bearer %s", cfg->openai_key) != DC_OK)
			return dc_fail(err, errlen, DC_BADREQ, "openai: the API key is too long");
		headers[nh++] = buf_str(auth);
	}
	headers[nh] = NULL;
	return DC_OK;
}

static enum dc_err embed_batch(const struct config *cfg, const struct embed_model *m,
			       const char *const *texts, size_t n, int total_s,
			       const struct embed_tick *tick, float **vectors, int *dim,
			       char *err, size_t errlen)
{
	struct http_stream_req hreq;
	struct buf url, auth, body, reply;
	const char *headers[4];
	enum dc_err rc;

	buf_init(&url, EMBED_URL_MAX);
	buf_init(&auth, EMBED_AUTH_MAX);
	buf_init(&body, EMBED_BODY_MAX);
	buf_init(&reply, EMBED_REPLY_MAX);
	rc = build_target(cfg, m, &url, &auth, headers, err, errlen);
	if (rc != DC_OK)
		goto out;
	rc = build_body(m, texts, n, &body, err, errlen);
	if (rc != DC_OK)
		goto out;
	memset(&hreq, 0, sizeof(hreq));
	hreq.provider = m->provider;
	hreq.url = buf_str(&url);
	hreq.body = buf_str(&body);
	hreq.body_len = body.len;
	hreq.headers = headers;
	hreq.secret = strcmp(m->provider, "openai") == 0 ? cfg->openai_key : NULL;
	hreq.connect_s = cfg->upstream_connect_s > 0 ? cfg->upstream_connect_s
						     : EMBED_CONNECT_DEFAULT_S;
	hreq.idle_s = cfg->upstream_idle_s;
	hreq.total_s = total_s;
	hreq.data = collect;
	hreq.data_ud = &reply;
	if (tick) {
		hreq.tick = tick->fn;
		hreq.tick_ud = tick->ud;
	}
	rc = http_stream_run(&hreq, NULL, err, errlen);
	if (rc == DC_OK)
		rc = embed_parse_reply(m->provider, buf_str(&reply), reply.len, n, vectors, dim,
				       err, errlen);
out:
	buf_free(&reply);
	buf_free(&body);
	buf_free_secret(&auth);
	buf_free(&url);
	return rc;
}

enum dc_err embed_texts(const struct config *cfg, const struct embed_model *m,
			const char *const *texts, size_t n, int total_s, float **vectors,
			int *dim, char *err, size_t errlen)
{
	return embed_texts_ticked(cfg, m, texts, n, total_s, NULL, vectors, dim, err, errlen);
}

enum dc_err embed_texts_ticked(const struct config *cfg, const struct embed_model *m,
			       const char *const *texts, size_t n, int total_s,
			       const struct embed_tick *tick, float **vectors, int *dim,
			       char *err, size_t errlen)
{
	size_t batch = cfg->embed_batch > 0 ? (size_t)cfg->embed_batch : EMBED_BATCH_DEFAULT;
	size_t off, cnt;
	float *all = NULL, *part = NULL;
	int d = 0, pd = 0;
	enum dc_err rc = DC_OK;

	*vectors = NULL;
	*dim = 0;
	if (n == 0)
		return dc_fail(err, errlen, DC_BADREQ, "%s: no texts to embed", m->provider);
	for (off = 0; off < n; off += cnt) {
		cnt = n - off < batch ? n - off : batch;
		rc = embed_batch(cfg, m, texts + off, cnt, total_s, tick, &part, &pd, err, errlen);
		if (rc != DC_OK)
			goto out;
		if (!all) {
			d = pd;
			if (n > SIZE_MAX / sizeof(*all) / (size_t)d) {
				rc = dc_fail(err, errlen, DC_NOMEM, "%s: too many texts", m->provider);
				goto out;
			}
			all = calloc(n * (size_t)d, sizeof(*all));
			if (!all) {
				rc = dc_fail(err, errlen, DC_NOMEM, "%s: out of memory", m->provider);
				goto out;
			}
		} else if (pd != d) {
			rc = dc_fail(err, errlen, DC_UPSTREAM,
				     "%s: the model answered with %d dimensions, earlier with %d",
				     m->provider, pd, d);
			goto out;
		}
		memcpy(all + off * (size_t)d, part, cnt * (size_t)d * sizeof(*all));
		free(part);
		part = NULL;
	}
	*vectors = all;
	*dim = d;
	all = NULL;
out:
	free(part);
	free(all);
	return rc;
}
