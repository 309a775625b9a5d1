/* cli.c - the admin tool: `docchat ingest|documents|remove|search|ask|sessions|config|token`.
 *
 * Each subcommand is a row in a table (cgit's habit) with its own option parsing; they
 * use the same modules as the FastCGI side (ingest, search, chat, store), so what the
 * command line shows is what the web sees. Output for people on stdout, progress and
 * errors on stderr; exit status 0 ok, 1 failure, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "auth.h"
#include "buf.h"
#include "chat.h"
#include "cli.h"
#include "config.h"
#include "ingest.h"
#include "search.h"
#include "store.h"
#include "vectors.h"
#include "worker.h"

#define EXIT_USAGE 2
#define EXCERPT_BYTES 160

struct cli {
	struct config cfg;
	struct store *st;
	char err[DC_ERRMAX];
};

struct command {
	const char *name;
	int (*run)(struct cli *c, int argc, char **argv);
	const char *args;
	const char *help;
};

static int cmd_ingest(struct cli *c, int argc, char **argv);
static int cmd_documents(struct cli *c, int argc, char **argv);
static int cmd_remove(struct cli *c, int argc, char **argv);
static int cmd_search(struct cli *c, int argc, char **argv);
static int cmd_ask(struct cli *c, int argc, char **argv);
static int cmd_sessions(struct cli *c, int argc, char **argv);
static int cmd_config(struct cli *c, int argc, char **argv);
static int cmd_token(struct cli *c, int argc, char **argv);

static const struct command commands[] = {
	{ "ingest", cmd_ingest, "[--owner USER] [--replace] FILE|DIR...",
	  "add .txt, .md, .html and .pdf files; --replace swaps in changed versions" },
	{ "documents", cmd_documents, "", "list the stored documents of every owner" },
	{ "remove", cmd_remove, "ID...", "delete documents with their chunks" },
	{ "search", cmd_search, "[--top-k N] [--mode auto|keyword|vector|hybrid] QUERY",
	  "show the passages a question retrieves" },
	{ "ask", cmd_ask, "[--model M] [--session ID] [--mode all|none] [--top-k N]\n"
	  "                [--temperature T] [--show-prompt] QUESTION",
	  "answer a question, streamed to the terminal" },
	{ "sessions", cmd_sessions, "", "list chat sessions" },
	{ "config", cmd_config, "", "print the effective configuration (secrets hidden)" },
	{ "token", cmd_token, "create USER | list | revoke ID|PREFIX",
	  "API tokens for users: shown once when created, kept only as a hash" },
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

void cli_usage(FILE *f)
{
	fprintf(f, "usage: docchat COMMAND [OPTIONS]\n"
		"\n"
		"Chat with your documents: a FastCGI responder that streams grounded answers.\n"
		"Started by a web server without arguments, docchat serves FastCGI (listening\n"
		"socket on fd 0) or answers one CGI request. From a shell:\n\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  docchat %s %s\n      %s\n", commands[i].name, commands[i].args,
			commands[i].help);
	fprintf(f, "\n  docchat --help | --version\n\n"
		"Settings come from DOCCHAT_* environment variables and the KEY=value file named\n"
		"by DOCCHAT_CONFIG; `docchat config` shows them.\n");
}

static int open_store(struct cli *c)
{
	char self[WORKER_ID_MAX];

	if (store_open(c->cfg.db_path, &c->st, c->err, sizeof c->err) != DC_OK) {
		fprintf(stderr, "docchat: %s\n", c->err);
		return 0;
	}
	worker_self(self, sizeof self);	/* `ask` writes answers like a server does */
	if (store_set_worker(c->st, self) != DC_OK) {
		fprintf(stderr, "docchat: out of memory\n");
		return 0;
	}
	return 1;
}

static int usage_error(const char *cmd, const char *msg)
{
	fprintf(stderr, "docchat %s: %s (see docchat --help)\n", cmd, msg);
	return EXIT_USAGE;
}

