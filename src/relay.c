/* relay.c - the relay threads and the finishing thread (see relay.h).
 *
 * A stream's life, and who holds it:
 *   NEW        the worker built it; relay_adopt queues it to a relay thread;
 *   STREAMING  the relay thread: the model's transfer runs on its multi handle (or the
 *              extractive backend's words on its clock), tokens are framed and written
 *              at once; RELAY_TICK_MS ticks run the answer's checks;
 *   FINISHING  the finishing thread: chat_run_finish and the request's own ending
 *              append the last events to the stream's buffer (nothing is written);
 *   CLOSING    the relay thread again: FCGI_END_REQUEST, send what is left, close.
 * Only the thread holding a stream touches its buffer, and only the relay thread
 * changes its state; the queues between threads are lists under a mutex, and a relay
 * thread is woken through an eventfd. The one field two threads read is `gone`
 * (atomic): the relay thread sets it when the web server closes the connection, the
 * finishing thread reads it through sse_io.
 *
 * Writes never block: what the socket does not take waits in the stream's buffer and
 * goes out on EPOLLOUT. Every event is written as soon as it exists; the events made
 * from one read of the model's socket (a flood may bring many tokens at once) are
 * written together when curl returns, a few microseconds later. When more than
 * RELAY_PAUSE_BYTES wait, the model's transfer is paused (curl stops reading it, so TCP
 * pushes back on the model server) until the buffer is empty again; extractive words
 * wait likewise.
 *
 * The client fd is watched for input only to notice the web server closing it: any
 * bytes that arrive (no web server sends more for a request whose body was read) are
 * read and dropped. A connection found closed is taken out of epoll at once, so a
 * hang-up is never reported twice. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "backend.h"
#include "buf.h"
#include "chat.h"
#include "config.h"
#include "fcgi_record.h"
#include "http_stream.h"
#include "log.h"
#include "relay.h"
#include "server.h"
#include "store.h"

#define RELAY_TICK_MS 100		/* answers' checks; chat.h asks for <= 250 ms */
#define RELAY_PAUSE_BYTES (256 * 1024)	/* unsent bytes that pause the model */
#define RELAY_OUT_MAX (64u * 1024 * 1024)	/* a stream's unsent bytes, at most */
#define RELAY_CLOSE_WAIT_MS 30000	/* last bytes the web server does not take */
#define RELAY_EVENTS 256
#define RELAY_READ_SCRATCH 4096

enum stream_state { RS_NEW, RS_STREAMING, RS_FINISHING, RS_CLOSING };
enum watch_kind { W_WAKE, W_CLIENT, W_CURL };

/* What an epoll event points to. */
struct watch {
	enum watch_kind kind;
	int fd;
	struct relay_stream *s;		/* W_CLIENT */
	struct watch *next;		/* W_CURL, let go: freed after the batch */
};

struct relay;

struct relay_stream {
	struct relay *relay;
	struct relay_stream *prev, *next;	/* the relay thread's streams */
	struct relay_stream *qnext;		/* in a queue between threads */
	enum stream_state state;
	struct watch w;
	int fd, request_id;
	int in_epoll;
	unsigned int watched;			/* epoll events asked for */
	atomic_int gone;			/* the web server closed the connection */
	struct buf out;				/* FastCGI bytes not yet sent */
	size_t sent;				/* of out, already written */
	struct chat_run *run;
	struct backend_run *brun;
	struct relay_hooks hooks;
	enum dc_err end_rc;
	int paused;
	int want_pause;
	int dirty;				/* written to during a curl batch */
	struct relay_stream *dnext;		/* in the relay's dirty list */
	long long next_word_ms;			/* extractive: when the next word is due */
	long long closing_since;
};

struct relay {
	pthread_t tid;
	int started;
	int epfd;
	struct watch wake;			/* eventfd */
	CURLM *multi;
	long long curl_deadline;		/* ms; -1: none */
	pthread_mutex_t lock;
	struct relay_stream *incoming;		/* NEW or CLOSING streams, under lock */
	struct relay_stream *streams;		/* this thread's */
	atomic_size_t nstreams;			/* adopted and not yet closed */
	int pause_wanted;			/* some stream wants its model paused */
	struct watch *released;			/* curl sockets gone during this batch */
	int batching;				/* inside curl: writes wait for its end */
	struct relay_stream *dirty;		/* streams written to meanwhile */
	long long word_due;			/* ms when an extractive word is due; -1 */
	atomic_int stop;
};

