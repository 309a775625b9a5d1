/* server.c - the FastCGI worker pool (see server.h).
 *
 * cfg->threads threads each run their own FCGX_Accept_r loop with their own SQLite
 * connection; libfcgi serves one request per connection. An answer holds its worker
 * only until the model is called: then it goes to the relay threads (relay.h, started
 * here when DOCCHAT_RELAY_THREADS > 0), which carry any number of streams, and the
 * worker accepts the next request. A connection whose file was deleted or replaced
 * (store_stale) is opened
 * again before the next request, and between requests a worker writes the answers
 * whose end the database refused earlier (store_flush_deferred). Signals are blocked
 * in the workers and taken by the main thread with sigwait: SIGTERM or SIGINT stops
 * accepting, lets running streams (on workers and relayed) go on for DOCCHAT_GRACE_S,
 * then tells them to end (they store what they have as interrupted) and exits.
 *
 * Stopping without touching the listening socket: it may belong to systemd (socket
 * activation hands the same socket to the next start) or be shared with sibling
 * processes (spawn-fcgi -F N), so shutting it down would break them. Instead it is
 * made non-blocking and each idle worker waits for it with poll() in short slices,
 * checking the stop flag in between; a worker that loses the race for a connection
 * gets EAGAIN from accept and waits again. Connections that arrive during the drain
 * stay queued for whoever serves the socket next. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <fcgiapp.h>

#include "api.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "relay.h"
#include "server.h"
#include "store.h"
#include "worker.h"

/* How long after the grace period the process waits for streams to store their end. */
#define SERVER_FINAL_WAIT_S 5
/* How often an idle worker looks at the stop flag. */
#define SERVER_IDLE_POLL_MS 250

static atomic_int stopping;
static atomic_int grace_expired;
static atomic_int workers_running;

struct worker {
	pthread_t tid;
	const struct config *cfg;
	int listen_fd;
	int started;
};

int server_grace_expired(void)
{
	return atomic_load(&grace_expired);
}

struct store *server_store(const struct config *cfg, struct store *st, char *err,
				  size_t errlen)
{
	char self[WORKER_ID_MAX];

	if (st && !store_stale(st))
		return st;
	store_close(st);
	if (store_open(cfg->db_path, &st, err, errlen) != DC_OK) {
		log_msg("database: %s", err);
		return NULL;
	}
	worker_self(self, sizeof self);
	if (store_set_worker(st, self) != DC_OK)
		log_msg("out of memory");
	return st;
}

void server_store_kept(struct store *st)
{
	size_t written = 0, left;

	/* A stale connection might write them into a file that is gone: the next request
	 * opens a fresh one first. */
	if (!st || store_deferred_count() == 0 || store_stale(st))
		return;
	left = store_flush_deferred(st, &written);
	if (written)
		log_msg("database: stored %zu kept answer%s (%zu still waiting)", written,
			written == 1 ? "" : "s", left);
}

/* Wait up to SERVER_IDLE_POLL_MS for a connection to accept; 1 if one may be there. */
static int wait_for_connection(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, SERVER_IDLE_POLL_MS) > 0;
}

/* After a failed accept: 1 to go on (out of descriptors or memory for a while: the
 * worker pauses so it does not spin, and the error is logged at most once a second per
 * process), 0 when the listening socket itself is unusable. */
static int accept_error_passes(int e)
{
	static atomic_long last_log;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (atomic_exchange(&last_log, (long)now.tv_sec) != (long)now.tv_sec)
		log_msg("accept failed: %s", strerror(e));
	if (e == EMFILE || e == ENFILE || e == ENOMEM || e == ENOBUFS || e == ECONNABORTED ||
	    e == EPROTO || e == EPERM) {
		struct timespec pause = { 0, SERVER_IDLE_POLL_MS * 1000000L };

		nanosleep(&pause, NULL);
		return 1;
	}
	return 0;
}

/* Streams hold several descriptors each (client, model server, database): take the
 * hard limit on open files rather than the often small soft one. */