/* A whole number in [lo, hi] from an option argument. */
static int parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end || errno || v < lo || v > hi)
		return 0;
	*out = v;
	return 1;
}

static double seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static int cmd_ingest(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "owner", required_argument, NULL, 'o' },
		{ "replace", no_argument, NULL, 'r' },
		{ 0, 0, 0, 0 } };
	const char *owner = "";
	struct ingest_stats total;
	struct timespec start;
	unsigned flags = 0;
	double secs;
	int opt, status = 0;

	while ((opt = getopt_long(argc, argv, "o:r", opts, NULL)) != -1) {
		if (opt == 'o')
			owner = optarg;
		else if (opt == 'r')
			flags |= INGEST_REPLACE;
		else
			return usage_error("ingest", "unknown option");
	}
	if (optind >= argc)
		return usage_error("ingest", "name at least one file or directory");
	if (!open_store(c))
		return 1;
	memset(&total, 0, sizeof total);
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (ingest_paths(c->st, &c->cfg, owner, (const char *const *)(argv + optind),
			 (size_t)(argc - optind), flags, &total, stderr, c->err,
			 sizeof c->err) != DC_OK) {
		fprintf(stderr, "docchat: %s\n", c->err);
		status = 1;
	}
	if (vectors_embed_pending(c->st, &c->cfg, stderr, c->err, sizeof c->err) != DC_OK) {
		fprintf(stderr, "docchat: embeddings: %s (keyword search still works)\n", c->err);
		status = 1;
	}
	secs = seconds_since(&start);
	printf("%d added, %d replaced, %d skipped, %d failed; %lld chunks, %lld bytes "
	       "in %.1f s (%.1f MB/s)\n", total.files_added, total.files_replaced,
	       total.files_skipped, total.files_failed, total.chunks, total.bytes, secs,
	       secs > 0 ? (double)total.bytes / 1e6 / secs : 0.0);
	return status || total.files_failed ? 1 : 0;
}

static int cmd_documents(struct cli *c, int argc, char **argv)
{
	struct store_document *d = NULL;
	size_t n = 0;

	(void)argv;
	if (argc > 1)
		return usage_error("documents", "takes no arguments");
	if (!open_store(c))
		return 1;
	if (store_document_list_all(c->st, &d, &n, c->err, sizeof c->err) != DC_OK) {
		fprintf(stderr, "docchat: %s\n", c->err);
		return 1;
	}
	printf("%6s  %-16s  %6s  %10s  %s\n", "ID", "OWNER", "CHUNKS", "BYTES", "NAME");
	for (size_t i = 0; i < n; i++)
		printf("%6lld  %-16s  %6lld  %10lld  %s\n", d[i].id,
		       d[i].owner[0] ? d[i].owner : "(shared)", d[i].chunk_count, d[i].size,
		       d[i].name);
	store_documents_free(d, n);
	return 0;
}

/* A document id from the command line: a whole number from 1. */
static int parse_id(const char *s, long long *id)
{
	char *end;

	errno = 0;
	*id = strtoll(s, &end, 10);
	return end != s && !*end && !errno && *id > 0;
}

/* Remove one document of any owner; 1 when done, 0 after printing why not. */
static int remove_one(struct cli *c, long long id)
{
	struct store_document *d = NULL;
	int ok = 0;

	if (store_document_get(c->st, id, &d, c->err, sizeof c->err) != DC_OK)
		goto out;
	if (store_document_delete(c->st, d->owner, id, c->err, sizeof c->err) != DC_OK)
		goto out;
	printf("removed %lld %s (%lld chunk%s, %s)\n", id, d->name, d->chunk_count,
	       d->chunk_count == 1 ? "" : "s", d->owner[0] ? d->owner : "shared");
	ok = 1;
out:
	if (!ok)
		fprintf(stderr, "docchat: %s\n", c->err);
	store_documents_free(d, 1);
	return ok;
}

