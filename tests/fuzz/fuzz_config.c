/* fuzz_config.c - the KEY=value config file parser (config.c) on any file.
 *
 * The input is the file named by DOCCHAT_CONFIG, loaded by config_load exactly as the
 * program does at start (defaults, the file, then the environment, which this harness
 * empties of docchat's variables first so that only the file counts). The file lives
 * in memory (a memfd reached through /proc/self/fd). Checked: a failure names what is
 * wrong; a success leaves every setting inside the range config.c documents, URLs
 * without a trailing slash or control characters, the overlap below the chunk size,
 * and a config that config_dump can print. */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"

#include "buf.h"
#include "config.h"

#define FUZZ_DUMP_MAX (1024 * 1024)

extern char **environ;

static int fd = -1;

/* Remove DOCCHAT_* and the OpenAI key from the environment, then point DOCCHAT_CONFIG
 * at the memfd. */
static void setup(void)
{
	char path[64];

	for (size_t i = 0; environ[i]; ) {
		char name[256];
		size_t n = strcspn(environ[i], "=");

		if ((strncmp(environ[i], "DOCCHAT_", 8) == 0 ||
		     strncmp(environ[i], "OPENAI_API_KEY=", 15) == 0) && n < sizeof name) {
			memcpy(name, environ[i], n);
			name[n] = '\0';
			unsetenv(name);
			i = 0;
			continue;
		}
		i++;
	}
	fd = memfd_create("docchat.conf", 0);
	if (fd < 0) {
		perror("fuzz_config: memfd_create");
		abort();
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	setenv("DOCCHAT_CONFIG", path, 1);
}

static void write_file(const uint8_t *data, size_t size)
{
	size_t off = 0;

	if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
		abort();
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);

		if (n <= 0)
			abort();
		off += (size_t)n;
	}
}

static void check_url(const char *u)
{
	size_t n = strlen(u);

	FUZZ_CHECK(strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0);
	FUZZ_CHECK(u[n - 1] != '/');
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)u[i] > ' ' && u[i] != 0x7f);
}

static void check_config(const struct config *c)
{
	struct buf dump;

	FUZZ_CHECK(c->db_path && c->db_path[0]);
	FUZZ_CHECK(c->threads >= 1 && c->threads <= 1024);
	FUZZ_CHECK(c->max_body >= 1024 && c->max_body <= 64 * 1024 * 1024);
	FUZZ_CHECK(c->max_question >= 16 && c->max_question <= 1024 * 1024);
	FUZZ_CHECK(c->max_upload >= 1024 && c->max_upload <= 1024ULL * 1024 * 1024);
	FUZZ_CHECK(c->top_k >= 1 && c->top_k <= 50);
	FUZZ_CHECK(c->chunk_tokens >= 20 && c->chunk_overlap >= 0 &&
		   c->chunk_overlap < c->chunk_tokens);
	FUZZ_CHECK(c->upstream_idle_s >= 1 && c->upstream_connect_s >= 1 && c->ping_s >= 1);
	FUZZ_CHECK(c->probe_ms >= 0 && c->grace_s >= 0 && c->max_tokens >= 0);
	FUZZ_CHECK(c->context_tokens >= 256 && c->embed_batch >= 1);
	FUZZ_CHECK(c->default_model && c->default_model[0]);
	FUZZ_CHECK(c->default_provider && c->system_prompt && c->openai_key && c->embed_model);
	check_url(c->openai_url);
	check_url(c->ollama_url);
	buf_init(&dump, FUZZ_DUMP_MAX);
	FUZZ_CHECK(config_dump(c, &dump) == DC_OK);
	buf_free(&dump);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char err[DC_ERRMAX] = "";
	enum dc_err rc;

	if (fd < 0)
		setup();
	write_file(data, size);
	rc = config_load(&cfg, err, sizeof err);
	if (rc != DC_OK) {
		FUZZ_CHECK(rc == DC_BADREQ || rc == DC_NOMEM);
		FUZZ_CHECK(err[0] != '\0');
		return 0;
	}
	check_config(&cfg);
	config_free(&cfg);
	return 0;
}