static struct relay *relays;
static int nrelays;
static atomic_uint next_relay;
static atomic_int running;

/* The finishing thread. */
static struct {
	pthread_t tid;
	int started;
	const struct config *cfg;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct relay_stream *head, *tail;
	int stop;
} fin = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake(struct relay *r)
{
	uint64_t one = 1;

	if (write(r->wake.fd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_msg("relay: cannot wake its thread: %s", strerror(errno));
}

/* ---- the client connection ---- */

static void watch_client(struct relay_stream *s, unsigned int events)
{
	struct epoll_event ev = { .events = events, .data.ptr = &s->w };

	if (!s->in_epoll || events == s->watched)
		return;
	if (epoll_ctl(s->relay->epfd, EPOLL_CTL_MOD, s->fd, &ev) == 0)
		s->watched = events;
}

/* The web server closed the connection (or writing to it failed). The buffer stays
 * as it is (the finishing thread may hold it) until the stream is closed. */
static void mark_gone(struct relay_stream *s)
{
	atomic_store(&s->gone, 1);
	if (s->in_epoll) {
		epoll_ctl(s->relay->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		s->in_epoll = 0;
	}
}

static size_t pending(const struct relay_stream *s)
{
	return s->out.len - s->sent;
}

/* Write what waits, as far as the socket takes it. Relay thread only. */
static void flush_out(struct relay_stream *s)
{
	while (!atomic_load(&s->gone) && s->sent < s->out.len) {
		ssize_t n = send(s->fd, s->out.data + s->sent, s->out.len - s->sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			s->sent += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			watch_client(s, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
			return;
		} else {
			mark_gone(s);
			return;
		}
	}
	if (atomic_load(&s->gone))
		return;
	s->out.len = s->sent = 0;
	watch_client(s, EPOLLIN | EPOLLRDHUP);
	if (s->paused && s->brun) {
		backend_run_pause(s->brun, 0);
		s->paused = 0;
	}
}

/* Input on the connection: the web server closed it, or sent bytes we drop. */
static void read_client(struct relay_stream *s)
{
	char scratch[RELAY_READ_SCRATCH];

	for (;;) {
		ssize_t n = recv(s->fd, scratch, sizeof scratch, MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		mark_gone(s);
		return;
	}
}

/* Write what waits, and pause the model if the client falls too far behind. */
static void send_now(struct relay_stream *s)
{
	flush_out(s);
	if (s->brun && !s->paused && pending(s) > RELAY_PAUSE_BYTES) {
		s->want_pause = 1;
		s->relay->pause_wanted = 1;
	}
}

/* After a curl batch: send what its data produced, stream by stream. */
static void send_dirty(struct relay *r)
{
	while (r->dirty) {
		struct relay_stream *s = r->dirty;

		r->dirty = s->dnext;
		s->dnext = NULL;
		s->dirty = 0;
		if (s->state == RS_STREAMING)
			send_now(s);
	}
}

enum dc_err relay_stream_write(void *ud, const char *p, size_t n)
{
	struct relay_stream *s = ud;

	if (atomic_load(&s->gone))
		return DC_HUP;
	if (fcgi_record_stdout(&s->out, s->request_id, p, n) != DC_OK) {
		/* The buffer is gone with the failure (buf.h): so is the stream. */
		log_msg("relay: dropping a stream: more than %u bytes wait for the web server",
			RELAY_OUT_MAX);
		atomic_store(&s->gone, 1);
		s->sent = 0;	/* out is empty again */
		return DC_HUP;
	}
	if (s->state == RS_STREAMING && s->relay->batching) {
		if (!s->dirty) {
			s->dirty = 1;
			s->dnext = s->relay->dirty;
			s->relay->dirty = s;
		}
	} else if (s->state == RS_STREAMING) {
		send_now(s);
	}
	return atomic_load(&s->gone) ? DC_HUP : DC_OK;
}

int relay_stream_gone(void *ud)
{
	struct relay_stream *s = ud;

	return atomic_load(&s->gone);
}

/* ---- streams on the relay thread ---- */

static void list_add(struct relay *r, struct relay_stream *s)
{
	s->prev = NULL;
	s->next = r->streams;
	if (r->streams)
		r->streams->prev = s;
	r->streams = s;
}

static void list_remove(struct relay *r, struct relay_stream *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		r->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

static void to_finisher(struct relay_stream *s)
{
	pthread_mutex_lock(&fin.lock);
	s->qnext = NULL;
	if (fin.tail)
		fin.tail->qnext = s;
	else
		fin.head = s;
	fin.tail = s;
	pthread_cond_signal(&fin.cond);
	pthread_mutex_unlock(&fin.lock);
}

/* The model's part is over (rc: how, as far as the relay knows): end the transfer,
 * then let the finishing thread write the end. */
static void end_stream(struct relay_stream *s, enum dc_err rc)
{
	if (s->brun) {
		if (rc != DC_OK)
			backend_run_stop(s->brun, rc);
		rc = backend_run_end(s->brun);
		backend_run_free(s->brun);
		s->brun = NULL;
	}
	s->end_rc = chat_run_generated(s->run, rc);
	/* The finishing thread owns the buffer now: nothing is written meanwhile. */
	watch_client(s, EPOLLIN | EPOLLRDHUP);
	s->state = RS_FINISHING;
	to_finisher(s);
}

static void close_stream(struct relay *r, struct relay_stream *s)
{
	if (s->in_epoll)
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	if (s->fd >= 0) {
		if (!atomic_load(&s->gone))
			shutdown(s->fd, SHUT_WR);
		close(s->fd);
	}
	list_remove(r, s);
	if (s->hooks.release)
		s->hooks.release(s->hooks.ud);
	buf_free(&s->out);
	free(s);
	atomic_fetch_sub(&r->nstreams, 1);
}

/* Back from the finishing thread: end the request and close once it is sent. */
static void begin_close(struct relay *r, struct relay_stream *s)
{
	s->state = RS_CLOSING;
	s->closing_since = now_ms();
	if (!atomic_load(&s->gone)) {
		if (fcgi_record_end(&s->out, s->request_id, 0) != DC_OK)
			atomic_store(&s->gone, 1);
		else
			flush_out(s);
	}
	if (atomic_load(&s->gone) || pending(s) == 0)
		close_stream(r, s);
}

static void start_stream(struct relay *r, struct relay_stream *s)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = &s->w };
	enum dc_err rc;

	list_add(r, s);
	s->state = RS_STREAMING;
	fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, s->fd, &ev) == 0) {
		s->in_epoll = 1;
		s->watched = ev.events;
	} else {
		log_msg("relay: cannot watch a connection: %s", strerror(errno));
		mark_gone(s);
	}
	rc = chat_run_open_model(s->run, &s->brun);
	if (rc == DC_OK && backend_run_is_http(s->brun))
		rc = backend_run_start(s->brun, r->multi);
	if (rc == DC_OK && backend_run_is_http(s->brun))
		http_stream_set_owner(backend_run_transfer(s->brun), s);
	s->next_word_ms = now_ms();
	if (rc == DC_OK && !backend_run_is_http(s->brun) &&
	    (r->word_due < 0 || s->next_word_ms < r->word_due))
		r->word_due = s->next_word_ms;
	if (rc != DC_OK)
		end_stream(s, rc);
}

static void take_incoming(struct relay *r)
{
	struct relay_stream *list, *next;
	uint64_t count;

	if (read(r->wake.fd, &count, sizeof count) < 0 && errno != EAGAIN)
		log_msg("relay: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&r->lock);
	list = r->incoming;
	r->incoming = NULL;
	pthread_mutex_unlock(&r->lock);
	/* The list was built newest first: take them in arrival order. */
	struct relay_stream *ordered = NULL;

	for (struct relay_stream *s = list; s; s = next) {
		next = s->qnext;
		s->qnext = ordered;
		ordered = s;
	}
	for (struct relay_stream *s = ordered; s; s = next) {
		next = s->qnext;
		s->qnext = NULL;
		if (s->state == RS_NEW)
			start_stream(r, s);
		else	/* back from the finishing thread */
			begin_close(r, s);
	}
}

static void client_event(struct relay *r, struct relay_stream *s, unsigned int events)
{
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		read_client(s);
	if ((events & EPOLLOUT) && s->state != RS_FINISHING)
		flush_out(s);
	if (s->state == RS_CLOSING && (atomic_load(&s->gone) || pending(s) == 0))
		close_stream(r, s);
}

/* ---- curl's side ---- */

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct relay *r = userp;
	struct watch *w = socketp;
	struct epoll_event ev = { 0 };

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (w) {
			/* Later events of this batch may still point to w. */
			epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
			curl_multi_assign(r->multi, fd, NULL);
			w->next = r->released;
			r->released = w;
		}
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (!w) {
		w = calloc(1, sizeof *w);
		if (!w)
			return -1;
		w->kind = W_CURL;
		w->fd = fd;
		ev.data.ptr = w;
		if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			free(w);
			return -1;
		}
		curl_multi_assign(r->multi, fd, w);
		return 0;
	}
	ev.data.ptr = w;
	return epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &ev) == 0 ? 0 : -1;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct relay *r = userp;

	(void)multi;
	r->curl_deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	return 0;
}

