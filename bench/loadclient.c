/* bench/loadclient.c - concurrent streaming load on docchat, or on a model server directly.
 *
 * Opens streams with libcurl's multi interface on epoll (curl_multi_socket_action), so
 * that a thousand streams cost the client only the bytes that arrive. Two kinds of
 * target:
 *   --target docchat URL   docchat's API (e.g. http://127.0.0.1:8080/api): one session per
 *                          request is created first (POST URL/sessions, not timed), then
 *                          each stream is POST URL/chat/{id}/stream with the question, the
 *                          model "openai:<scenario>" (or --provider ollama) and
 *                          "search_mode": "none" (--search all to search)
 *   --target openai URL    an OpenAI-compatible server directly (URL ends in /v1)
 *   --target ollama URL    an Ollama server directly
 * The scenario is the fake model's name syntax (bench/fakemodel.c): tokens=N;pace_ms=M.
 * Each token's text carries the CLOCK_MONOTONIC time at which the model server sent it
 * ("t<ns> "); the client subtracts it from its own CLOCK_MONOTONIC receive time (taken
 * when curl hands over the bytes), so both clocks are the same and the difference is the
 * token's delay on the way from the model server to this client.
 *
 * Recorded per stream, from the moment the request is handed to curl: time to the first
 * response header byte (ttfb), to the `start` event (direct: the first event or line),
 * to the first token; per token the delay, and apart from the others the delay of the
 * stream's first token (for docchat it is the one that waited for everything docchat does
 * before it relays: the search, the prompt, the model request); whether the stream ended
 * with `done`
 * (direct: `data: [DONE]` or "done": true) and what went wrong otherwise. --watch
 * LABEL=PID[,PID...] also reads /proc for those processes: CPU (utime+stime) used
 * between the first request and the end of the last stream, resident memory just before
 * the first request (idle) and its peak (sampled every 50 ms). --watch-tree
 * LABEL=ROOT:COMM does the same for every process named COMM below ROOT, looked for
 * again every 500 ms (a server that starts processes during the run), with the
 * proportional set size as memory. A run also reports the machine's CPU use and how much
 * of it went to processes neither watched nor this client (other work on the machine).
 *
 *   bench-loadclient --target docchat URL [-n N] [--requests M] [--tokens T] [--pace-ms P]
 *       [--ramp-ms R] [--provider openai|ollama] [--search none|all] [--stall-s S]
 *       [--question TEXT]... [--watch LABEL=PID,...]... [--watch-tree LABEL=ROOT:COMM]...
 *       [--json]
 *
 * At most N streams are open at once, M (default N) in all; the first N start spread
 * over R ms (default 0: all at once). The question is "How often should I descale the
 * machine?" unless --question is given; given more than once, request i asks question
 * i modulo their number. Prints a summary to stderr and, with --json, one
 * JSON object with every figure to stdout (bench/run reads it). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include <curl/curl.h>

#define LC_LINE_KEEP 4096	/* bytes of a line kept for parsing; the rest is skipped */
#define LC_MAX_WATCH 8
#define LC_MAX_PIDS 4096
#define LC_TREE_SAMPLE_MS 500
#define LC_MAX_REASONS 16
#define LC_SAMPLE_MS 50
#define LC_MAX_EVENTS 1024
#define LC_MAX_QUESTIONS 4096
#define LC_QUESTION_MAX 1024	/* bytes of one question, before JSON escaping */
#define LC_BODY_MAX 8192

enum target { T_DOCCHAT, T_OPENAI, T_OLLAMA };

struct stream {
	CURL *easy;
	struct curl_slist *hdrs;
	char *body;
	char url[512];
	long long t0, t_hdr, t_start, t_first, t_end;
	long long tokens;
	long long first_delay;		/* the first token's delay, ns */
	long status;
	int done, errors, finished;
	char err[160];			/* the first error event's text */
	CURLcode result;
	char line[LC_LINE_KEEP + 1];
	size_t linelen;
	int line_long;			/* this line is longer than we keep */
};

/* Processes whose CPU and memory are recorded: fixed pids (--watch), or every process
 * named comm below root, found again at each sample (--watch-tree), for servers that
 * start processes during the run. Memory is the resident set of fixed pids and the
 * proportional set size (PSS: shared pages divided among their users) of a tree, whose
 * processes share their libraries. */
