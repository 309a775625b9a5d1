/* api.h - the HTTP resources docchat serves, one file each, and the routing table.
 *
 * Handlers validate their own inputs (path parameters, query, JSON body) and answer
 * with response.h or sse.h; none contains SQL or wire formats of model servers. */
#ifndef DC_API_H
#define DC_API_H

#include <stddef.h>
#include "router.h"

struct conn;
struct config;
struct store;

/* Work a request leaves for after its response has ended (api_handle's result). */
enum api_after {
	API_AFTER_NOTHING = 0,
	API_AFTER_EMBED = 1	/* embed the chunks that have no vector (an upload added some) */
};

/* Handle one request on conn end to end (route, run, log). st may be NULL if the
 * database could not be opened; handlers needing it answer 503 with dberr. Returns the
 * enum api_after flags of what the caller should do once the response has ended
 * (api_after_run). */
int api_handle(struct conn *conn, const struct config *cfg, struct store *st,
	       const char *dberr);

/* Do that work with the caller's database connection st (may be NULL: nothing). */
void api_after_run(int after, const struct config *cfg, struct store *st);

void api_health(struct request *r);		/* api_health.c */
void api_models(struct request *r);		/* api_models.c */
void api_session_create(struct request *r);	/* api_sessions.c */
void api_session_list(struct request *r);
void api_session_get(struct request *r);
void api_session_rename(struct request *r);
void api_session_delete(struct request *r);
void api_chat_stream(struct request *r);	/* api_chat.c */
/* The checks api_chat_stream makes of its input (POST: the JSON body; GET: the query
 * string) alone, without the store, the session or a model: 1 when the input is
 * acceptable, else 0 with the 4xx reply already sent. For the fuzz harness. */
int api_chat_check_input(struct request *r);
void api_document_list(struct request *r);	/* api_documents.c */
void api_document_upload(struct request *r);
void api_document_get(struct request *r);
void api_document_delete(struct request *r);
void api_search(struct request *r);		/* api_search.c */

/* Answer 503 if the request has no database connection; returns 1 when it did. */
int api_need_store(struct request *r);

/* JSON helpers shared by the handlers: a session object ({id, title, created_at,
 * updated_at, message_count}). Returns NULL on allocation failure. */
struct store_session;
struct json_object *api_session_json(const struct store_session *s);

#endif
