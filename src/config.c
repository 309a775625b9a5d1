/* config.c - docchat's settings (see config.h).
 *
 * One table lists every setting: its variable name, type, default, allowed range and
 * whether it is a secret. Loading, validation, `docchat config` output and the README's
 * configuration table all follow that table, so a new setting is one line here. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "cors.h"
#include "embed.h"

enum setting_type { SET_STR, SET_INT, SET_SIZE, SET_URL };

struct setting {
	const char *name;
	enum setting_type type;
	size_t offset;		/* into struct config */
	const char *def;	/* default, as text */
	long long min, max;	/* for numbers */
	int secret;
};

#define OFF(f) offsetof(struct config, f)
#define KIB 1024LL
#define MIB (1024LL * 1024)

static const struct setting settings[] = {
	{ "DOCCHAT_DB", SET_STR, OFF(db_path), "docchat.db", 0, 0, 0 },
	{ "DOCCHAT_AUTH", SET_STR, OFF(auth), "required", 0, 0, 0 },
	{ "DOCCHAT_CORS_ORIGINS", SET_STR, OFF(cors_origins), "", 0, 0, 0 },
	{ "DOCCHAT_THREADS", SET_INT, OFF(threads), "16", 1, 1024, 0 },
	{ "DOCCHAT_RELAY_THREADS", SET_INT, OFF(relay_threads), "1", 0, 64, 0 },
	{ "DOCCHAT_MAX_BODY", SET_SIZE, OFF(max_body), "65536", 1 * KIB, 64 * MIB, 0 },
	{ "DOCCHAT_MAX_QUESTION", SET_SIZE, OFF(max_question), "8192", 16, 1 * MIB, 0 },
	{ "DOCCHAT_DEFAULT_PROVIDER", SET_STR, OFF(default_provider), "ollama", 0, 0, 0 },
	{ "DOCCHAT_DEFAULT_MODEL", SET_STR, OFF(default_model), "extractive", 0, 0, 0 },
	{ "DOCCHAT_OPENAI_URL", SET_URL, OFF(openai_url), "https://api.openai.com/v1", 0, 0, 0 },
	{ "OPENAI_API_KEY", SET_STR, OFF(openai_key), "", 0, 0, 1 },
	{ "DOCCHAT_OLLAMA_URL", SET_URL, OFF(ollama_url), "http://127.0.0.1:11434", 0, 0, 0 },
	{ "DOCCHAT_UPSTREAM_IDLE_S", SET_INT, OFF(upstream_idle_s), "120", 1, 86400, 0 },
	{ "DOCCHAT_UPSTREAM_CONNECT_S", SET_INT, OFF(upstream_connect_s), "10", 1, 600, 0 },
	{ "DOCCHAT_PING_S", SET_INT, OFF(ping_s), "15", 1, 3600, 0 },
	{ "DOCCHAT_PROBE_MS", SET_INT, OFF(probe_ms), "1000", 0, 60000, 0 },
	{ "DOCCHAT_GRACE_S", SET_INT, OFF(grace_s), "20", 0, 3600, 0 },
	{ "DOCCHAT_TOP_K", SET_INT, OFF(top_k), "5", 1, 50, 0 },
	{ "DOCCHAT_CONTEXT_TOKENS", SET_INT, OFF(context_tokens), "6000", 256, 2000000, 0 },
	{ "DOCCHAT_MAX_TOKENS", SET_INT, OFF(max_tokens), "0", 0, 1000000, 0 },
	{ "DOCCHAT_SYSTEM_PROMPT", SET_STR, OFF(system_prompt), "", 0, 0, 0 },
	{ "DOCCHAT_EXTRACTIVE_DELAY_MS", SET_INT, OFF(extractive_delay_ms), "15", 0, 10000, 0 },
	{ "DOCCHAT_CHUNK_TOKENS", SET_INT, OFF(chunk_tokens), "300", 20, 8000, 0 },
	{ "DOCCHAT_CHUNK_OVERLAP", SET_INT, OFF(chunk_overlap), "50", 0, 4000, 0 },
	{ "DOCCHAT_MAX_UPLOAD", SET_SIZE, OFF(max_upload), "20M", 1 * KIB, 1024 * MIB, 0 },
	{ "DOCCHAT_EMBED_MODEL", SET_STR, OFF(embed_model), "", 0, 0, 0 },
	{ "DOCCHAT_EMBED_BATCH", SET_INT, OFF(embed_batch), "32", 1, 2048, 0 },
	{ "DOCCHAT_MAX_DOCUMENTS", SET_INT, OFF(max_documents), "1000", 0, 100000000, 0 },
	{ "DOCCHAT_MAX_STREAMS_PER_USER", SET_INT, OFF(max_streams_per_user), "4", 0, 100000, 0 },
	{ "DOCCHAT_RATE_PER_MIN", SET_INT, OFF(rate_per_min), "120", 0, 100000000, 0 },
	{ "DOCCHAT_MAX_STREAM_S", SET_INT, OFF(max_stream_s), "240", 0, 86400, 0 },
};