/* Let curl work on fd (or its timers). The events that the data it reads produces go
 * out together when it returns: those that arrived in one read leave in one write. */
static void curl_action(struct relay *r, curl_socket_t fd, int mask)
{
	int running_handles;

	r->batching = 1;
	curl_multi_socket_action(r->multi, fd, mask, &running_handles);
	r->batching = 0;
	send_dirty(r);
}

/* Transfers curl finished. */
static void take_done(struct relay *r)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(r->multi, &left)) != NULL) {
		struct http_stream *x;
		struct relay_stream *s;

		if (msg->msg != CURLMSG_DONE)
			continue;
		x = http_stream_of(msg->easy_handle);
		s = x ? http_stream_owner(x) : NULL;
		if (!s || s->state != RS_STREAMING)
			continue;
		backend_run_done(s->brun, msg->data.result);
		end_stream(s, DC_OK);
	}
}

static void apply_pauses(struct relay *r)
{
	if (!r->pause_wanted)
		return;
	r->pause_wanted = 0;
	for (struct relay_stream *s = r->streams; s; s = s->next) {
		if (!s->want_pause)
			continue;
		s->want_pause = 0;
		if (s->state == RS_STREAMING && s->brun && pending(s) > RELAY_PAUSE_BYTES) {
			backend_run_pause(s->brun, 1);
			s->paused = 1;
		}
	}
}