static int cmd_remove(struct cli *c, int argc, char **argv)
{
	long long id;
	int status = 0;

	if (argc < 2)
		return usage_error("remove", "name at least one document ID (see docchat documents)");
	for (int i = 1; i < argc; i++)
		if (!parse_id(argv[i], &id))
			return usage_error("remove", "a document ID is a whole number from 1");
	if (!open_store(c))
		return 1;
	for (int i = 1; i < argc; i++) {
		parse_id(argv[i], &id);
		if (!remove_one(c, id))
			status = 1;
	}
	return status;
}

/* The first EXCERPT_BYTES of text on one line, never cut inside a UTF-8 character. */
static void print_excerpt(const char *text)
{
	size_t n = strlen(text);

	if (n > EXCERPT_BYTES) {
		n = EXCERPT_BYTES;
		while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
			n--;
	}
	fputs("   ", stdout);
	for (size_t i = 0; i < n; i++)
		putchar(text[i] == '\n' || text[i] == '\r' || text[i] == '\t' ? ' ' : text[i]);
	puts(n < strlen(text) ? "..." : "");
}

static int cmd_search(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "top-k", required_argument, NULL, 'k' },
		{ "mode", required_argument, NULL, 'm' },
		{ 0, 0, 0, 0 }
	};
	struct search_hit *hits = NULL;
	struct search_used used;
	enum search_mode mode = SEARCH_AUTO;
	size_t n = 0;
	long top_k = c->cfg.top_k;
	int opt;

	while ((opt = getopt_long(argc, argv, "k:m:", opts, NULL)) != -1) {
		if (opt == 'k' && parse_int(optarg, 1, CHAT_TOP_K_MAX, &top_k))
			continue;
		if (opt == 'm' && (strcmp(optarg, "auto") == 0 || search_mode_parse(optarg, &mode)))
			continue;
		return usage_error("search", opt == 'm' ?
				   "--mode is one of auto, keyword, vector, hybrid" :
				   "--top-k takes a number from 1 to 50");
	}
	if (optind != argc - 1)
		return usage_error("search", "give one query (quote it)");
	if (!open_store(c))
		return 1;
	if (search_run(c->st, &c->cfg, "", argv[optind], mode, NULL, 0, (int)top_k, &hits, &n,
		       &used, c->err, sizeof c->err) != DC_OK) {
		fprintf(stderr, "docchat: %s\n", c->err);
		return 1;
	}
	if (used.fallback[0])
		fprintf(stderr, "docchat: vector search unavailable (%s); keyword search instead\n",
			used.fallback);
	fprintf(stderr, "%s search\n", search_mode_name(used.mode));
	if (n == 0)
		printf("no matching passages\n");
	for (size_t i = 0; i < n; i++) {
		printf("%zu. %.3f  %s", i + 1, hits[i].score, hits[i].h.document);
		if (hits[i].h.heading)
			printf(" > %s", hits[i].h.heading);
		printf("  (chunk %d)\n", hits[i].h.ordinal);
		print_excerpt(hits[i].h.text);
	}
	search_hits_free(hits, n);
	return 0;
}

/* ---- ask: the chat pipeline with the terminal as the client ---- */

struct term {
	struct timespec start;
	json_object *sources;	/* kept from the sources event, printed at the end */
	int chunks_used;
	int failed;
};

static enum dc_err term_event(void *ud, json_object *ev)
{
	struct term *t = ud;
	json_object *type, *content, *used;
	const char *ty;

	if (!json_object_object_get_ex(ev, "type", &type))
		return DC_OK;
	ty = json_object_get_string(type);
	json_object_object_get_ex(ev, "content", &content);
	if (strcmp(ty, "chunk") == 0) {
		fputs(json_object_get_string(content), stdout);
		fflush(stdout);
	} else if (strcmp(ty, "status") == 0) {
		fprintf(stderr, "%s\n", json_object_get_string(content));
	} else if (strcmp(ty, "sources") == 0) {
		t->sources = json_object_get(content);
		if (json_object_object_get_ex(ev, "chunks_used", &used))
			t->chunks_used = json_object_get_int(used);
	} else if (strcmp(ty, "error") == 0) {
		fprintf(stderr, "\nerror: %s\n", json_object_get_string(content));
		t->failed = 1;
	}
	return DC_OK;
}