struct watch {
	char label[32];
	int root;			/* a tree: its root, else 0 */
	char comm[16];
	int pids[LC_MAX_PIDS];
	double base[LC_MAX_PIDS];	/* CPU seconds when first seen (0: born during the run) */
	double last[LC_MAX_PIDS];	/* CPU seconds when last read */
	int npids, started;
	double cpu;			/* seconds used during the run */
	long long rss_idle, rss_peak;	/* KiB */
};

struct series {
	long long *v;
	size_t n, cap;
};

static enum target target = T_DOCCHAT;
static const char *base_url;
static const char *provider = "openai";
static const char *search_mode = "none";
static int conc = 1, total = 0, ramp_ms = 0, stall_s = 60, json_out;
static long tokens = 200, pace_ms = 20;
static struct watch watches[LC_MAX_WATCH];
static int nwatch;

static int epfd;
static CURLM *multi;
static long long curl_deadline = -1;
static struct series delays;	/* per token, ns */
static struct series first_delays;	/* per stream, its first token's, ns */
static const char *questions[LC_MAX_QUESTIONS];
static int nquestions;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *msg)
{
	fprintf(stderr, "loadclient: %s\n", msg);
	exit(1);
}

static void series_add(struct series *s, long long v)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 65536;
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		if (!s->v)
			die("out of memory");
	}
	s->v[s->n++] = v;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile (p in 0..100) of a sorted series, in ms; NAN when empty. */
static double pct(const struct series *s, double p)
{
	size_t k;

	if (s->n == 0)
		return NAN;
	k = (size_t)ceil(p / 100.0 * (double)s->n);
	if (k < 1)
		k = 1;
	if (k > s->n)
		k = s->n;
	return (double)s->v[k - 1] / 1e6;
}

/* ---- /proc ------------------------------------------------------------------------ */

static double proc_cpu_s(int pid)
{
	char path[64], line[2048], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	int field;

	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(line, sizeof line, f)) {
		fclose(f);
		return 0;
	}
	fclose(f);
	p = strrchr(line, ')');
	/* Field 3 follows ") "; utime and stime are fields 14 and 15. */
	for (field = 2; p && *p && field < 14; p++)
		if (*p == ' ')
			field++;
	if (p && sscanf(p, "%llu %llu", &ut, &st) == 2)
		return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

static long long proc_rss_kb(int pid)
{
	char path[64];
	long long size, rss;
	FILE *f;
	int ok;

	snprintf(path, sizeof path, "/proc/%d/statm", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	ok = fscanf(f, "%lld %lld", &size, &rss) == 2;
	fclose(f);
	return ok ? rss * (sysconf(_SC_PAGESIZE) / 1024) : 0;
}

static long long proc_pss_kb(int pid)
{
	char path[64], line[256];
	long long kb = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Pss: %lld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* A tree watch: add the processes named w->comm below w->root not seen before. */
static void watch_scan(struct watch *w)
{
	static int *pid, *ppid, *mark;
	static char (*comm)[16];
	static size_t cap;
	size_t n = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	int changed;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[300], line[512], *l, *r;
		FILE *f;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		l = fgets(line, sizeof line, f);
		fclose(f);
		if (!l || !(l = strchr(line, '(')) || !(r = strrchr(line, ')')))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			pid = realloc(pid, cap * sizeof *pid);
			ppid = realloc(ppid, cap * sizeof *ppid);
			mark = realloc(mark, cap * sizeof *mark);
			comm = realloc(comm, cap * sizeof *comm);
			if (!pid || !ppid || !mark || !comm)
				die("out of memory");
		}
		pid[n] = atoi(e->d_name);
		ppid[n] = atoi(r + 4);	/* ") S PPID" */
		snprintf(comm[n], sizeof comm[n], "%.*s", (int)(r - l - 1), l + 1);
		mark[n] = pid[n] == w->root;
		n++;
	}
	closedir(d);
	do {			/* mark the root's descendants */
		changed = 0;
		for (size_t i = 0; i < n; i++)
			if (!mark[i])
				for (size_t j = 0; j < n; j++)
					if (mark[j] && pid[j] == ppid[i]) {
						mark[i] = changed = 1;
						break;
					}
	} while (changed);
	for (size_t i = 0; i < n; i++) {
		int k;

		if (!mark[i] || strcmp(comm[i], w->comm) != 0)
			continue;
		for (k = 0; k < w->npids && w->pids[k] != pid[i]; k++)
			;
		if (k < w->npids || w->npids == LC_MAX_PIDS)
			continue;
		w->pids[k] = pid[i];
		w->base[k] = w->started ? 0 : proc_cpu_s(pid[i]);
		w->last[k] = w->base[k];
		w->npids++;
	}
}