/* ---- clocks ---- */

/* Extractive answers: send the words that are due; returns when the next one is. */
static long long step_words(struct relay *r, long long now)
{
	long long next = -1;
	struct relay_stream *s, *following;

	for (s = r->streams; s; s = following) {
		int more = 0, delay = 0;
		enum dc_err rc;

		following = s->next;
		if (s->state != RS_STREAMING || !s->brun || backend_run_is_http(s->brun))
			continue;
		if (s->next_word_ms <= now && pending(s) > RELAY_PAUSE_BYTES) {
			s->next_word_ms = now + RELAY_TICK_MS;	/* backed up: look again later */
		} else if (s->next_word_ms <= now) {
			rc = backend_run_step(s->brun, &more, &delay);
			if (rc != DC_OK || !more) {
				end_stream(s, rc);
				continue;
			}
			s->next_word_ms = now + delay;
		}
		if (next < 0 || s->next_word_ms < next)
			next = s->next_word_ms;
	}
	return next;
}

static void tick(struct relay *r, long long now)
{
	struct relay_stream *s, *following;

	for (s = r->streams; s; s = following) {
		enum dc_err rc;

		following = s->next;
		if (s->state == RS_CLOSING) {
			if (now - s->closing_since >= RELAY_CLOSE_WAIT_MS) {
				log_msg("relay: the web server took no bytes for %d s: closing",
					RELAY_CLOSE_WAIT_MS / 1000);
				close_stream(r, s);
			}
			continue;
		}
		if (s->state != RS_STREAMING)
			continue;
		rc = chat_run_tick(s->run);
		if (rc != DC_OK)
			end_stream(s, rc);
		else if (s->brun && backend_run_silent(s->brun, now))
			end_stream(s, DC_OK);
	}
}