static enum dc_err term_tick(void *ud)
{
	(void)ud;
	return DC_OK;
}

static long term_elapsed(void *ud)
{
	struct term *t = ud;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)((now.tv_sec - t->start.tv_sec) * 1000 +
		      (now.tv_nsec - t->start.tv_nsec) / 1000000);
}

static void print_sources(const struct term *t)
{
	size_t n = t->sources ? json_object_array_length(t->sources) : 0;

	if (n == 0 || t->chunks_used == 0)
		return;
	printf("\nSources:\n");
	for (size_t i = 0; i < n && i < (size_t)t->chunks_used; i++) {
		json_object *s = json_object_array_get_idx(t->sources, i), *m, *v;

		json_object_object_get_ex(s, "metadata", &m);
		json_object_object_get_ex(m, "document", &v);
		printf("[%zu] %s", i + 1, json_object_get_string(v));
		if (json_object_object_get_ex(m, "heading", &v) && v)
			printf(" > %s", json_object_get_string(v));
		json_object_object_get_ex(s, "score", &v);
		printf(" (score %.2f)\n", json_object_get_double(v));
	}
}

struct ask_opts {
	const char *model;
	const char *session;
	const char *mode;
	long top_k;
	double temperature;
	int show_prompt;
};

static int parse_ask(struct cli *c, int argc, char **argv, struct ask_opts *o)
{
	static const struct option opts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "session", required_argument, NULL, 's' },
		{ "mode", required_argument, NULL, 'M' },
		{ "top-k", required_argument, NULL, 'k' },
		{ "temperature", required_argument, NULL, 't' },
		{ "show-prompt", no_argument, NULL, 'p' },
		{ 0, 0, 0, 0 } };
	char *end;
	int opt;

	o->mode = "all";
	o->top_k = c->cfg.top_k;
	o->temperature = -1;
	while ((opt = getopt_long(argc, argv, "m:s:M:k:t:p", opts, NULL)) != -1) {
		switch (opt) {
		case 'm': o->model = optarg; break;
		case 's': o->session = optarg; break;
		case 'M': o->mode = optarg; break;
		case 'p': o->show_prompt = 1; break;
		case 'k':
			if (!parse_int(optarg, 1, CHAT_TOP_K_MAX, &o->top_k))
				return usage_error("ask", "--top-k takes a number from 1 to 50");
			break;
		case 't':
			o->temperature = strtod(optarg, &end);
			if (*end || !isfinite(o->temperature) || o->temperature < 0 || o->temperature > 2)
				return usage_error("ask", "--temperature takes a number from 0 to 2");
			break;
		default:
			return usage_error("ask", "unknown option");
		}
	}
	if (strcmp(o->mode, "all") != 0 && strcmp(o->mode, "none") != 0)
		return usage_error("ask", "--mode is all or none");
	if (optind != argc - 1)
		return usage_error("ask", "give one question (quote it)");
	return 0;
}

/* The session to ask in: the one named, or a new one titled after the question. */
static int ask_session(struct cli *c, const struct ask_opts *o, const char *question,
		       struct store_session *s)
{
	char title[64];
	size_t n = strlen(question);
	enum dc_err rc;

	if (o->session) {
		rc = store_session_get(c->st, "", o->session, s, c->err, sizeof c->err);
	} else {
		if (n > sizeof title - 1) {
			n = sizeof title - 1;
			while (n > 0 && ((unsigned char)question[n] & 0xC0) == 0x80)
				n--;
		}
		memcpy(title, question, n);
		title[n] = '\0';
		rc = store_session_create(c->st, "", title, s, c->err, sizeof c->err);
	}
	if (rc != DC_OK)
		fprintf(stderr, "docchat: %s\n", rc == DC_NOTFOUND ? "no such session" : c->err);
	return rc == DC_OK;
}