/* Read the watched processes: CPU so far (w->cpu), memory now (returned, KiB). */
static long long watch_sample(struct watch *w)
{
	long long mem = 0;

	if (w->root)
		watch_scan(w);
	w->cpu = 0;
	for (int i = 0; i < w->npids; i++) {
		double c = proc_cpu_s(w->pids[i]);

		if (c > 0)
			w->last[i] = c;		/* a process that ended keeps its last reading */
		w->cpu += w->last[i] - w->base[i];
		mem += w->root ? proc_pss_kb(w->pids[i]) : proc_rss_kb(w->pids[i]);
	}
	return mem;
}

/* Jiffies of the whole machine from /proc/stat's "cpu" line: all of them, the busy ones
 * (everything but idle and iowait), and those that processes account for (user, nice,
 * system: not interrupts, soft interrupts or steal). */
static void machine_cpu(unsigned long long *all, unsigned long long *busy,
			unsigned long long *procs)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");

	*busy = *all = *procs = 0;
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (int i = 0; i < 8; i++)
			*all += v[i];
		*busy = *all - v[3] - v[4];
		*procs = v[0] + v[1] + v[2];
	}
	fclose(f);
}

static double self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ---- parsing what arrives ----------------------------------------------------------- */

/* Record every "t<ns>" stamp in the JSON string value that starts at s (after its
 * opening quote). */
static void stamps(struct stream *st, const char *s, long long now)
{
	for (; *s && *s != '"'; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			continue;
		}
		if (*s == 't' && isdigit((unsigned char)s[1])) {
			long long ns = strtoll(s + 1, (char **)&s, 10);

			if (st->tokens == 0) {
				st->t_first = now;
				st->first_delay = now - ns;
			}
			st->tokens++;
			series_add(&delays, now - ns);
			s--;
		}
	}
}

static void content_stamps(struct stream *st, const char *line, long long now)
{
	const char *c = strstr(line, "\"content\":\"");

	if (c)
		stamps(st, c + 11, now);
}

static void on_line(struct stream *st, char *line, long long now)
{
	if (target == T_DOCCHAT) {
		const char *t;
		char type[16];
		size_t n;

		if (strncmp(line, "data: ", 6) != 0)
			return;
		t = strstr(line, "\"type\":\"");
		if (!t)
			return;
		t += 8;
		n = strcspn(t, "\"");
		if (n >= sizeof type)
			return;
		memcpy(type, t, n);
		type[n] = 0;
		if (strcmp(type, "chunk") == 0)
			content_stamps(st, line, now);
		else if (strcmp(type, "start") == 0)
			st->t_start = now;
		else if (strcmp(type, "done") == 0)
			st->done = 1;
		else if (strcmp(type, "error") == 0 && st->errors++ == 0) {
			const char *c = strstr(line, "\"content\":\"");

			snprintf(st->err, sizeof st->err, "error event: %.*s",
				 c ? (int)strcspn(c + 11, "\"") : 0, c ? c + 11 : "");
		}
		return;
	}
	if (target == T_OPENAI) {
		if (strncmp(line, "data: ", 6) != 0)
			return;
		if (!st->t_start)
			st->t_start = now;
		if (strcmp(line + 6, "[DONE]") == 0)
			st->done = 1;
		else
			content_stamps(st, line, now);
		return;
	}
	if (!line[0])
		return;
	if (!st->t_start)
		st->t_start = now;
	if (strstr(line, "\"done\":true"))
		st->done = 1;
	else
		content_stamps(st, line, now);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct stream *st = ud;
	size_t n = size * nmemb;
	long long now = now_ns();

	for (size_t i = 0; i < n; i++) {
		char ch = p[i];

		if (ch == '\n') {
			if (st->linelen > 0 && st->line[st->linelen - 1] == '\r')
				st->linelen--;
			st->line[st->linelen] = 0;
			on_line(st, st->line, now);
			st->linelen = 0;
			st->line_long = 0;
		} else if (st->linelen < LC_LINE_KEEP) {
			st->line[st->linelen++] = ch;
		} else {
			st->line_long = 1;
		}
	}
	return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct stream *st = ud;

	(void)p;
	if (!st->t_hdr)
		st->t_hdr = now_ns();
	return size * nmemb;
}

/* ---- curl multi on epoll ------------------------------------------------------------ */

