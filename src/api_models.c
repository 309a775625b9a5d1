/* api_models.c - GET /models: what each configured provider offers.
 *
 * Asks every model server for its list (a server that is down or not configured is
 * reported under "errors" and does not fail the request) and always includes the
 * built-in extractive backend, so the page's model picker works on a fresh install. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "backend.h"
#include "config.h"
#include "request.h"
#include "response.h"

static int provider_configured(const struct config *cfg, const char *provider, char *why,
			       size_t whylen)
{
	if (strcmp(provider, "openai") == 0 && !cfg->openai_key[0] &&
	    strstr(cfg->openai_url, "api.openai.com")) {
		dc_fail(why, whylen, DC_BADREQ, "openai: OPENAI_API_KEY is not set");
		return 0;
	}
	return 1;
}

static void add_provider(const struct config *cfg, const char *provider, json_object *models,
			 json_object *errors)
{
	char err[DC_ERRMAX];
	char **names = NULL;
	size_t n = 0;

	if (!provider_configured(cfg, provider, err, sizeof err)) {
		json_object_object_add(errors, provider, json_object_new_string(err));
		return;
	}
	if (backend_list_models(cfg, provider, &names, &n, err, sizeof err) != DC_OK) {
		json_object_object_add(errors, provider, json_object_new_string(err));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_new_object();
		char id[512];

		if (!m)
			break;
		if (strcmp(provider, "extractive") == 0)
			snprintf(id, sizeof id, "%s", names[i]);
		else
			snprintf(id, sizeof id, "%s:%s", provider, names[i]);
		json_object_object_add(m, "id", json_object_new_string(id));
		json_object_object_add(m, "provider", json_object_new_string(provider));
		json_object_object_add(m, "name", json_object_new_string(names[i]));
		json_object_array_add(models, m);
	}
	backend_names_free(names, n);
}

void api_models(struct request *r)
{
	json_object *o = json_object_new_object();
	json_object *models = json_object_new_array();
	json_object *errors = json_object_new_object();

	if (!o || !models || !errors) {
		json_object_put(models);
		json_object_put(errors);
		json_object_put(o);
		return;
	}
	add_provider(r->cfg, "extractive", models, errors);
	add_provider(r->cfg, "ollama", models, errors);
	add_provider(r->cfg, "openai", models, errors);
	json_object_object_add(o, "default", json_object_new_string(r->cfg->default_model));
	json_object_object_add(o, "models", models);
	json_object_object_add(o, "errors", errors);
	response_json(r, 200, o);
	json_object_put(o);
}