static int wait_ms(const struct relay *r, long long now, long long next_tick)
{
	long long t = next_tick - now;

	if (r->curl_deadline >= 0 && r->curl_deadline - now < t)
		t = r->curl_deadline - now;
	if (r->word_due >= 0 && r->word_due - now < t)
		t = r->word_due - now;
	return t < 0 ? 0 : (int)t;
}

static void free_released(struct relay *r)
{
	while (r->released) {
		struct watch *w = r->released;

		r->released = w->next;
		free(w);
	}
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	struct epoll_event evs[RELAY_EVENTS];
	long long now = now_ms(), next_tick = now + RELAY_TICK_MS;

	while (!atomic_load(&r->stop) || atomic_load(&r->nstreams) > 0) {
		int n = epoll_wait(r->epfd, evs, RELAY_EVENTS, wait_ms(r, now, next_tick));
		int woken = 0;

		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;

			if (w->kind == W_WAKE)
				woken = 1;
			else if (w->kind == W_CURL)
				curl_action(r, w->fd,
					    (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
					    (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
					    (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0));
		}
		/* Client events after curl's (a stream closes only on its own event), and
		 * new or returning streams last, so that no event of this batch points to
		 * a stream closed meanwhile. */
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;

			if (w->kind == W_CLIENT)
				client_event(r, w->s, evs[i].events);
		}
		if (woken)
			take_incoming(r);
		free_released(r);
		now = now_ms();
		if (r->curl_deadline >= 0 && now >= r->curl_deadline) {
			r->curl_deadline = -1;
			curl_action(r, CURL_SOCKET_TIMEOUT, 0);
		}
		take_done(r);
		apply_pauses(r);
		now = now_ms();
		if (r->word_due >= 0 && now >= r->word_due)
			r->word_due = step_words(r, now);
		if (now >= next_tick) {
			tick(r, now);
			take_done(r);
			next_tick = now + RELAY_TICK_MS;
		}
	}
	free_released(r);
	return NULL;
}

/* ---- the finishing thread ---- */

/* The finishing thread's connection. When the file was moved or replaced, the path is
 * opened again; if that fails, the old connection serves meanwhile, as a worker's
 * would for the answer it began on that file. NULL when there is none at all. */
static struct store *finisher_store(struct store *st, char *err, size_t errlen)
{
	struct store *fresh;

	if (st && !store_stale(st))
		return st;
	fresh = server_store(fin.cfg, NULL, err, errlen);
	if (!fresh)
		return st;
	store_close(st);
	return fresh;
}

static void *finisher_main(void *arg)
{
	struct store *st = NULL;
	char err[DC_ERRMAX] = "";

	(void)arg;
	/* Opened now, like the workers' (server.c), so a stream's end does not pay for it. */
	st = server_store(fin.cfg, NULL, err, sizeof err);
	for (;;) {
		struct relay_stream *s;
		struct relay *r;

		pthread_mutex_lock(&fin.lock);
		while (!fin.head && !fin.stop)
			pthread_cond_wait(&fin.cond, &fin.lock);
		s = fin.head;
		if (s) {
			fin.head = s->qnext;
			if (!fin.head)
				fin.tail = NULL;
		}
		pthread_mutex_unlock(&fin.lock);
		if (!s)
			break;
		st = finisher_store(st, err, sizeof err);
		s->hooks.finish(s->hooks.ud, st, s->end_rc);
		r = s->relay;
		/* Still FINISHING: only the relay thread changes a queued stream's state. */
		pthread_mutex_lock(&r->lock);
		s->qnext = r->incoming;
		r->incoming = s;
		pthread_mutex_unlock(&r->lock);
		wake(r);
		server_store_kept(st);
	}
	store_close(st);
	return NULL;
}

/* ---- setting up and handing over ---- */

static void relay_free(struct relay *r)
{
	if (r->multi)
		curl_multi_cleanup(r->multi);
	free_released(r);
	if (r->wake.fd >= 0)
		close(r->wake.fd);
	if (r->epfd >= 0)
		close(r->epfd);
	pthread_mutex_destroy(&r->lock);
}