static int cmd_ask(struct cli *c, int argc, char **argv)
{
	struct ask_opts o;
	struct store_session s;
	struct chat_params p;
	struct term t;
	struct chat_sink sink = { term_event, term_tick, term_elapsed, &t };
	struct chat_outcome out;
	long long user_id = 0, answer_id = 0;
	int status = 1;

	memset(&o, 0, sizeof o);
	memset(&s, 0, sizeof s);
	memset(&p, 0, sizeof p);
	memset(&t, 0, sizeof t);
	clock_gettime(CLOCK_MONOTONIC, &t.start);
	if ((status = parse_ask(c, argc, argv, &o)) != 0)
		return status;
	status = 1;
	p.question = argv[optind];
	if (!*p.question || strlen(p.question) > c->cfg.max_question)
		return usage_error("ask", "the question is empty or too long");
	if (chat_resolve_model(&c->cfg, o.model, &p.model, c->err, sizeof c->err) != DC_OK) {
		fprintf(stderr, "docchat: %s\n", c->err);
		return EXIT_USAGE;
	}
	if (!open_store(c) || !ask_session(c, &o, p.question, &s))
		goto out;
	p.owner = "";
	p.session_id = s.id;
	p.search_mode = o.mode;
	p.top_k = (int)o.top_k;
	p.temperature = o.temperature;
	p.prompt_out = o.show_prompt ? stderr : NULL;
	if (chat_store_question(c->st, &p, &user_id, &answer_id, c->err, sizeof c->err) != DC_OK) {
		fprintf(stderr, "docchat: %s\n", c->err);
		goto out;
	}
	chat_answer(&c->cfg, c->st, &p, user_id, answer_id, &sink, &out);
	putchar('\n');
	print_sources(&t);
	fprintf(stderr, "session %s, model %s\n", s.id, p.model.full);
	status = strcmp(out.status, "complete") == 0 ? 0 : 1;
out:
	json_object_put(t.sources);
	store_session_clear(&s);
	return status;
}

static int cmd_sessions(struct cli *c, int argc, char **argv)
{
	struct store_session *s = NULL;
	size_t n = 0;

	(void)argv;
	if (argc > 1)
		return usage_error("sessions", "takes no arguments");
	if (!open_store(c))
		return 1;
	if (store_session_list(c->st, "", &s, &n, c->err, sizeof c->err) != DC_OK) {
		fprintf(stderr, "docchat: %s\n", c->err);
		return 1;
	}
	printf("%-36s  %-16s  %5s  %s\n", "ID", "UPDATED (UTC)", "MSGS", "TITLE");
	for (size_t i = 0; i < n; i++) {
		char when[32] = "";
		time_t t = (time_t)s[i].updated_at;
		struct tm tm;

		if (gmtime_r(&t, &tm))
			strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
		printf("%-36s  %-16s  %5lld  %s\n", s[i].id, when, s[i].message_count, s[i].title);
	}
	store_sessions_free(s, n);
	return 0;
}

static int cmd_config(struct cli *c, int argc, char **argv)
{
	struct buf out;
	int status = 0;

	(void)argv;
	if (argc > 1)
		return usage_error("config", "takes no arguments");
	buf_init(&out, 1 << 20);
	if (config_dump(&c->cfg, &out) != DC_OK)
		status = 1;
	else
		fputs(buf_str(&out), stdout);
	buf_free(&out);
	return status;
}

/* ---- token: API tokens (auth.h) ---- */

#define TIME_TEXT_MAX 32

/* t (unix seconds) as "YYYY-MM-DD HH:MM" UTC into out, or none when t is 0. */
static void time_text(long long t, const char *none, char out[TIME_TEXT_MAX])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm) || strftime(out, TIME_TEXT_MAX, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(out, TIME_TEXT_MAX, "%s", none);
}

