/* api_health.c - GET /health: is docchat up and its database usable? */
#include "api.h"
#include "config.h"
#include "request.h"
#include "response.h"
#include "store.h"

void api_health(struct request *r)
{
	json_object *o = json_object_new_object();
	char err[DC_ERRMAX];
	int ok;

	if (!o)
		return;
	dc_fail(err, sizeof err, DC_DB, "%s", r->db_error && *r->db_error ? r->db_error : "not open");
	ok = r->store && store_health(r->store, err, sizeof err) == DC_OK;
	json_object_object_add(o, "status", json_object_new_string(ok ? "ok" : "error"));
	json_object_object_add(o, "version", json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(o, "database", json_object_new_string(ok ? "ok" : err));
	json_object_object_add(o, "threads", json_object_new_int(r->cfg->threads));
	json_object_object_add(o, "default_model", json_object_new_string(r->cfg->default_model));
	response_json(r, ok ? 200 : 503, o);
	json_object_put(o);
}
