/* api_sessions.c - /sessions: create, list, read (with messages), rename, delete.
 *
 * Validates titles (a string of 1..SESSION_TITLE_MAX bytes, valid UTF-8 is guaranteed by
 * the JSON parser) and turns stored rows into JSON. Stored sources and metadata are
 * JSON text written by chat.c; a row whose text does not parse is shown as null rather
 * than breaking the whole session. */
#include <string.h>

#include "api.h"
#include "request.h"
#include "response.h"
#include "store.h"

#define SESSION_TITLE_MAX 200

json_object *api_session_json(const struct store_session *s)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "id", json_object_new_string(s->id));
	json_object_object_add(o, "title", json_object_new_string(s->title ? s->title : ""));
	json_object_object_add(o, "created_at", json_object_new_int64(s->created_at));
	json_object_object_add(o, "updated_at", json_object_new_int64(s->updated_at));
	json_object_object_add(o, "message_count", json_object_new_int64(s->message_count));
	return o;
}

/* The "title" member: absent (NULL, ok), or a non-empty string within the limit. */
static int read_title(struct request *r, json_object *body, int required, const char **title)
{
	json_object *t;

	*title = NULL;
	if (!json_object_object_get_ex(body, "title", &t) || json_object_is_type(t, json_type_null)) {
		if (required)
			response_error(r, 400, "\"title\" is required");
		return !required;
	}
	if (!json_object_is_type(t, json_type_string)) {
		response_error(r, 400, "\"title\" must be a string");
		return 0;
	}
	if (json_object_get_string_len(t) > SESSION_TITLE_MAX) {
		response_error(r, 400, "\"title\" is longer than %d bytes", SESSION_TITLE_MAX);
		return 0;
	}
	if (required && json_object_get_string_len(t) == 0) {
		response_error(r, 400, "\"title\" must not be empty");
		return 0;
	}
	*title = json_object_get_string(t);
	return 1;
}

static void reply_store_error(struct request *r, enum dc_err rc, const char *err)
{
	if (rc == DC_NOTFOUND)
		response_error(r, 404, "no such session: %s", r->params[0]);
	else
		response_error(r, response_status_for(rc), "%s", err);
}

static json_object *json_or_null(const char *text)
{
	return text ? json_tokener_parse(text) : NULL;
}

static json_object *message_json(const struct store_message *m)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "id", json_object_new_int64(m->id));
	json_object_object_add(o, "role", json_object_new_string(m->role));
	json_object_object_add(o, "content", json_object_new_string(m->content ? m->content : ""));
	json_object_object_add(o, "status", json_object_new_string(m->status));
	json_object_object_add(o, "model", m->model ? json_object_new_string(m->model) : NULL);
	json_object_object_add(o, "error", m->error ? json_object_new_string(m->error) : NULL);
	json_object_object_add(o, "sources", json_or_null(m->sources));
	json_object_object_add(o, "metadata", json_or_null(m->metadata));
	json_object_object_add(o, "created_at", json_object_new_int64(m->created_at));
	return o;
}

void api_session_create(struct request *r)
{
	char err[DC_ERRMAX];
	json_object *body = NULL, *o = NULL;
	struct store_session s;
	const char *title;
	enum dc_err rc;

	memset(&s, 0, sizeof s);
	if (api_need_store(r))
		return;
	rc = request_json_body(r, 1, &body, err, sizeof err);
	if (rc != DC_OK) {
		response_error(r, response_status_for(rc), "%s", err);
		goto out;
	}
	if (!read_title(r, body, 0, &title))
		goto out;
	rc = store_session_create(r->store, r->user, title, &s, err, sizeof err);
	if (rc != DC_OK) {
		reply_store_error(r, rc, err);
		goto out;
	}
	o = api_session_json(&s);
	if (o)
		response_json(r, 201, o);
out:
	json_object_put(o);
	json_object_put(body);
	store_session_clear(&s);
}

void api_session_list(struct request *r)
{
	char err[DC_ERRMAX];
	struct store_session *list = NULL;
	size_t n = 0;
	json_object *o = NULL, *arr;
	enum dc_err rc;

	if (api_need_store(r))
		return;
	rc = store_session_list(r->store, r->user, &list, &n, err, sizeof err);
	if (rc != DC_OK) {
		response_error(r, response_status_for(rc), "%s", err);
		return;
	}
	o = json_object_new_object();
	arr = json_object_new_array();
	if (o && arr) {
		for (size_t i = 0; i < n; i++)
			json_object_array_add(arr, api_session_json(&list[i]));
		json_object_object_add(o, "sessions", arr);
		arr = NULL;
		response_json(r, 200, o);
	}
	json_object_put(arr);
	json_object_put(o);
	store_sessions_free(list, n);
}

void api_session_get(struct request *r)
{
	char err[DC_ERRMAX];
	struct store_session s;
	struct store_message *msgs = NULL;
	size_t n = 0;
	json_object *o = NULL, *arr;
	enum dc_err rc;

	memset(&s, 0, sizeof s);
	if (api_need_store(r))
		return;
	rc = store_session_get(r->store, r->user, r->params[0], &s, err, sizeof err);
	if (rc == DC_OK)
		rc = store_message_list(r->store, s.id, &msgs, &n, err, sizeof err);
	if (rc != DC_OK) {
		reply_store_error(r, rc, err);
		goto out;
	}
	o = api_session_json(&s);
	arr = json_object_new_array();
	if (o && arr) {
		for (size_t i = 0; i < n; i++)
			json_object_array_add(arr, message_json(&msgs[i]));
		json_object_object_add(o, "messages", arr);
		response_json(r, 200, o);
	} else {
		json_object_put(arr);
	}
out:
	json_object_put(o);
	store_messages_free(msgs, n);
	store_session_clear(&s);
}

void api_session_rename(struct request *r)
{
	char err[DC_ERRMAX];
	json_object *body = NULL, *o = NULL;
	struct store_session s;
	const char *title;
	enum dc_err rc;

	memset(&s, 0, sizeof s);
	if (api_need_store(r))
		return;
	rc = request_json_body(r, 0, &body, err, sizeof err);
	if (rc != DC_OK) {
		response_error(r, response_status_for(rc), "%s", err);
		goto out;
	}
	if (!read_title(r, body, 1, &title))
		goto out;
	rc = store_session_rename(r->store, r->user, r->params[0], title, err, sizeof err);
	if (rc == DC_OK)
		rc = store_session_get(r->store, r->user, r->params[0], &s, err, sizeof err);
	if (rc != DC_OK) {
		reply_store_error(r, rc, err);
		goto out;
	}
	o = api_session_json(&s);
	if (o)
		response_json(r, 200, o);
out:
	json_object_put(o);
	json_object_put(body);
	store_session_clear(&s);
}

void api_session_delete(struct request *r)
{
	char err[DC_ERRMAX];
	enum dc_err rc;

	if (api_need_store(r))
		return;
	rc = store_session_delete(r->store, r->user, r->params[0], err, sizeof err);
	if (rc != DC_OK)
		reply_store_error(r, rc, err);
	else
		response_empty(r, 204, NULL);
}
