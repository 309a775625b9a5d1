/* api_documents.c - /documents: list, upload, read and delete the documents a user may
 * search.
 *
 * An upload is either multipart/form-data, where every part with a filename is a file
 * and other fields are ignored, or a raw body named by ?filename=. Its body is limited
 * by DOCCHAT_MAX_UPLOAD instead of DOCCHAT_MAX_BODY, judged from CONTENT_LENGTH before
 * a byte is read. File names are cleaned by multipart_clean_filename, so a stored name
 * never carries a path. The files are ingested one after another; the first that fails
 * ends the request with its status (415, 413, 422) naming the file, and the files
 * stored before it stay stored (the error body lists them). DOCCHAT_MAX_DOCUMENTS
 * (limit.h) is checked before the body is read and again after each new document: a
 * file beyond it is removed again and ends the request with 403 the same way.
 * Multipart syntax is multipart.c's, formats and chunking ingest.c's, SQL store.c's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "buf.h"
#include "config.h"
#include "conn.h"
#include "ingest.h"
#include "limit.h"
#include "multipart.h"
#include "request.h"
#include "response.h"
#include "store.h"

#define UPLOAD_MAX_PARTS 100		/* parts of one multipart upload, files or not */
#define UPLOAD_SETTING "DOCCHAT_MAX_UPLOAD"
#define FILENAME_QUERY_MAX 4096		/* bytes of ?filename= once decoded */
#define DOCUMENT_ID_DIGITS 18		/* keeps a parsed id inside long long */

/* A document stored (or found already stored) by this upload. */
struct upload_result {
	long long id;
	int existed;
};

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

