/* test_config.c - settings: defaults, the KEY=value file, the environment overriding
 * it, validation messages, and secrets kept out of `docchat config`. */
#include <stdlib.h>
#include <unistd.h>
#include "buf.h"
#include "check.h"
#include "config.h"

static char path[64];

static void write_file(const char *text)
{
	int fd;
	FILE *f;

	snprintf(path, sizeof path, "/tmp/docchat-test-config-XXXXXX");
	fd = mkstemp(path);
	f = fdopen(fd, "w");

	fputs(text, f);
	fclose(f);
}

static void clear_env(void)
{
	unsetenv("DOCCHAT_CONFIG");
	unsetenv("DOCCHAT_TOP_K");
	unsetenv("OPENAI_API_KEY");
	unsetenv("DOCCHAT_OPENAI_KEY");
	unsetenv("DOCCHAT_OLLAMA_URL");
	unsetenv("DOCCHAT_THREADS");
	unsetenv("DOCCHAT_EMBED_MODEL");
}

static void test_defaults(void)
{
	struct config cfg;
	char err[DC_ERRMAX];

	clear_env();
	CHECK_INT(config_load(&cfg, err, sizeof err), DC_OK);
	CHECK_INT(cfg.threads, 16);
	CHECK_INT(cfg.max_body, 65536);
	CHECK_INT(cfg.ping_s, 15);
	CHECK_INT(cfg.upstream_idle_s, 120);
	CHECK_STR(cfg.default_model, "extractive");
	CHECK_STR(cfg.openai_url, "https://api.openai.com/v1");
	CHECK_STR(cfg.ollama_url, "http://127.0.0.1:11434");
	CHECK_STR(cfg.openai_key, "");
	config_free(&cfg);
}

static void test_file_then_environment(void)
{
	struct config cfg;
	char err[DC_ERRMAX];

	clear_env();
	write_file("# comment\n\nDOCCHAT_TOP_K=7\nexport DOCCHAT_OLLAMA_URL = \"http://127.0.0.1:9/\"\n"
		   "DOCCHAT_MAX_BODY=1M\nDOCCHAT_THREADS=3\n");
	setenv("DOCCHAT_CONFIG", path, 1);
	setenv("DOCCHAT_THREADS", "5", 1);
	CHECK_INT(config_load(&cfg, err, sizeof err), DC_OK);
	CHECK_INT(cfg.top_k, 7);
	CHECK_STR(cfg.ollama_url, "http://127.0.0.1:9");	/* trailing slash dropped */
	CHECK_INT(cfg.max_body, 1024 * 1024);
	CHECK_INT(cfg.threads, 5);				/* environment wins */
	config_free(&cfg);
	unlink(path);
	clear_env();
}

static void test_bad_values_named(void)
{
	struct config cfg;
	char err[DC_ERRMAX];

	clear_env();
	setenv("DOCCHAT_TOP_K", "0", 1);
	CHECK_INT(config_load(&cfg, err, sizeof err), DC_BADREQ);
	CHECK_STR(err, "DOCCHAT_TOP_K: 0 is out of range (1..50)");
	setenv("DOCCHAT_TOP_K", "5x", 1);
	CHECK_INT(config_load(&cfg, err, sizeof err), DC_BADREQ);
	CHECK_STR(err, "DOCCHAT_TOP_K: '5x' is not a number");
	clear_env();
	setenv("DOCCHAT_OLLAMA_URL", "localhost:11434", 1);
	CHECK_INT(config_load(&cfg, err, sizeof err), DC_BADREQ);
	CHECK_STR(err, "DOCCHAT_OLLAMA_URL: 'localhost:11434' must start with http:// or https://");
	clear_env();
	setenv("DOCCHAT_EMBED_MODEL", "nomic:embed", 1);
	CHECK_INT(config_load(&cfg, err, sizeof err), DC_BADREQ);
	CHECK_STR(err, "DOCCHAT_EMBED_MODEL: unknown provider 'nomic' in 'nomic:embed': use "
		  "ollama:NAME or openai:NAME");
	setenv("DOCCHAT_EMBED_MODEL", "ollama:", 1);
	CHECK_INT(config_load(&cfg, err, sizeof err), DC_BADREQ);
	CHECK_STR(err, "DOCCHAT_EMBED_MODEL: 'ollama:' has no model name after the provider");
	setenv("DOCCHAT_EMBED_MODEL", "ollama:nomic-embed-text", 1);
	CHECK_INT(config_load(&cfg, err, sizeof err), DC_OK);
	config_free(&cfg);
	clear_env();
	write_file("DOCCHAT_TOP_K=3\nNOT_A_SETTING=1\n");
	setenv("DOCCHAT_CONFIG", path, 1);
	CHECK_INT(config_load(&cfg, err, sizeof err), DC_BADREQ);
	CHECK(strstr(err, ":2: NOT_A_SETTING is not a docchat setting") != NULL);
	unlink(path);
	clear_env();
}