static int on_socket(CURL *e, curl_socket_t s, int what, void *up, void *sp)
{
	struct epoll_event ev;

	(void)e;
	(void)up;
	(void)sp;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	memset(&ev, 0, sizeof ev);
	ev.data.fd = s;
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev) < 0 && errno == ENOENT)
		epoll_ctl(epfd, EPOLL_CTL_ADD, s, &ev);
	return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *up)
{
	(void)m;
	(void)up;
	curl_deadline = timeout_ms < 0 ? -1 : now_ns() + timeout_ms * 1000000LL;
	return 0;
}

/* ---- requests ------------------------------------------------------------------------ */

struct membuf {
	char *p;
	size_t n;
};

static size_t to_mem(char *p, size_t size, size_t nmemb, void *ud)
{
	struct membuf *b = ud;
	size_t n = size * nmemb;
	char *q = realloc(b->p, b->n + n + 1);

	if (!q)
		return 0;
	memcpy(q + b->n, p, n);
	b->n += n;
	q[b->n] = 0;
	b->p = q;
	return n;
}

/* POST URL/sessions; the new session's id into id (37 bytes). */
static void new_session(CURL *e, char *id)
{
	char url[512];
	struct membuf b = { NULL, 0 };
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	const char *p;
	long status = 0;
	CURLcode rc;

	snprintf(url, sizeof url, "%s/sessions", base_url);
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, "{\"title\":\"bench\"}");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, to_mem);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
	rc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	if (rc != CURLE_OK || status != 201 || !b.p || !(p = strstr(b.p, "\"id\":\"")) ||
	    strcspn(p + 6, "\"") != 36) {
		fprintf(stderr, "loadclient: POST %s: %s, status %ld: %s\n", url,
			curl_easy_strerror(rc), status, b.p ? b.p : "");
		exit(1);
	}
	memcpy(id, p + 6, 36);
	id[36] = 0;
	free(b.p);
}

static void scenario_name(char *out, size_t n)
{
	snprintf(out, n, "fake;tokens=%ld;pace_ms=%ld", tokens, pace_ms);
}

/* s as a JSON string, quotes included, into out; 0 if it does not fit. */
static int json_quote(char *out, size_t n, const char *s)
{
	size_t j = 0;

	if (n < 3)
		return 0;
	out[j++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int w;

		if (c == '"' || c == '\\')
			w = snprintf(out + j, n - j, "\\%c", c);
		else if (c < 0x20)
			w = snprintf(out + j, n - j, "\\u%04x", c);
		else
			w = snprintf(out + j, n - j, "%c", c);
		if (w < 0 || (size_t)w >= n - j)
			return 0;
		j += (size_t)w;
	}
	if (j + 2 > n)
		return 0;
	out[j++] = '"';
	out[j] = 0;
	return 1;
}