static const struct store_document *find_document(const struct store_document *docs,
						  size_t n, long long id)
{
	for (size_t i = 0; i < n; i++)
		if (docs[i].id == id)
			return &docs[i];
	return NULL;
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

/* The {id} path parameter: 1 to DOCUMENT_ID_DIGITS decimal digits, above zero. Answers
 * 400 and returns 0 when it is anything else. */
static int document_id(struct request *r, long long *id)
{
	const char *s = r->params[0];
	size_t n = strspn(s, "0123456789");
	char *end;

	*id = 0;
	if (n > 0 && n <= DOCUMENT_ID_DIGITS && s[n] == '\0') {
		errno = 0;
		*id = strtoll(s, &end, 10);
		if (errno == 0 && *end == '\0' && *id > 0)
			return 1;
	}
	response_error(r, 400, "a document id is a positive integer");
	return 0;
}

void api_document_get(struct request *r)
{
	char err[DC_ERRMAX];
	struct store_document *docs = NULL;
	const struct store_document *d;
	size_t n = 0;
	json_object *o = NULL;
	long long id;
	enum dc_err rc;

	if (api_need_store(r) || !document_id(r, &id))
		return;
	/* The list applies the visibility rule (own and shared documents) in one place. */
	rc = store_document_list(r->store, r->user, &docs, &n, err, sizeof err);
	if (rc != DC_OK) {
		response_error(r, response_status_for(rc), "%s", err);
		goto out;
	}
	d = find_document(docs, n, id);
	if (!d) {
		response_error(r, 404, "no such document: %lld", id);
		goto out;
	}
	o = document_json(d);
	if (o)
		response_json(r, 200, o);
out:
	json_object_put(o);
	store_documents_free(docs, n);
}

void api_document_delete(struct request *r)
{
	char err[DC_ERRMAX];
	long long id;
	enum dc_err rc;

	if (api_need_store(r) || !document_id(r, &id))
		return;
	rc = store_document_delete(r->store, r->user, id, err, sizeof err);
	if (rc == DC_NOTFOUND)
		response_error(r, 404, "no such document: %lld", id);
	else if (rc != DC_OK)
		response_error(r, response_status_for(rc), "%s", err);
	else
		response_empty(r, 204, NULL);
}

/* ---- uploads ---- */

/* The cleaned ?filename= of a raw upload into *name (caller frees). Answers 400 and
 * returns 0 when it is missing or unusable. */
static int raw_filename(struct request *r, char **name)
{
	char err[DC_ERRMAX];
	struct buf b;
	int found;

	*name = NULL;
	buf_init(&b, FILENAME_QUERY_MAX);
	found = request_query_get(r->query, "filename", &b);
	if (found == 0)
		response_error(r, 400, "send files as multipart/form-data, or one file as the "
			       "request body with ?filename=NAME");
	else if (found < 0)
		response_error(r, 400, "?filename= is malformed or longer than %d bytes",
			       FILENAME_QUERY_MAX);
	else if (multipart_clean_filename(buf_str(&b), b.len, name, err, sizeof err) != DC_OK)
		response_error(r, 400, "?filename=: %s", err);
	buf_free(&b);
	return *name != NULL;
}

/* Answer with the documents of results[0..n) as {"documents": [...]}, each with
 * "existed"; with message (an error reply) the body also has "error". */
static void reply_documents(struct request *r, int status, const char *message,
			    const struct upload_result *results, size_t n)
{
	char err[DC_ERRMAX];
	struct store_document *docs = NULL;
	size_t ndocs = 0;
	json_object *o = NULL, *arr, *doc;
	enum dc_err rc;

	rc = store_document_list(r->store, r->user, &docs, &ndocs, err, sizeof err);
	if (rc != DC_OK) {
		if (message)
			response_error(r, status, "%s", message);
		else
			response_error(r, response_status_for(rc), "%s", err);
		goto out;
	}
	o = json_object_new_object();
	arr = json_object_new_array();
	if (!o || !arr || json_object_object_add(o, "documents", arr) != 0) {
		json_object_put(arr);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct store_document *d = find_document(docs, ndocs, results[i].id);

		if (!d)		/* deleted by another request in the meantime */
			continue;
		doc = document_json(d);
		if (!doc || json_object_array_add(arr, doc) != 0) {
			json_object_put(doc);
			goto out;
		}
		json_object_object_add(doc, "existed", json_object_new_boolean(results[i].existed));
	}
	if (message) {
		json_object_object_add(o, "error", json_object_new_string(message));
		snprintf(r->error, sizeof r->error, "%s", message);
	}
	response_json(r, status, o);
out:
	json_object_put(o);
	store_documents_free(docs, ndocs);
}

/* The HTTP status for a file ingest_bytes refused. */
static int upload_status(enum dc_err rc, enum ingest_problem why)
{
	switch (why) {
	case INGEST_UNSUPPORTED:
		return 415;
	case INGEST_TOO_BIG:
		return 413;
	case INGEST_NOT_UTF8:
	case INGEST_NO_TEXT:
	case INGEST_BROKEN:
		return 422;
	case INGEST_FINE:
		break;
	}
	return response_status_for(rc);
}

/* Ingest one file into *res. On failure answers the request (naming the file, listing
 * the n documents already stored) and returns 0. */
static int ingest_file(struct request *r, const struct multipart_part *file,
		       const struct upload_result *stored, size_t n, struct upload_result *res)
{
	char err[DC_ERRMAX], msg[DC_ERRMAX];
	enum ingest_problem why = INGEST_FINE;
	long long nchunks = 0;
	enum dc_err rc;

	err[0] = '\0';
	rc = ingest_bytes(r->store, r->cfg, r->user, file->filename, file->data, file->len,
			  &res->id, &res->existed, &nchunks, &why, err, sizeof err);
	if (rc == DC_OK && !res->existed) {
		rc = limit_document_keep(r->cfg, r->store, r->user, res->id, err, sizeof err);
		if (rc != DC_OK) {
			snprintf(msg, sizeof msg, "\"%s\": %s", file->filename, err);
			reply_documents(r, rc == DC_TOOBIG ? 403 : response_status_for(rc), msg,
					stored, n);
			return 0;
		}
	}
	if (rc == DC_OK)
		return 1;
	if (why == INGEST_UNSUPPORTED)
		snprintf(msg, sizeof msg, "\"%s\": docchat does not read this type of file; "
			 "supported types: %s", file->filename, ingest_supported());
	else
		snprintf(msg, sizeof msg, "\"%s\": %s", file->filename,
			 err[0] ? err : dc_strerror(rc));
	reply_documents(r, upload_status(rc, why), msg, stored, n);
	return 0;
}

/* The files of the request: the parts of a multipart body that have a file name, or the
 * raw body named rawname. Fills *mp for multipart (caller frees it); *files points at
 * its parts or at raw. Answers 400 and returns 0 on a malformed body or no file. */
static int upload_files(struct request *r, const char *ctype, char *rawname,
			struct multipart *mp, struct multipart_part *raw,
			const struct multipart_part **files, size_t *nfiles)
{
	char err[DC_ERRMAX];
	size_t count = 0;
	enum dc_err rc;

	if (rawname) {
		memset(raw, 0, sizeof *raw);
		raw->filename = rawname;
		raw->data = r->body;
		raw->len = r->body_len;
		*files = raw;
		*nfiles = 1;
		return 1;
	}
	rc = multipart_parse(ctype, r->body, r->body_len, UPLOAD_MAX_PARTS, mp, err, sizeof err);
	if (rc != DC_OK) {
		response_error(r, response_status_for(rc), "%s", err);
		return 0;
	}
	for (size_t i = 0; i < mp->nparts; i++)
		count += mp->parts[i].filename != NULL;
	if (count == 0) {
		response_error(r, 400, "the form has no file: send each file as a part with a "
			       "filename");
		return 0;
	}
	*files = mp->parts;
	*nfiles = mp->nparts;
	return 1;
}

void api_document_upload(struct request *r)
{
	char err[DC_ERRMAX];
	const char *ctype = conn_param(r->conn, "CONTENT_TYPE");
	struct multipart mp;
	struct multipart_part raw;
	const struct multipart_part *files = NULL;
	struct upload_result *results = NULL;
	char *rawname = NULL;
	size_t nfiles = 0, n = 0;
	enum dc_err rc;

	memset(&mp, 0, sizeof mp);
	if (api_need_store(r))
		return;
	/* A user at the limit is told before the body is read. */
	rc = limit_documents_room(r->cfg, r->store, r->user, err, sizeof err);
	if (rc != DC_OK) {
		response_error(r, rc == DC_TOOBIG ? 403 : response_status_for(rc), "%s", err);
		goto out;
	}
	if (!multipart_is_form_data(ctype) && !raw_filename(r, &rawname))
		goto out;
	rc = request_read_body_max(r, r->cfg->max_upload, UPLOAD_SETTING, err, sizeof err);
	if (rc != DC_OK) {
		response_error(r, response_status_for(rc), "%s", err);
		goto out;
	}
	if (!upload_files(r, ctype, rawname, &mp, &raw, &files, &nfiles))
		goto out;
	results = calloc(nfiles, sizeof *results);
	if (!results) {
		response_error(r, 500, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nfiles; i++) {
		if (!files[i].filename)
			continue;	/* a plain form field */
		if (!ingest_file(r, &files[i], results, n, &results[n]))
			goto out;
		n++;
	}
	/* The new chunks are embedded once the reply has gone (api_after_run): the upload
	 * does not wait for the embedding server, and keyword search finds them at once. */
	if (n > 0)
		r->after |= API_AFTER_EMBED;
	reply_documents(r, 201, NULL, results, n);
out:
	free(results);
	free(rawname);
	multipart_free(&mp);
}