static int token_create(struct cli *c, int argc, char **argv)
{
	char token[AUTH_TOKEN_LEN + 1], prefix[AUTH_TOKEN_PREFIX_LEN + 1];
	long long id = 0;

	if (argc != 2)
		return usage_error("token", "token create takes one user name");
	if (!auth_user_valid(argv[1], strlen(argv[1])))
		return usage_error("token", "a user name is 1 to 128 bytes of UTF-8 without "
				   "control characters");
	if (!open_store(c))
		return 1;
	if (auth_token_create(c->st, argv[1], token, &id, c->err, sizeof c->err) != DC_OK) {
		fprintf(stderr, "docchat: %s\n", c->err);
		return 1;
	}
	memcpy(prefix, token, AUTH_TOKEN_PREFIX_LEN);
	prefix[AUTH_TOKEN_PREFIX_LEN] = '\0';
	/* The token alone on stdout, so that `TOKEN=$(docchat token create alice)` works. */
	printf("%s\n", token);
	fflush(stdout);
	explicit_bzero(token, sizeof token);
	fprintf(stderr, "token %lld for %s created; it is shown only this once "
		"(docchat token list shows it as %s)\n", id, argv[1], prefix);
	return 0;
}

/* s left-aligned in width characters (UTF-8 code points, not bytes), then two spaces. */
static void print_column(const char *s, int width)
{
	int chars = 0;

	for (const char *p = s; *p; p++)
		chars += ((unsigned char)*p & 0xC0) != 0x80;
	printf("%s%*s  ", s, chars < width ? width - chars : 0, "");
}

static int token_list(struct cli *c, int argc, char **argv)
{
	struct store_token *t = NULL;
	char created[TIME_TEXT_MAX], used[TIME_TEXT_MAX], revoked[TIME_TEXT_MAX];
	size_t n = 0;

	(void)argv;
	if (argc != 1)
		return usage_error("token", "token list takes no arguments");
	if (!open_store(c))
		return 1;
	if (store_token_list(c->st, &t, &n, c->err, sizeof c->err) != DC_OK) {
		fprintf(stderr, "docchat: %s\n", c->err);
		return 1;
	}
	printf("%4s  %-16s  %-8s  %-16s  %-16s  %s\n", "ID", "USER", "PREFIX", "CREATED (UTC)",
	       "LAST USED (UTC)", "REVOKED (UTC)");
	for (size_t i = 0; i < n; i++) {
		time_text(t[i].created_at, "-", created);
		time_text(t[i].last_used_at, "never", used);
		time_text(t[i].revoked_at, "-", revoked);
		printf("%4lld  ", t[i].id);
		print_column(t[i].user, 16);
		printf("%-8s  %-16s  %-16s  %s\n", t[i].prefix, created, used, revoked);
	}
	store_tokens_free(t, n);
	return 0;
}

/* Does arg name a token: an ID, a whole token or a prefix ("dc_" and 5 more)? */
static int token_arg_ok(const char *arg)
{
	long long id;
	size_t len = strlen(arg);

	return parse_id(arg, &id) || auth_token_wellformed(arg, len) ||
	       (len == AUTH_TOKEN_PREFIX_LEN &&
		strncmp(arg, AUTH_TOKEN_TAG, strlen(AUTH_TOKEN_TAG)) == 0);
}

/* The token that arg (token_arg_ok) names: by ID, by the whole token, or by its prefix,
 * which must name one token that is not revoked. Sets *found to its row in *rows; 0
 * after printing why not. */