static void raise_file_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_msg("cannot raise the open file limit: %s", strerror(errno));
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct store *st = NULL;
	char dberr[DC_ERRMAX] = "";
	FCGX_Request req;
	struct conn c;
	int after;

	if (FCGX_InitRequest(&req, w->listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_msg("cannot set up a FastCGI request");
		goto out;
	}
	/* Open the database before the first request (again later if this fails), so
	 * a request does not pay for it and the descriptors a worker holds are known. */
	st = server_store(w->cfg, st, dberr, sizeof dberr);
	while (!atomic_load(&stopping)) {
		if (!wait_for_connection(w->listen_fd)) {
			/* The file was deleted or replaced: let go of it now (the next
			 * request opens the path again). */
			if (st && store_stale(st)) {
				store_close(st);
				st = NULL;
			}
			server_store_kept(st);
			continue;
		}
		if (FCGX_Accept_r(&req) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue;	/* another worker took it */
			if (atomic_load(&stopping))
				break;
			if (!accept_error_passes(errno))
				break;
			continue;
		}
		st = server_store(w->cfg, st, dberr, sizeof dberr);
		conn_init_fcgi(&c, &req);
		after = api_handle(&c, w->cfg, st, dberr);
		FCGX_Finish_r(&req);
		api_after_run(after, w->cfg, st);
		server_store_kept(st);
	}
	FCGX_Free(&req, 1);
out:
	server_store_kept(st);
	if (store_deferred_count() > 0 && atomic_load(&workers_running) == 1)
		log_msg("database: %zu kept answer%s could not be stored before exit",
			store_deferred_count(), store_deferred_count() == 1 ? "" : "s");
	store_close(st);
	atomic_fetch_sub(&workers_running, 1);
	return NULL;
}

/* Mark answers left half-written by processes that are gone. */
static void recover(const struct config *cfg)
{
	struct store *st = NULL;
	char err[DC_ERRMAX];
	int n = 0;

	if (store_open(cfg->db_path, &st, err, sizeof err) != DC_OK) {
		log_msg("database: %s", err);
		return;
	}
	if (store_recover_streaming(st, worker_alive, NULL, &n, err, sizeof err) != DC_OK)
		log_msg("database: %s", err);
	else if (n > 0)
		log_msg("marked %d unfinished answer%s as interrupted", n, n == 1 ? "" : "s");
	store_close(st);
}

static int start_workers(struct worker *w, int n, const struct config *cfg, int fd)
{
	int started = 0;

	for (int i = 0; i < n; i++) {
		w[i].cfg = cfg;
		w[i].listen_fd = fd;
		atomic_fetch_add(&workers_running, 1);
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) {
			atomic_fetch_sub(&workers_running, 1);
			log_msg("cannot start worker thread %d: %s", i, strerror(errno));
			break;
		}
		w[i].started = 1;
		started++;
	}
	return started;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int all_done(void)
{
	return atomic_load(&workers_running) == 0 && relay_active() == 0;
}

/* Wait up to ms for every worker and every relayed answer to finish; 1 if they did. */
static int wait_workers(long ms)
{
	for (long waited = 0; waited < ms; waited += 50) {
		if (all_done())
			return 1;
		sleep_ms(50);
	}
	return all_done();
}

static void drain(const struct config *cfg)
{
	atomic_store(&stopping, 1);
	if (!wait_workers((long)cfg->grace_s * 1000)) {
		log_msg("grace period over: interrupting running answers");
		atomic_store(&grace_expired, 1);
		wait_workers(SERVER_FINAL_WAIT_S * 1000L);
	}
	/* Only once no worker can hand it another answer. */
	if (atomic_load(&workers_running) == 0)
		relay_stop();
}

int server_run(const struct config *cfg, int listen_fd)
{
	struct worker *w = calloc((size_t)cfg->threads, sizeof *w);
	sigset_t set;
	int sig = 0, n;

	if (!w) {
		log_msg("out of memory");
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	raise_file_limit();
	recover(cfg);
	if (fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK) < 0)
		log_msg("cannot make the listening socket non-blocking: %s", strerror(errno));
	if (cfg->relay_threads > 0 && relay_start(cfg, cfg->relay_threads) != 0)
		log_msg("answers stream on their workers: the relay did not start");
	n = start_workers(w, cfg->threads, cfg, listen_fd);
	log_msg("serving FastCGI with %d thread%s%s", n, n == 1 ? "" : "s",
		relay_running() ? ", answers relayed" : "");
	while (n > 0 && atomic_load(&workers_running) > 0) {
		struct timespec poll_every = { 1, 0 };

		sig = sigtimedwait(&set, NULL, &poll_every);
		if (sig == SIGTERM || sig == SIGINT || sig == SIGUSR1)
			break;
	}
	if (sig > 0)
		log_msg("signal %d: stopping, running answers get %d s", sig, cfg->grace_s);
	drain(cfg);
	if (!all_done()) {
		/* Threads still hold answers (a web server that takes no more bytes, a
		 * database that does not answer): they use the settings and libcurl, which
		 * the normal exit would free under them. Leave now. */
		log_msg("exiting with %d worker%s and %zu relayed answer%s still busy",
			atomic_load(&workers_running), atomic_load(&workers_running) == 1 ? "" : "s",
			relay_active(), relay_active() == 1 ? "" : "s");
		_exit(0);
	}
	for (int i = 0; i < cfg->threads; i++)
		if (w[i].started)
			pthread_join(w[i].tid, NULL);
	free(w);
	return 0;
}
