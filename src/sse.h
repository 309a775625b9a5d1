/* sse.h - Server-Sent Events on the connection to the web server.
 *
 * Frames one JSON event per `data:` line with an increasing `id:`, writes and flushes
 * each at once, sends a `: ping` comment when nothing was written for a while, and
 * tells the caller when the client has gone (a failed write or flush, or the socket
 * closed while quiet). Knows nothing of models or storage. */
#ifndef DC_SSE_H
#define DC_SSE_H

#include <time.h>
#include <json-c/json.h>
#include "dc.h"

struct request;

/* Where the frames go: the request's connection from sse_begin on, or another writer
 * the stream is handed to (relay.c). */
struct sse_io {
	/* Write n bytes and pass them on at once; DC_HUP when the client has gone. */
	enum dc_err (*write)(void *ud, const char *p, size_t n);
	/* Has the client gone? Checked without blocking. */
	int (*gone)(void *ud);
	void *ud;
};

struct sse {
	struct sse_io io;
	long next_id;
	int ping_s;
	int probe_ms;
	struct timespec last_write;	/* last event or ping (CLOCK_MONOTONIC) */
	struct timespec last_byte;	/* last anything, probes included */
};

/* Send the stream's status and headers (200, text/event-stream, no-cache,
 * X-Accel-Buffering: no) and flush them. ping_s: seconds of quiet before ": ping";
 * probe_ms: milliseconds of quiet before a liveness probe (0: none). */
enum dc_err sse_begin(struct sse *s, struct request *r, int ping_s, int probe_ms);

/* Send the frames from now on through io (copied). */
void sse_set_io(struct sse *s, const struct sse_io *io);

/* Send one event: "id: N\ndata: <json>\n\n", flushed. ev is not consumed.
 * DC_HUP when the client has gone (now or before). */
enum dc_err sse_send(struct sse *s, json_object *ev);

/* Build and send {"type": type, "content": content}; content is consumed (may be NULL
 * for an event without content, e.g. done). */
enum dc_err sse_send_typed(struct sse *s, const char *type, json_object *content);

/* Called while waiting: DC_HUP if the client has gone, else sends ": ping" when
 * ping_s seconds passed since the last event or ping, and otherwise a lone line end
 * (which SSE clients ignore) when probe_ms passed since the last byte. The probe exists
 * because some web servers (lighttpd) do not watch the client while a response is in
 * progress: only a write makes them notice it left and close our connection. */
enum dc_err sse_tick(struct sse *s);

#endif
