/* relay.h - carrying many answers to their clients on a few threads.
 *
 * A worker thread takes a question through everything that needs its database
 * connection (search, prompt, the stored rows) and the first events, then hands the
 * answer over (api_chat.c): the FastCGI connection leaves libfcgi (conn_detach) and the
 * model's stream becomes one more transfer on a relay thread's curl multi handle.
 * Each relay thread runs one epoll loop over the model servers' sockets and the web
 * server's connections: a token becomes a `chunk` event, framed as FastCGI records and
 * written without blocking as it arrives; pings, probes, limits and disconnects are
 * checked every RELAY_TICK_MS; a client that does not keep up pauses its model stream.
 * When the model's stream ends, the answer goes to the finishing thread, which has its
 * own database connection (the final row, metadata, the request's limit slot and log
 * line), and back to the relay to send the last bytes, end the request and close.
 * So a live stream costs no thread and no database connection, and no database wait
 * ever stalls other streams.
 *
 * Not for plain CGI or connections the web server keeps for more requests (nginx's
 * fastcgi_keep_conn): those stream on their worker as before. */
#ifndef DC_RELAY_H
#define DC_RELAY_H

#include <stddef.h>
#include "dc.h"

struct config;
struct store;
struct chat_run;

/* One handed-over answer. Created by relay_stream_new, owned by the relay from
 * relay_adopt on. */
struct relay_stream;

struct relay_hooks {
	/* On the finishing thread with its database connection (NULL if it has none),
	 * once the model's stream ended (rc as chat_run_generated gives it): write the
	 * last events (chat_run_finish) and whatever else the request owes. The events
	 * written here are sent after it returns. */
	void (*finish)(void *ud, struct store *st, enum dc_err rc);
	/* Last: the stream is closed; free ud. */
	void (*release)(void *ud);
	void *ud;
};

/* Start nthreads relay threads and the finishing thread. 0 on success; on failure
 * nothing runs and answers stream on their workers. */
int relay_start(const struct config *cfg, int nthreads);

/* Are relay threads running and taking answers? */
int relay_running(void);

/* Answers being relayed or finished, in this process. */
size_t relay_active(void);

/* Stop the threads once no answer is left (answers still running after the server's
 * grace period are its business). */
void relay_stop(void);

/* A stream not yet handed over; NULL on no memory. Free it with relay_stream_free
 * unless relay_adopt took it. */
struct relay_stream *relay_stream_new(void);
void relay_stream_free(struct relay_stream *s);

/* The sse_io of a handed-over stream (sse.h): ud is the relay_stream. */
enum dc_err relay_stream_write(void *ud, const char *p, size_t n);
int relay_stream_gone(void *ud);

/* Hand run over: fd is the FastCGI connection (from conn_detach) carrying request_id,
 * whose events already went out up to "Generating response...". The relay owns s, fd
 * and run's streaming from here on; hooks run as described above. */
void relay_adopt(struct relay_stream *s, int fd, int request_id, struct chat_run *run,
		 const struct relay_hooks *hooks);

#endif
