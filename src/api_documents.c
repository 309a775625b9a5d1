/* api_documents.c - GET /documents: the documents the user may search. Uploading and
 * deleting through HTTP come with the document management work. */
#include "api.h"
#include "request.h"
#include "response.h"
#include "store.h"

static json_object *document_json(const struct store_document *d)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "id", json_object_new_int64(d->id));
	json_object_object_add(o, "name", json_object_new_string(d->name ? d->name : ""));
	json_object_object_add(o, "chunks", json_object_new_int64(d->chunk_count));
	json_object_object_add(o, "size", json_object_new_int64(d->size));
	json_object_object_add(o, "shared", json_object_new_boolean(!d->owner || !d->owner[0]));
	json_object_object_add(o, "created_at", json_object_new_int64(d->created_at));
	return o;
}

void api_document_list(struct request *r)
{
	char err[DC_ERRMAX];
	struct store_document *docs = NULL;
	size_t n = 0;
	json_object *o, *arr;
	enum dc_err rc;

	if (api_need_store(r))
		return;
	rc = store_document_list(r->store, r->user, &docs, &n, err, sizeof err);
	if (rc != DC_OK) {
		response_error(r, response_status_for(rc), "%s", err);
		return;
	}
	o = json_object_new_object();
	arr = json_object_new_array();
	if (o && arr) {
		for (size_t i = 0; i < n; i++)
			json_object_array_add(arr, document_json(&docs[i]));
		json_object_object_add(o, "documents", arr);
		arr = NULL;
		response_json(r, 200, o);
	}
	json_object_put(arr);
	json_object_put(o);
	store_documents_free(docs, n);
}
