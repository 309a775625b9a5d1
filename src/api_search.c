/* api_search.c - GET /search?q=...&top_k=...&mode=keyword|vector|hybrid: the passages
 * a question retrieves, without asking a model.
 *
 * Validates the query string (q required, valid UTF-8, within DOCCHAT_MAX_QUESTION;
 * top_k 1..CHAT_TOP_K_MAX; mode one of the three) and answers
 * {"query", "mode", "results": [hit...]} with hits shaped as in the chat's sources
 * event, plus "warning" when vector search failed and keyword search answered instead.
 * Ranking is search.c's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "buf.h"
#include "chat.h"
#include "config.h"
#include "request.h"
#include "response.h"
#include "search.h"
#include "utf8.h"

#define SEARCH_QUERY_VALUE_MAX (1024 * 1024)	/* longest query value decoded */
#define SEARCH_NUMBER_MAX 32

struct search_input {
	struct buf q;
	int top_k;
	enum search_mode mode;
};

/* The parameter name from the query into out (found: 1, absent: 0); 400 and -1 when
 * it is malformed or not UTF-8. */
static int get_param(struct request *r, const char *name, struct buf *out)
{
	int found = request_query_get(r->query, name, out);

	if (found < 0) {
		response_error(r, 400, "query parameter \"%s\" is malformed", name);
		return -1;
	}
	if (found && !utf8_valid(buf_str(out), out->len)) {
		response_error(r, 400, "query parameter \"%s\" is not valid UTF-8", name);
		return -1;
	}
	return found;
}

static int get_q(struct request *r, struct search_input *in)
{
	int found = get_param(r, "q", &in->q);

	if (found < 0)
		return 0;
	if (!found) {
		response_error(r, 400, "\"q\" is required");
		return 0;
	}
	if (strspn(buf_str(&in->q), " \t\r\n") == in->q.len) {
		response_error(r, 400, "\"q\" must not be empty");
		return 0;
	}
	if (in->q.len > r->cfg->max_question) {
		response_error(r, 400, "\"q\" is %zu bytes, longer than the limit of %zu",
			       in->q.len, r->cfg->max_question);
		return 0;
	}
	return 1;
}

static int get_top_k(struct request *r, struct search_input *in)
{
	struct buf v;
	char *end;
	long k = 0;
	int found, ok = 1;

	in->top_k = r->cfg->top_k;
	buf_init(&v, SEARCH_NUMBER_MAX);
	found = get_param(r, "top_k", &v);
	if (found < 0) {
		ok = 0;
		goto out;
	}
	if (found) {
		errno = 0;
		k = strtol(buf_str(&v), &end, 10);
		if (v.len == 0 || *end || errno || k < 1 || k > CHAT_TOP_K_MAX) {
			response_error(r, 400, "\"top_k\" must be an integer from 1 to %d",
				       CHAT_TOP_K_MAX);
			ok = 0;
			goto out;
		}
		in->top_k = (int)k;
	}
out:
	buf_free(&v);
	return ok;
}

static int get_mode(struct request *r, struct search_input *in)
{
	struct buf v;
	int found, ok = 1;

	in->mode = SEARCH_AUTO;
	buf_init(&v, SEARCH_NUMBER_MAX);
	found = get_param(r, "mode", &v);
	if (found < 0) {
		ok = 0;
		goto out;
	}
	if (found && !search_mode_parse(buf_str(&v), &in->mode)) {
		response_error(r, 400, "\"mode\" must be one of keyword, vector, hybrid");
		ok = 0;
		goto out;
	}
	if (in->mode != SEARCH_AUTO && in->mode != SEARCH_KEYWORD &&
	    (!r->cfg->embed_model || !r->cfg->embed_model[0])) {
		response_error(r, 400, "mode %s needs an embedding model, and DOCCHAT_EMBED_MODEL "
			       "is not set", search_mode_name(in->mode));
		ok = 0;
	}
out:
	buf_free(&v);
	return ok;
}

static json_object *results_json(const struct search_input *in, const struct search_used *used,
				 const struct search_hit *hits, size_t n)
{
	json_object *o = json_object_new_object();
	json_object *arr = json_object_new_array();
	size_t i;

	if (!o || !arr) {
		json_object_put(o);
		json_object_put(arr);
		return NULL;
	}
	json_object_object_add(o, "query", json_object_new_string_len(buf_str(&in->q),
								       (int)in->q.len));
	json_object_object_add(o, "mode", json_object_new_string(search_mode_name(used->mode)));
	for (i = 0; i < n; i++)
		json_object_array_add(arr, search_hit_json(&hits[i]));
	json_object_object_add(o, "results", arr);
	if (used->fallback[0]) {
		struct buf w;

		buf_init(&w, 2 * DC_ERRMAX);
		if (buf_printf(&w, "Vector search unavailable (%s); using keyword search",
			       used->fallback) == DC_OK)
			json_object_object_add(o, "warning", json_object_new_string(buf_str(&w)));
		buf_free(&w);
	}
	return o;
}

void api_search(struct request *r)
{
	char err[DC_ERRMAX];
	struct search_input in;
	struct search_used used;
	struct search_hit *hits = NULL;
	size_t n = 0;
	json_object *o = NULL;
	enum dc_err rc;

	memset(&in, 0, sizeof(in));
	buf_init(&in.q, SEARCH_QUERY_VALUE_MAX);
	if (api_need_store(r) || !get_q(r, &in) || !get_top_k(r, &in) || !get_mode(r, &in))
		goto out;
	rc = search_run(r->store, r->cfg, r->user, buf_str(&in.q), in.mode, NULL, 0, in.top_k,
			&hits, &n, &used, err, sizeof(err));
	if (rc != DC_OK) {
		response_error(r, response_status_for(rc), "%s", err);
		goto out;
	}
	o = results_json(&in, &used, hits, n);
	if (!o) {
		response_error(r, 500, "out of memory");
		goto out;
	}
	response_json(r, 200, o);
	if (used.fallback[0])
		dc_fail(r->error, sizeof(r->error), DC_OK, "vector search unavailable: %s",
			used.fallback);
out:
	json_object_put(o);
	search_hits_free(hits, n);
	buf_free(&in.q);
}