/* Request i: its question, its URL and body, its easy handle. */
static void stream_prepare(struct stream *st, int i, const char *session)
{
	char model[128], body[LC_BODY_MAX], q[LC_BODY_MAX / 2];
	const char *question = nquestions ? questions[i % nquestions] :
				 "How often should I descale the machine?";
	int w;

	scenario_name(model, sizeof model);
	memset(st, 0, sizeof *st);
	if (!json_quote(q, sizeof q, question))
		die("a question is too long");
	st->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (target == T_DOCCHAT) {
		snprintf(st->url, sizeof st->url, "%s/chat/%s/stream", base_url, session);
		w = snprintf(body, sizeof body, "{\"question\":%s,\"model\":\"%s:%s\","
			     "\"search_mode\":\"%s\"}", q, provider, model, search_mode);
	} else if (target == T_OPENAI) {
		snprintf(st->url, sizeof st->url, "%s/chat/completions", base_url);
		w = snprintf(body, sizeof body, "{\"model\":\"%s\",\"messages\":[{\"role\":"
			     "\"user\",\"content\":%s}],\"stream\":true,"
			     "\"stream_options\":{\"include_usage\":true}}", model, q);
		st->hdrs = curl_slist_append(st->hdrs, "Authorization: Bearer sk-bench");
	} else {
		snprintf(st->url, sizeof st->url, "%s/api/chat", base_url);
		w = snprintf(body, sizeof body, "{\"model\":\"%s\",\"messages\":[{\"role\":"
			     "\"user\",\"content\":%s}],\"stream\":true}", model, q);
	}
	if (w < 0 || (size_t)w >= sizeof body)
		die("a request body is too long");
	st->body = strdup(body);
	st->easy = curl_easy_init();
	if (!st->easy || !st->body || !st->hdrs)
		die("out of memory");
	curl_easy_setopt(st->easy, CURLOPT_URL, st->url);
	curl_easy_setopt(st->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(st->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(st->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(st->easy, CURLOPT_HTTPHEADER, st->hdrs);
	curl_easy_setopt(st->easy, CURLOPT_POSTFIELDS, st->body);
	curl_easy_setopt(st->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(st->easy, CURLOPT_WRITEDATA, st);
	curl_easy_setopt(st->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(st->easy, CURLOPT_HEADERDATA, st);
	curl_easy_setopt(st->easy, CURLOPT_PRIVATE, st);
	curl_easy_setopt(st->easy, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(st->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(st->easy, CURLOPT_LOW_SPEED_TIME, (long)stall_s);
}

static void stream_start(struct stream *st)
{
	st->t0 = now_ns();
	if (curl_multi_add_handle(multi, st->easy) != CURLM_OK)
		die("curl_multi_add_handle failed");
}

/* ---- results --------------------------------------------------------------------- */

struct reason {
	char text[160];
	int count;
};

static struct reason reasons[LC_MAX_REASONS];
static int nreasons;

/* Failures are grouped by their text, durations ("after 3 ms") counted as one. */
static void count_reason(const char *raw)
{
	char text[160];
	size_t j = 0;

	for (const char *p = raw; *p && j + 1 < sizeof text; p++) {
		size_t n = strspn(p, "0123456789");

		if (n > 0 && strncmp(p + n, " ms", 3) == 0) {
			text[j++] = 'N';
			p += n - 1;
		} else {
			text[j++] = *p;
		}
	}
	text[j] = 0;
	for (int i = 0; i < nreasons; i++)
		if (strcmp(reasons[i].text, text) == 0) {
			reasons[i].count++;
			return;
		}
	if (nreasons < LC_MAX_REASONS) {
		snprintf(reasons[nreasons].text, sizeof reasons[nreasons].text, "%s", text);
		reasons[nreasons++].count = 1;
	} else {
		reasons[LC_MAX_REASONS - 1].count++;
	}
}

/* Why a finished stream did not end well, or "" if it did. */
static void stream_verdict(const struct stream *st, char *out, size_t n)
{
	*out = 0;
	if (st->result != CURLE_OK)
		snprintf(out, n, "curl: %s", curl_easy_strerror(st->result));
	else if (st->status != 200)
		snprintf(out, n, "HTTP %ld", st->status);
	else if (st->errors)
		snprintf(out, n, "%s", st->err);
	else if (!st->done)
		snprintf(out, n, "no done");
}

static void json_escape(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* A number in JSON: null when there is none. */
static void json_num(FILE *f, double v)
{
	if (isnan(v))
		fputs("null", f);
	else
		fprintf(f, "%.4f", v);
}

static void print_pcts(FILE *f, const char *name, const struct series *s, int last)
{
	static const double ps[] = { 50, 90, 99, 99.9, 100 };
	static const char *const names[] = { "p50", "p90", "p99", "p999", "max" };

	fprintf(f, "\"%s\":{\"n\":%zu", name, s->n);
	for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
		fprintf(f, ",\"%s\":", names[i]);
		json_num(f, pct(s, ps[i]));
	}
	fprintf(f, "}%s", last ? "" : ",");
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench-loadclient --target docchat|openai|ollama URL [-n N] [--requests M]\n"
		"       [--tokens T] [--pace-ms P] [--ramp-ms R] [--provider openai|ollama]\n"
		"       [--search none|all] [--stall-s S] [--question TEXT]...\n"
		"       [--watch LABEL=PID,...]... [--watch-tree LABEL=ROOTPID:COMM]... [--json]\n");
	exit(2);
}

/* "LABEL=PID,PID,..." or, tree, "LABEL=ROOT:COMM". */
static void add_watch(const char *spec, int tree)
{
	const char *eq = strchr(spec, '=');
	struct watch *w;
	char *end;

	if (!eq || nwatch == LC_MAX_WATCH || (size_t)(eq - spec) >= sizeof w->label)
		usage();
	w = &watches[nwatch++];
	memcpy(w->label, spec, (size_t)(eq - spec));
	if (tree) {
		w->root = (int)strtol(eq + 1, &end, 10);
		if (w->root <= 0 || *end != ':' || !end[1] || strlen(end + 1) >= sizeof w->comm)
			usage();
		snprintf(w->comm, sizeof w->comm, "%s", end + 1);
		return;
	}
	for (const char *p = eq + 1; *p && w->npids < LC_MAX_PIDS; p = *end ? end + 1 : end) {
		long pid = strtol(p, &end, 10);

		if (end == p || pid <= 0 || (*end && *end != ','))
			usage();
		w->pids[w->npids] = (int)pid;
		w->base[w->npids] = w->last[w->npids] = proc_cpu_s((int)pid);
		w->npids++;
	}
}

int main(int argc, char **argv)
{
	struct stream *streams;
	char (*sessions)[37] = NULL;
	struct series ttfb = { 0 }, tstart = { 0 }, tfirst = { 0 }, dur = { 0 };
	long long t_begin, t_last_end = 0, t_first_token = 0, next_sample, next_tree, tokens_total = 0;
	unsigned long long busy0, all0, procs0, busy1, all1, procs1;
	double self0, self1, wall, relay, watched = 0, others_s, busy_pct;
	int started = 0, finished = 0, active = 0, ok = 0;
	struct rlimit rl;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--json") == 0) {
			json_out = 1;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (strcmp(a, "--target") == 0) {
			if (strcmp(v, "docchat") == 0)
				target = T_DOCCHAT;
			else if (strcmp(v, "openai") == 0)
				target = T_OPENAI;
			else if (strcmp(v, "ollama") == 0)
				target = T_OLLAMA;
			else
				usage();
			if (i + 1 >= argc)
				usage();
			base_url = argv[++i];
		} else if (strcmp(a, "-n") == 0) {
			conc = atoi(v);
		} else if (strcmp(a, "--requests") == 0) {
			total = atoi(v);
		} else if (strcmp(a, "--tokens") == 0) {
			tokens = atol(v);
		} else if (strcmp(a, "--pace-ms") == 0) {
			pace_ms = atol(v);
		} else if (strcmp(a, "--ramp-ms") == 0) {
			ramp_ms = atoi(v);
		} else if (strcmp(a, "--provider") == 0) {
			provider = v;
		} else if (strcmp(a, "--search") == 0) {
			search_mode = v;
		} else if (strcmp(a, "--question") == 0) {
			if (nquestions == LC_MAX_QUESTIONS || strlen(v) > LC_QUESTION_MAX)
				usage();
			questions[nquestions++] = v;
		} else if (strcmp(a, "--stall-s") == 0) {
			stall_s = atoi(v);
		} else if (strcmp(a, "--watch") == 0) {
			add_watch(v, 0);
		} else if (strcmp(a, "--watch-tree") == 0) {
			add_watch(v, 1);
		} else {
			usage();
		}
	}
	if (!base_url || conc < 1 || tokens < 0 || pace_ms < 0 || ramp_ms < 0 || stall_s < 1)
		usage();
	if (total < 1)
		total = conc;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	streams = calloc((size_t)total, sizeof *streams);
	if (!streams)
		die("out of memory");
	if (target == T_DOCCHAT) {
		CURL *e = curl_easy_init();

		sessions = calloc((size_t)total, sizeof *sessions);
		if (!e || !sessions)
			die("out of memory");
		for (int i = 0; i < total; i++)
			new_session(e, sessions[i]);
		curl_easy_cleanup(e);
	}
	for (int i = 0; i < total; i++)
		stream_prepare(&streams[i], i, sessions ? sessions[i] : NULL);

	epfd = epoll_create1(EPOLL_CLOEXEC);
	multi = curl_multi_init();
	if (epfd < 0 || !multi)
		die("cannot set up epoll or curl");
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)conc);

	/* Settle, then the idle figures. */
	usleep(200000);
	for (int i = 0; i < nwatch; i++) {
		struct watch *w = &watches[i];

		for (int k = 0; k < w->npids; k++)
			w->base[k] = w->last[k] = proc_cpu_s(w->pids[k]);
		w->rss_idle = w->rss_peak = watch_sample(w);
		w->started = 1;
	}
	machine_cpu(&all0, &busy0, &procs0);
	self0 = self_cpu_s();
	t_begin = now_ns();
	next_sample = t_begin + LC_SAMPLE_MS * 1000000LL;
	next_tree = t_begin + LC_TREE_SAMPLE_MS * 1000000LL;

	while (finished < total) {
		struct epoll_event evs[LC_MAX_EVENTS];
		long long now = now_ns(), wake = next_sample;
		int n, running, left;
		CURLMsg *msg;

		/* Start what may start. */
		while (started < total && active < conc) {
			long long at = started < conc && ramp_ms > 0 ?
				t_begin + (long long)started * ramp_ms * 1000000LL / conc : 0;

			if (at > now) {
				if (at < wake)
					wake = at;
				break;
			}
			stream_start(&streams[started++]);
			active++;
		}
		if (curl_deadline >= 0 && curl_deadline < wake)
			wake = curl_deadline;
		n = epoll_wait(epfd, evs, LC_MAX_EVENTS,
			       wake > now ? (int)((wake - now + 999999) / 1000000) : 0);
		if (n < 0 && errno != EINTR)
			die("epoll_wait failed");
		for (int i = 0; i < n; i++) {
			int flags = 0;

			if (evs[i].events & EPOLLIN)
				flags |= CURL_CSELECT_IN;
			if (evs[i].events & EPOLLOUT)
				flags |= CURL_CSELECT_OUT;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				flags |= CURL_CSELECT_ERR;
			curl_multi_socket_action(multi, evs[i].data.fd, flags, &running);
		}
		now = now_ns();
		if (curl_deadline >= 0 && now >= curl_deadline) {
			curl_deadline = -1;
			curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
		}
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			struct stream *st;
			char why[200];

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&st);
			st->result = msg->data.result;
			st->t_end = now_ns();
			curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &st->status);
			curl_multi_remove_handle(multi, st->easy);
			curl_easy_cleanup(st->easy);
			curl_slist_free_all(st->hdrs);
			free(st->body);
			st->easy = NULL;
			st->finished = 1;
			finished++;
			active--;
			t_last_end = st->t_end;
			tokens_total += st->tokens;
			stream_verdict(st, why, sizeof why);
			if (why[0])
				count_reason(why);
			else
				ok++;
			if (st->t_hdr)
				series_add(&ttfb, st->t_hdr - st->t0);
			if (st->t_start)
				series_add(&tstart, st->t_start - st->t0);
			if (st->t_first) {
				series_add(&tfirst, st->t_first - st->t0);
				series_add(&first_delays, st->first_delay);
				if (!t_first_token || st->t_first < t_first_token)
					t_first_token = st->t_first;
			}
			series_add(&dur, st->t_end - st->t0);
		}
		if (now >= next_sample) {
			int trees = now >= next_tree;

			for (int i = 0; i < nwatch; i++) {
				long long r;

				if (watches[i].root && !trees)
					continue;	/* trees cost more to read */
				r = watch_sample(&watches[i]);
				if (r > watches[i].rss_peak)
					watches[i].rss_peak = r;
			}
			next_sample = now + LC_SAMPLE_MS * 1000000LL;
			if (trees)
				next_tree = now + LC_TREE_SAMPLE_MS * 1000000LL;
		}
	}
	for (int i = 0; i < nwatch; i++)
		watch_sample(&watches[i]);
	machine_cpu(&all1, &busy1, &procs1);
	self1 = self_cpu_s();
	wall = (double)(t_last_end - t_begin) / 1e9;
	/* The relay rate: tokens over the time from the first token to the end, which leaves
	 * out how long the streams took to start. */
	relay = t_first_token ? (double)(t_last_end - t_first_token) / 1e9 : 0;
	for (int i = 0; i < nwatch; i++)
		watched += watches[i].cpu;
	/* CPU that processes used besides the watched ones and this client: another load on
	 * the machine, which makes the figures worth less. */
	others_s = (double)(procs1 - procs0) / (double)sysconf(_SC_CLK_TCK) - watched - (self1 - self0);
	busy_pct = all1 > all0 ? 100.0 * (double)(busy1 - busy0) / (double)(all1 - all0) : 0;

	qsort(delays.v, delays.n, sizeof *delays.v, cmp_ll);
	qsort(first_delays.v, first_delays.n, sizeof *first_delays.v, cmp_ll);
	qsort(ttfb.v, ttfb.n, sizeof *ttfb.v, cmp_ll);
	qsort(tstart.v, tstart.n, sizeof *tstart.v, cmp_ll);
	qsort(tfirst.v, tfirst.n, sizeof *tfirst.v, cmp_ll);
	qsort(dur.v, dur.n, sizeof *dur.v, cmp_ll);
	fprintf(stderr, "%d streams (%d at once, %ld tokens, pace %ld ms): %d ended with done, "
		"%d did not; %lld tokens in %.2f s = %.0f tokens/s (%.0f/s from the first token on)\n",
		total, conc, tokens, pace_ms, ok, total - ok, tokens_total, wall,
		wall > 0 ? tokens_total / wall : 0, relay > 0 ? tokens_total / relay : 0);
	for (int i = 0; i < nreasons; i++)
		fprintf(stderr, "  %d x %s\n", reasons[i].count, reasons[i].text);
	fprintf(stderr, "ms          p50       p99       max\n");
	fprintf(stderr, "ttfb   %9.3f %9.3f %9.3f\n", pct(&ttfb, 50), pct(&ttfb, 99), pct(&ttfb, 100));
	fprintf(stderr, "start  %9.3f %9.3f %9.3f\n", pct(&tstart, 50), pct(&tstart, 99), pct(&tstart, 100));
	fprintf(stderr, "first  %9.3f %9.3f %9.3f\n", pct(&tfirst, 50), pct(&tfirst, 99), pct(&tfirst, 100));
	fprintf(stderr, "delay  %9.3f %9.3f %9.3f\n", pct(&delays, 50), pct(&delays, 99), pct(&delays, 100));
	fprintf(stderr, "delay1 %9.3f %9.3f %9.3f   (each stream's first token)\n",
		pct(&first_delays, 50), pct(&first_delays, 99), pct(&first_delays, 100));
	for (int i = 0; i < nwatch; i++) {
		const struct watch *w = &watches[i];

		fprintf(stderr, "%-8s cpu %.2f s, %s idle %lld KiB, peak %lld KiB", w->label, w->cpu,
			w->root ? "pss" : "rss", w->rss_idle, w->rss_peak);
		if (w->root)
			fprintf(stderr, " (%d processes)", w->npids);
		fputc('\n', stderr);
	}
	fprintf(stderr, "client   cpu %.2f s; machine busy %.0f%%; other processes %.2f s\n",
		self1 - self0, busy_pct, others_s);

	if (json_out) {
		FILE *f = stdout;

		fprintf(f, "{\"target\":\"%s\",\"streams\":%d,\"requests\":%d,\"tokens_per_stream\":%ld,"
			"\"pace_ms\":%ld,\"ramp_ms\":%d,\"ok\":%d,\"failed\":%d,\"tokens\":%lld,"
			"\"wall_s\":%.4f,\"tokens_per_s\":%.1f,\"relay_s\":%.4f,"
			"\"relay_tokens_per_s\":%.1f,\"client_cpu_s\":%.3f,"
			"\"machine_busy_pct\":%.1f,\"others_cpu_s\":%.3f,\"ncpu\":%ld,",
			target == T_DOCCHAT ? "docchat" : target == T_OPENAI ? "openai" : "ollama",
			conc, total, tokens, pace_ms, ramp_ms, ok, total - ok, tokens_total, wall,
			wall > 0 ? tokens_total / wall : 0, relay, relay > 0 ? tokens_total / relay : 0,
			self1 - self0, busy_pct, others_s,
			sysconf(_SC_NPROCESSORS_ONLN));
		fprintf(f, "\"reasons\":[");
		for (int i = 0; i < nreasons; i++) {
			fprintf(f, "%s{\"count\":%d,\"what\":", i ? "," : "", reasons[i].count);
			json_escape(f, reasons[i].text);
			fputc('}', f);
		}
		fprintf(f, "],\"watch\":{");
		for (int i = 0; i < nwatch; i++) {
			fprintf(f, "%s", i ? "," : "");
			json_escape(f, watches[i].label);
			fprintf(f, ":{\"cpu_s\":%.3f,\"rss_idle_kb\":%lld,\"rss_peak_kb\":%lld,"
				"\"memory\":\"%s\",\"processes\":%d}", watches[i].cpu,
				watches[i].rss_idle, watches[i].rss_peak,
				watches[i].root ? "pss" : "rss", watches[i].npids);
		}
		fprintf(f, "},");
		print_pcts(f, "ttfb_ms", &ttfb, 0);
		print_pcts(f, "start_ms", &tstart, 0);
		print_pcts(f, "first_chunk_ms", &tfirst, 0);
		print_pcts(f, "duration_ms", &dur, 0);
		print_pcts(f, "delay_ms", &delays, 0);
		print_pcts(f, "first_delay_ms", &first_delays, 1);
		fprintf(f, "}\n");
	}
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	return ok == total ? 0 : 3;
}