#define NSETTINGS (sizeof settings / sizeof settings[0])

/* The key also accepted for OPENAI_API_KEY, for hosts that only pass DOCCHAT_*. */
#define ALT_OPENAI_KEY "DOCCHAT_OPENAI_KEY"

static const struct setting *setting_find(const char *name)
{
	if (strcmp(name, ALT_OPENAI_KEY) == 0)
		name = "OPENAI_API_KEY";
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].name, name) == 0)
			return &settings[i];
	return NULL;
}

static enum dc_err parse_number(const struct setting *s, const char *value, long long *out,
				char *err, size_t errlen)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(value, &end, 10);
	if (end == value || errno == ERANGE)
		return dc_fail(err, errlen, DC_BADREQ, "%s: '%s' is not a number", s->name, value);
	if (s->type == SET_SIZE && *end && end[1] == '\0') {
		long long unit = *end == 'k' || *end == 'K' ? KIB :
				 *end == 'm' || *end == 'M' ? MIB : 0;

		/* "9223372036854775807M" must be out of range, not an overflow. */
		if (unit && (v > LLONG_MAX / unit || v < LLONG_MIN / unit))
			return dc_fail(err, errlen, DC_BADREQ, "%s: '%s' is out of range "
				       "(%lld..%lld)", s->name, value, s->min, s->max);
		if (unit)
			v *= unit, end++;
	}
	if (*end)
		return dc_fail(err, errlen, DC_BADREQ, "%s: '%s' is not a number", s->name, value);
	if (v < s->min || v > s->max)
		return dc_fail(err, errlen, DC_BADREQ, "%s: %lld is out of range (%lld..%lld)",
			       s->name, v, s->min, s->max);
	*out = v;
	return DC_OK;
}

static enum dc_err check_url(const struct setting *s, const char *value, char *err,
			     size_t errlen)
{
	const char *host;

	if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
		return dc_fail(err, errlen, DC_BADREQ, "%s: '%s' must start with http:// or https://",
			       s->name, value);
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return dc_fail(err, errlen, DC_BADREQ, "%s: the URL contains a space or control character",
				       s->name);
	/* "http://" alone (or "http:///x") has no host, and would lose its slashes below. */
	host = value + (value[4] == 's' ? 8 : 7);
	if (*host == '\0' || *host == '/')
		return dc_fail(err, errlen, DC_BADREQ, "%s: '%s' has no host", s->name, value);
	return DC_OK;
}

static enum dc_err set_string(char **slot, const char *value, int strip_slash)
{
	size_t n = strlen(value);
	char *copy;

	while (strip_slash && n > 0 && value[n - 1] == '/')
		n--;
	copy = strndup(value, n);
	if (!copy)
		return DC_NOMEM;
	free(*slot);
	*slot = copy;
	return DC_OK;
}

enum dc_err config_set(struct config *cfg, const char *name, const char *value,
		       char *err, size_t errlen)
{
	const struct setting *s = setting_find(name);
	char *base = (char *)cfg;
	long long v = 0;
	enum dc_err rc;

	if (!s)
		return dc_fail(err, errlen, DC_NOTFOUND, "%s is not a docchat setting", name);
	switch (s->type) {
	case SET_URL:
		rc = check_url(s, value, err, errlen);
		if (rc != DC_OK)
			return rc;
		return set_string((char **)(base + s->offset), value, 1);
	case SET_STR:
		if (strcmp(s->name, "DOCCHAT_DB") == 0 && value[0] == '\0')
			return dc_fail(err, errlen, DC_BADREQ, "DOCCHAT_DB: the path is empty");
		return set_string((char **)(base + s->offset), value, 0);
	case SET_INT:
	case SET_SIZE:
		rc = parse_number(s, value, &v, err, errlen);
		if (rc != DC_OK)
			return rc;
		if (s->type == SET_INT)
			*(int *)(base + s->offset) = (int)v;
		else
			*(size_t *)(base + s->offset) = (size_t)v;
		return DC_OK;
	}
	return DC_BADREQ;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* Strip one pair of matching quotes around a value. */
static char *unquote(char *v)
{
	size_t n = strlen(v);

	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
		v[n - 1] = '\0';
		return v + 1;
	}
	return v;
}

enum dc_err config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	char sub[DC_ERRMAX];
	enum dc_err rc = DC_OK;
	int lineno = 0;

	if (!f)
		return dc_fail(err, errlen, DC_SYSTEM, "cannot open config file %s: %s", path,
			       strerror(errno));
	while (fgets(line, sizeof line, f)) {
		char *s, *eq, *key;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			rc = dc_fail(err, errlen, DC_BADREQ, "%s:%d: line too long", path, lineno);
			goto out;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if (strncmp(s, "export ", 7) == 0)
			s = trim(s + 7);
		eq = strchr(s, '=');
		if (!eq) {
			rc = dc_fail(err, errlen, DC_BADREQ, "%s:%d: expected KEY=value", path, lineno);
			goto out;
		}
		*eq = '\0';
		key = trim(s);
		rc = config_set(cfg, key, unquote(trim(eq + 1)), sub, sizeof sub);
		if (rc != DC_OK) {
			dc_fail(err, errlen, rc == DC_NOTFOUND ? DC_BADREQ : rc, "%s:%d: %s", path,
				lineno, sub);
			rc = rc == DC_NOTFOUND ? DC_BADREQ : rc;
			goto out;
		}
	}
	if (ferror(f))
		rc = dc_fail(err, errlen, DC_SYSTEM, "cannot read config file %s", path);
