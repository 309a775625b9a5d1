/* sse.c - Server-Sent Events framing on a conn (see sse.h).
 *
 * The JSON is serialized by json-c without pretty-printing, so it holds no raw newline
 * and one event is always exactly one `data:` line. */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "conn.h"
#include "request.h"
#include "response.h"
#include "sse.h"

#define SSE_FRAME_MAX (64u * 1024 * 1024)

static void sse_touch(struct sse *s)
{
	clock_gettime(CLOCK_MONOTONIC, &s->last_write);
	s->last_byte = s->last_write;
}

static long ms_since(const struct timespec *then, const struct timespec *now)
{
	return (long)((now->tv_sec - then->tv_sec) * 1000 +
		      (now->tv_nsec - then->tv_nsec) / 1000000);
}

static enum dc_err conn_io_write(void *ud, const char *p, size_t n)
{
	enum dc_err rc = conn_write(ud, p, n);

	return rc == DC_OK ? conn_flush(ud) : rc;
}

static int conn_io_gone(void *ud)
{
	return conn_client_gone(ud);
}

void sse_set_io(struct sse *s, const struct sse_io *io)
{
	s->io = *io;
}

enum dc_err sse_begin(struct sse *s, struct request *r, int ping_s, int probe_ms)
{
	enum dc_err rc;

	s->io.write = conn_io_write;
	s->io.gone = conn_io_gone;
	s->io.ud = r->conn;
	s->next_id = 1;
	s->ping_s = ping_s;
	s->probe_ms = probe_ms;
	sse_touch(s);
	rc = response_headers(r, 200, "text/event-stream; charset=utf-8",
			      "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
	return rc == DC_OK ? conn_flush(r->conn) : rc;
}


enum dc_err sse_send(struct sse *s, json_object *ev)
{
	struct buf f;
	size_t len;
	const char *json = json_object_to_json_string_length(ev, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	enum dc_err rc;

	if (!json)
		return DC_NOMEM;
	buf_init(&f, SSE_FRAME_MAX);
	rc = buf_printf(&f, "id: %ld\ndata: ", s->next_id);
	if (rc == DC_OK)
		rc = buf_append(&f, json, len);
	if (rc == DC_OK)
		rc = buf_append(&f, "\n\n", 2);
	if (rc == DC_OK)
		rc = s->io.write(s->io.ud, f.data, f.len);
	buf_free(&f);
	if (rc == DC_OK) {
		s->next_id++;
		sse_touch(s);
	}
	return rc;
}

enum dc_err sse_send_typed(struct sse *s, const char *type, json_object *content)
{
	json_object *ev = json_object_new_object();
	enum dc_err rc;

	if (!ev) {
		json_object_put(content);
		return DC_NOMEM;
	}
	json_object_object_add(ev, "type", json_object_new_string(type));
	if (content)
		json_object_object_add(ev, "content", content);
	rc = sse_send(s, ev);
	json_object_put(ev);
	return rc;
}

static enum dc_err sse_raw(struct sse *s, const char *p, size_t n)
{
	return s->io.write(s->io.ud, p, n);
}

enum dc_err sse_tick(struct sse *s)
{
	static const char ping[] = ": ping\n\n";
	struct timespec now;
	enum dc_err rc;

	if (s->io.gone(s->io.ud))
		return DC_HUP;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ms_since(&s->last_write, &now) >= (long)s->ping_s * 1000) {
		rc = sse_raw(s, ping, sizeof ping - 1);
		if (rc == DC_OK)
			sse_touch(s);
		return rc;
	}
	if (s->probe_ms > 0 && ms_since(&s->last_byte, &now) >= s->probe_ms) {
		rc = sse_raw(s, "\n", 1);
		if (rc == DC_OK)
			s->last_byte = now;
		return rc;
	}
	return DC_OK;
}
