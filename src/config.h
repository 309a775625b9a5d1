/* config.h - docchat's settings: defaults, environment, an optional KEY=value file.
 *
 * Settings come from DOCCHAT_* environment variables (the convention of FastCGI hosting:
 * lighttpd bin-environment, Apache FcgidInitialEnv/SetEnv, spawn-fcgi's environment),
 * and from the file named by DOCCHAT_CONFIG, whose values the environment overrides.
 * Every value is validated when loaded; a bad one is an error naming the variable.
 * The loaded struct is read-only afterwards and shared by all threads. */
#ifndef DC_CONFIG_H
#define DC_CONFIG_H

#include <stddef.h>
#include "dc.h"

struct buf;

struct config {
	char *db_path;		/* DOCCHAT_DB */
	char *auth;		/* DOCCHAT_AUTH: "required" or "none" (see auth.h) */
	char *cors_origins;	/* DOCCHAT_CORS_ORIGINS: allowed origins, "" = none (cors.h) */
	int threads;		/* DOCCHAT_THREADS: FastCGI worker threads */
	int relay_threads;	/* DOCCHAT_RELAY_THREADS: threads carrying answers (relay.h);
				 * 0: each answer streams on its worker */
	size_t max_body;	/* DOCCHAT_MAX_BODY: request body bytes */
	size_t max_question;	/* DOCCHAT_MAX_QUESTION: question bytes */
	char *default_provider;	/* DOCCHAT_DEFAULT_PROVIDER: for bare model names */
	char *default_model;	/* DOCCHAT_DEFAULT_MODEL: when a request names none */
	char *openai_url;	/* DOCCHAT_OPENAI_URL, no trailing slash */
	char *openai_key;	/* OPENAI_API_KEY (or DOCCHAT_OPENAI_KEY); secret */
	char *ollama_url;	/* DOCCHAT_OLLAMA_URL, no trailing slash */
	int upstream_idle_s;	/* DOCCHAT_UPSTREAM_IDLE_S: longest silence from the model */
	int upstream_connect_s;	/* DOCCHAT_UPSTREAM_CONNECT_S: connect timeout */
	int ping_s;		/* DOCCHAT_PING_S: seconds between ": ping" comments */
	int probe_ms;		/* DOCCHAT_PROBE_MS: quiet before a liveness probe, 0 = off */
	int grace_s;		/* DOCCHAT_GRACE_S: SIGTERM drain period */
	int top_k;		/* DOCCHAT_TOP_K: default sources per answer */
	int context_tokens;	/* DOCCHAT_CONTEXT_TOKENS: prompt budget */
	int max_tokens;		/* DOCCHAT_MAX_TOKENS: answer limit sent upstream, 0 = none */
	char *system_prompt;	/* DOCCHAT_SYSTEM_PROMPT */
	int extractive_delay_ms;/* DOCCHAT_EXTRACTIVE_DELAY_MS: pause between words */
	int chunk_tokens;	/* DOCCHAT_CHUNK_TOKENS */
	int chunk_overlap;	/* DOCCHAT_CHUNK_OVERLAP */
	size_t max_upload;	/* DOCCHAT_MAX_UPLOAD: bytes per uploaded file */
	char *embed_model;	/* DOCCHAT_EMBED_MODEL: "provider:name", "" = keyword only */
	int embed_batch;	/* DOCCHAT_EMBED_BATCH: chunks per embedding request */
	/* per-user limits (limit.c); 0 turns each off */
	int max_documents;	/* DOCCHAT_MAX_DOCUMENTS: documents a user may own */
	int max_streams_per_user;/* DOCCHAT_MAX_STREAMS_PER_USER: answers streaming at once */
	int rate_per_min;	/* DOCCHAT_RATE_PER_MIN: requests per minute and user */
	int max_stream_s;	/* DOCCHAT_MAX_STREAM_S: longest answer, from the request's arrival */
	char *config_file;	/* DOCCHAT_CONFIG, or NULL */
};

/* Fill cfg from defaults, the config file and the environment. On error cfg is freed
 * and err names the setting and what is wrong with it. */
enum dc_err config_load(struct config *cfg, char *err, size_t errlen);

/* Parse one KEY=value file into cfg (used by config_load; exposed for tests). */
enum dc_err config_load_file(struct config *cfg, const char *path, char *err, size_t errlen);

/* Apply one setting by name (e.g. "DOCCHAT_TOP_K", "7"); DC_BADREQ with a cause if the
 * value is invalid, DC_NOTFOUND if the name is not a docchat setting. */
enum dc_err config_set(struct config *cfg, const char *name, const char *value,
		       char *err, size_t errlen);

/* Append "NAME=value\n" lines for every setting, secrets masked, to out. */
enum dc_err config_dump(const struct config *cfg, struct buf *out);

void config_free(struct config *cfg);

#endif