out:
	fclose(f);
	return rc;
}

static enum dc_err load_defaults(struct config *cfg, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < NSETTINGS; i++) {
		enum dc_err rc = config_set(cfg, settings[i].name, settings[i].def, err, errlen);

		if (rc != DC_OK)
			return rc;
	}
	return DC_OK;
}

static enum dc_err load_environment(struct config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *v = getenv(settings[i].name);
		enum dc_err rc;

		if (!v && settings[i].offset == OFF(openai_key))
			v = getenv(ALT_OPENAI_KEY);
		if (!v)
			continue;
		rc = config_set(cfg, settings[i].name, v, err, errlen);
		if (rc != DC_OK)
			return rc;
	}
	return DC_OK;
}

static enum dc_err check_consistency(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->chunk_overlap >= cfg->chunk_tokens)
		return dc_fail(err, errlen, DC_BADREQ,
			       "DOCCHAT_CHUNK_OVERLAP (%d) must be smaller than DOCCHAT_CHUNK_TOKENS (%d)",
			       cfg->chunk_overlap, cfg->chunk_tokens);
	if (strcmp(cfg->default_provider, "openai") != 0 &&
	    strcmp(cfg->default_provider, "ollama") != 0 &&
	    strcmp(cfg->default_provider, "extractive") != 0)
		return dc_fail(err, errlen, DC_BADREQ,
			       "DOCCHAT_DEFAULT_PROVIDER: '%s' is not one of openai, ollama, extractive",
			       cfg->default_provider);
	if (cfg->default_model[0] == '\0')
		return dc_fail(err, errlen, DC_BADREQ, "DOCCHAT_DEFAULT_MODEL: is empty");
	if (strcmp(cfg->auth, "none") != 0 && strcmp(cfg->auth, "required") != 0)
		return dc_fail(err, errlen, DC_BADREQ,
			       "DOCCHAT_AUTH: '%s' is not one of none, required", cfg->auth);
	if (cors_check_list(cfg->cors_origins, err, errlen) != DC_OK)
		return DC_BADREQ;
	if (cfg->embed_model[0] != '\0') {
		struct embed_model m;

		/* Said now rather than at the first question or upload. */
		if (embed_model_parse(cfg, cfg->embed_model, &m, err, errlen) != DC_OK)
			return DC_BADREQ;
	}
	return DC_OK;
}

enum dc_err config_load(struct config *cfg, char *err, size_t errlen)
{
	const char *file = getenv("DOCCHAT_CONFIG");
	enum dc_err rc;

	rc = load_defaults(cfg, err, errlen);
	if (rc == DC_OK && file && *file) {
		cfg->config_file = strdup(file);
		rc = cfg->config_file ? config_load_file(cfg, file, err, errlen) : DC_NOMEM;
	}
	if (rc == DC_OK)
		rc = load_environment(cfg, err, errlen);
	if (rc == DC_OK)
		rc = check_consistency(cfg, err, errlen);
	if (rc != DC_OK)
		config_free(cfg);
	return rc;
}

/* Secrets show whether they are set, never what they are. */
static enum dc_err dump_one(const struct config *cfg, const struct setting *s, struct buf *out)
{
	const char *base = (const char *)cfg;

	switch (s->type) {
	case SET_STR:
	case SET_URL: {
		const char *v = *(char *const *)(base + s->offset);

		if (s->secret)
			return buf_printf(out, "%s=%s\n", s->name, v && *v ? "(set, hidden)" : "");
		return buf_printf(out, "%s=%s\n", s->name, v ? v : "");
	}
	case SET_INT:
		return buf_printf(out, "%s=%d\n", s->name, *(const int *)(base + s->offset));
	case SET_SIZE:
		return buf_printf(out, "%s=%zu\n", s->name, *(const size_t *)(base + s->offset));
	}
	return DC_OK;
}

enum dc_err config_dump(const struct config *cfg, struct buf *out)
{
	enum dc_err rc = buf_printf(out, "# DOCCHAT_CONFIG=%s\n",
				    cfg->config_file ? cfg->config_file : "(none)");

	for (size_t i = 0; rc == DC_OK && i < NSETTINGS; i++)
		rc = dump_one(cfg, &settings[i], out);
	return rc;
}

void config_free(struct config *cfg)
{
	char *base = (char *)cfg;

	for (size_t i = 0; i < NSETTINGS; i++)
		if (settings[i].type == SET_STR || settings[i].type == SET_URL) {
			free(*(char **)(base + settings[i].offset));
			*(char **)(base + settings[i].offset) = NULL;
		}
	free(cfg->config_file);
	cfg->config_file = NULL;
}