static void test_secret_masked(void)
{
	struct config cfg;
	struct buf out;
	char err[DC_ERRMAX];

	clear_env();
	setenv("DOCCHAT_OPENAI_KEY", "sk-very-secret-value", 1);
	CHECK_INT(config_load(&cfg, err, sizeof err), DC_OK);
	CHECK_STR(cfg.openai_key, "sk-very-secret-value");
	buf_init(&out, 1 << 20);
	CHECK_INT(config_dump(&cfg, &out), DC_OK);
	CHECK(strstr(buf_str(&out), "sk-very") == NULL);
	CHECK(strstr(buf_str(&out), "OPENAI_API_KEY=(set, hidden)\n") != NULL);
	CHECK(strstr(buf_str(&out), "DOCCHAT_TOP_K=5\n") != NULL);
	buf_free(&out);
	config_free(&cfg);
	clear_env();
}

/* Issue #5 (found by tests/fuzz/fuzz_config): a size suffix that would overflow is out
 * of range, not undefined behaviour; a URL with no host is refused instead of losing
 * its slashes ("http://" used to become "http:"). */
static void test_issue5_size_overflow_and_hostless_url(void)
{
	struct config cfg;
	char err[DC_ERRMAX];

	clear_env();
	CHECK_INT(config_load(&cfg, err, sizeof err), DC_OK);
	CHECK_INT(config_set(&cfg, "DOCCHAT_MAX_UPLOAD", "9223372036854775807M", err, sizeof err),
		  DC_BADREQ);
	CHECK_STR(err, "DOCCHAT_MAX_UPLOAD: '9223372036854775807M' is out of range "
		  "(1024..1073741824)");
	CHECK_INT(config_set(&cfg, "DOCCHAT_MAX_BODY", "-9223372036854775807k", err, sizeof err),
		  DC_BADREQ);
	CHECK_INT(cfg.max_upload, 20 * 1024 * 1024);
	CHECK_INT(config_set(&cfg, "DOCCHAT_MAX_UPLOAD", "2M", err, sizeof err), DC_OK);
	CHECK_INT(cfg.max_upload, 2 * 1024 * 1024);
	CHECK_INT(config_set(&cfg, "DOCCHAT_OLLAMA_URL", "http://", err, sizeof err), DC_BADREQ);
	CHECK_STR(err, "DOCCHAT_OLLAMA_URL: 'http://' has no host");
	CHECK_INT(config_set(&cfg, "DOCCHAT_OPENAI_URL", "https:///v1", err, sizeof err), DC_BADREQ);
	CHECK_STR(cfg.ollama_url, "http://127.0.0.1:11434");
	CHECK_STR(cfg.openai_url, "https://api.openai.com/v1");
	CHECK_INT(config_set(&cfg, "DOCCHAT_OLLAMA_URL", "http://h/", err, sizeof err), DC_OK);
	CHECK_STR(cfg.ollama_url, "http://h");
	config_free(&cfg);
}

int main(void)
{
	RUN(test_defaults);
	RUN(test_file_then_environment);
	RUN(test_bad_values_named);
	RUN(test_secret_masked);
	RUN(test_issue5_size_overflow_and_hostless_url);
	return check_summary();
}
