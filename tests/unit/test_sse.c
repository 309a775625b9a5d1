/* test_sse.c - event framing: headers, one `data:` line per event with increasing
 * ids, pings after the quiet period, and a client that left reported on every call. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include "check.h"
#include "conn.h"
#include "request.h"
#include "sse.h"

static char *read_all(FILE *f)
{
	long n;
	char *s;

	fflush(f);
	n = ftell(f);
	s = calloc(1, (size_t)n + 1);
	rewind(f);
	if (fread(s, 1, (size_t)n, f) != (size_t)n)
		s[0] = '\0';
	return s;
}

static void setup(struct conn *c, struct request *r)
{
	static char m[] = "REQUEST_METHOD=POST";
	static char *env[] = { m, NULL };

	memset(c, 0, sizeof *c);
	c->env = env;
	c->out = tmpfile();
	memset(r, 0, sizeof *r);
	r->conn = c;
}

static void test_framing(void)
{
	struct conn c;
	struct request r;
	struct sse s;
	json_object *ev = json_object_new_object();
	char *out;

	setup(&c, &r);
	CHECK_INT(sse_begin(&s, &r, 15, 0), DC_OK);
	json_object_object_add(ev, "type", json_object_new_string("chunk"));
	json_object_object_add(ev, "content", json_object_new_string("a\nb \"q\" </script> é"));
	CHECK_INT(sse_send(&s, ev), DC_OK);
	CHECK_INT(sse_send_typed(&s, "done", NULL), DC_OK);
	out = read_all(c.out);
	CHECK_STR(out, "Status: 200 OK\r\nX-Content-Type-Options: nosniff\r\n"
		  "Content-Type: text/event-stream; charset=utf-8\r\n"
		  "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n\r\n"
		  "id: 1\ndata: {\"type\":\"chunk\",\"content\":\"a\\nb \\\"q\\\" </script> é\"}\n\n"
		  "id: 2\ndata: {\"type\":\"done\"}\n\n");
	free(out);
	json_object_put(ev);
	fclose(c.out);
}

static void test_ping_after_quiet(void)
{
	struct conn c;
	struct request r;
	struct sse s;
	char *out;

	setup(&c, &r);
	CHECK_INT(sse_begin(&s, &r, 1, 0), DC_OK);
	CHECK_INT(sse_tick(&s), DC_OK);		/* too early: nothing */
	s.last_write.tv_sec -= 2;		/* pretend 2 s of silence */
	CHECK_INT(sse_tick(&s), DC_OK);
	CHECK_INT(sse_tick(&s), DC_OK);		/* just pinged: nothing */
	out = read_all(c.out);
	CHECK(strstr(out, "\r\n\r\n: ping\n\n") != NULL);
	CHECK(strstr(strstr(out, ": ping") + 1, ": ping") == NULL);
	free(out);
	fclose(c.out);
}

static void test_probe_between_pings(void)
{
	struct conn c;
	struct request r;
	struct sse s;
	char *out;

	setup(&c, &r);
	CHECK_INT(sse_begin(&s, &r, 15, 500), DC_OK);
	CHECK_INT(sse_tick(&s), DC_OK);		/* too early: nothing */
	s.last_byte.tv_sec -= 1;		/* 1 s quiet: a probe, no ping */
	CHECK_INT(sse_tick(&s), DC_OK);
	CHECK_INT(sse_tick(&s), DC_OK);		/* just probed: nothing */
	out = read_all(c.out);
	CHECK_STR(strstr(out, "\r\n\r\n") + 4, "\n");	/* exactly one probe, no ping */
	free(out);
	fclose(c.out);
}

static void test_client_gone(void)
{
	struct conn c;
	struct request r;
	struct sse s;
	int fds[2];

	CHECK(pipe(fds) == 0);
	setup(&c, &r);
	fclose(c.out);
	c.out = fdopen(fds[1], "w");
	CHECK_INT(sse_begin(&s, &r, 15, 0), DC_OK);
	close(fds[0]);				/* the web server hung up */
	CHECK_INT(sse_tick(&s), DC_HUP);	/* noticed without writing */
	CHECK_INT(sse_send_typed(&s, "done", NULL), DC_HUP);
	CHECK_INT(sse_send_typed(&s, "done", NULL), DC_HUP);	/* and stays gone */
	fclose(c.out);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(test_framing);
	RUN(test_ping_after_quiet);
	RUN(test_probe_between_pings);
	RUN(test_client_gone);
	return check_summary();
}