static int relay_init(struct relay *r)
{
	struct epoll_event ev = { .events = EPOLLIN };

	memset(r, 0, sizeof *r);
	pthread_mutex_init(&r->lock, NULL);
	r->curl_deadline = -1;
	r->word_due = -1;
	r->wake.kind = W_WAKE;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	r->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	r->multi = curl_multi_init();
	ev.data.ptr = &r->wake;
	if (r->epfd < 0 || r->wake.fd < 0 || !r->multi ||
	    epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->wake.fd, &ev) != 0 ||
	    curl_multi_setopt(r->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
	    curl_multi_setopt(r->multi, CURLMOPT_SOCKETDATA, r) != CURLM_OK ||
	    curl_multi_setopt(r->multi, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
	    curl_multi_setopt(r->multi, CURLMOPT_TIMERDATA, r) != CURLM_OK) {
		relay_free(r);
		return -1;
	}
	return 0;
}

static void stop_threads(void)
{
	for (int i = 0; i < nrelays; i++) {
		atomic_store(&relays[i].stop, 1);
		if (relays[i].started)
			wake(&relays[i]);
	}
	pthread_mutex_lock(&fin.lock);
	fin.stop = 1;
	pthread_cond_broadcast(&fin.cond);
	pthread_mutex_unlock(&fin.lock);
	for (int i = 0; i < nrelays; i++)
		if (relays[i].started)
			pthread_join(relays[i].tid, NULL);
	if (fin.started)
		pthread_join(fin.tid, NULL);
	for (int i = 0; i < nrelays; i++)
		relay_free(&relays[i]);
	free(relays);
	relays = NULL;
	nrelays = 0;
	fin.started = 0;
}

int relay_start(const struct config *cfg, int nthreads)
{
	if (nthreads <= 0)
		return -1;
	relays = calloc((size_t)nthreads, sizeof *relays);
	if (!relays)
		return -1;
	fin.cfg = cfg;
	fin.stop = 0;
	for (nrelays = 0; nrelays < nthreads; nrelays++) {
		struct relay *r = &relays[nrelays];

		if (relay_init(r) != 0)
			break;
		if (pthread_create(&r->tid, NULL, relay_main, r) != 0) {
			relay_free(r);
			break;
		}
		r->started = 1;
	}
	if (nrelays < nthreads || pthread_create(&fin.tid, NULL, finisher_main, NULL) != 0) {
		log_msg("relay: cannot start its threads: %s", strerror(errno));
		stop_threads();
		return -1;
	}
	fin.started = 1;
	atomic_store(&running, 1);
	return 0;
}

int relay_running(void)
{
	return atomic_load(&running);
}

size_t relay_active(void)
{
	size_t n = 0;

	for (int i = 0; i < nrelays; i++)
		n += atomic_load(&relays[i].nstreams);
	return n;
}

void relay_stop(void)
{
	if (!atomic_exchange(&running, 0))
		return;
	if (relay_active() > 0) {
		/* Left to the process's exit: joining would wait for them. */
		log_msg("relay: %zu answer%s still open at exit", relay_active(),
			relay_active() == 1 ? "" : "s");
		return;
	}
	stop_threads();
}

struct relay_stream *relay_stream_new(void)
{
	struct relay_stream *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->fd = -1;
	s->w.kind = W_CLIENT;
	s->w.s = s;
	buf_init(&s->out, RELAY_OUT_MAX);
	return s;
}

void relay_stream_free(struct relay_stream *s)
{
	if (!s)
		return;
	buf_free(&s->out);
	free(s);
}

void relay_adopt(struct relay_stream *s, int fd, int request_id, struct chat_run *run,
		 const struct relay_hooks *hooks)
{
	struct relay *r = &relays[atomic_fetch_add(&next_relay, 1) % (unsigned int)nrelays];

	s->relay = r;
	s->fd = fd;
	s->w.fd = fd;
	s->request_id = request_id;
	s->run = run;
	s->hooks = *hooks;
	s->state = RS_NEW;
	atomic_fetch_add(&r->nstreams, 1);
	pthread_mutex_lock(&r->lock);
	s->qnext = r->incoming;
	r->incoming = s;
	pthread_mutex_unlock(&r->lock);
	wake(r);
}