static int token_named(struct cli *c, const char *arg, struct store_token **rows, size_t *n,
		       const struct store_token **found)
{
	unsigned char hash[STORE_TOKEN_HASH_LEN];
	char prefix[AUTH_TOKEN_PREFIX_LEN + 1];
	size_t len = strlen(arg), live = 0;
	long long id = 0;
	int by_id = parse_id(arg, &id), whole = auth_token_wellformed(arg, len);
	enum dc_err rc;

	*found = NULL;
	if (by_id) {
		rc = store_token_list(c->st, rows, n, c->err, sizeof c->err);
	} else {
		memcpy(prefix, arg, AUTH_TOKEN_PREFIX_LEN);
		prefix[AUTH_TOKEN_PREFIX_LEN] = '\0';
		rc = store_token_find(c->st, prefix, rows, n, c->err, sizeof c->err);
	}
	if (rc != DC_OK) {
		fprintf(stderr, "docchat: %s\n", c->err);
		return 0;
	}
	if (whole)
		auth_token_hash(arg, len, hash);
	for (size_t i = 0; i < *n; i++) {
		const struct store_token *t = &(*rows)[i];

		if ((by_id && t->id == id) ||
		    (whole && auth_equal(t->hash, hash, sizeof hash))) {
			*found = t;
			return 1;
		}
		if (!by_id && !whole && !t->revoked_at) {
			*found = t;
			live++;
		}
	}
	if (live > 1) {
		fprintf(stderr, "docchat: prefix %s names %zu tokens; revoke by ID (see docchat "
			"token list)\n", arg, live);
		*found = NULL;
		return 0;
	}
	if (!*found && !by_id && !whole && *n > 0)
		*found = &(*rows)[0];	/* only revoked ones: say so below */
	if (!*found) {
		fprintf(stderr, "docchat: no token %s (see docchat token list)\n", arg);
		return 0;
	}
	return 1;
}

static int token_revoke(struct cli *c, int argc, char **argv)
{
	struct store_token *rows = NULL;
	const struct store_token *t = NULL;
	size_t n = 0;
	int status = 1;

	if (argc != 2 || !token_arg_ok(argv[1]))
		return usage_error("token", "token revoke takes one token ID or prefix, as "
				   "docchat token list shows them");
	if (!open_store(c))
		return 1;
	if (!token_named(c, argv[1], &rows, &n, &t))
		goto out;
	if (t->revoked_at) {
		fprintf(stderr, "docchat: token %lld (%s, %s) is already revoked\n", t->id, t->user,
			t->prefix);
		goto out;
	}
	if (store_token_revoke(c->st, t->id, c->err, sizeof c->err) != DC_OK) {
		fprintf(stderr, "docchat: %s\n", c->err);
		goto out;
	}
	printf("revoked token %lld (%s, %s)\n", t->id, t->user, t->prefix);
	status = 0;
out:
	store_tokens_free(rows, n);
	return status;
}

static const struct command token_commands[] = {
	{ "create", token_create, "USER", "" },
	{ "list", token_list, "", "" },
	{ "revoke", token_revoke, "ID|PREFIX", "" },
};

static int cmd_token(struct cli *c, int argc, char **argv)
{
	if (argc < 2)
		return usage_error("token", "say create USER, list or revoke ID|PREFIX");
	for (size_t i = 0; i < sizeof token_commands / sizeof token_commands[0]; i++)
		if (strcmp(argv[1], token_commands[i].name) == 0)
			return token_commands[i].run(c, argc - 1, argv + 1);
	return usage_error("token", "say create USER, list or revoke ID|PREFIX");
}

int cli_main(int argc, char **argv)
{
	const struct command *cmd = NULL;
	struct cli c;
	int status;

	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		cli_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("docchat %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			cmd = &commands[i];
	if (!cmd) {
		fprintf(stderr, "docchat: unknown command '%s'\n\n", argv[1]);
		cli_usage(stderr);
		return EXIT_USAGE;
	}
	memset(&c, 0, sizeof c);
	if (config_load(&c.cfg, c.err, sizeof c.err) != DC_OK) {
		fprintf(stderr, "docchat: configuration: %s\n", c.err);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	optind = 1;
	status = cmd->run(&c, argc - 1, argv + 1);
	store_close(c.st);
	curl_global_cleanup();
	config_free(&c.cfg);
	return status;
}
