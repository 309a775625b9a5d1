/* test_router.c - routing: placeholders, 404, 405 with the allowed methods, and
 * malformed path parameters. */
#include "buf.h"
#include "check.h"
#include "request.h"
#include "router.h"

static int hit;
static void h_list(struct request *r) { (void)r; hit = 1; }
static void h_get(struct request *r) { (void)r; hit = 2; }
static void h_del(struct request *r) { (void)r; hit = 3; }
static void h_stream(struct request *r) { (void)r; hit = 4; }

static const struct route table[] = {
	{ "GET", "/sessions", h_list },
	{ "GET", "/sessions/{id}", h_get },
	{ "DELETE", "/sessions/{id}", h_del },
	{ "POST", "/chat/{id}/stream", h_stream },
};

static enum route_match route(const char *method, const char *path, struct request *r,
			      struct buf *allow)
{
	const struct route *found = NULL;
	enum route_match m;

	memset(r, 0, sizeof *r);
	r->method = method;
	r->path = path;
	hit = 0;
	m = router_match(table, 4, r, &found, allow);
	if (found)
		found->handler(r);
	return m;
}

static void test_matches(void)
{
	struct request r;

	CHECK_INT(route("GET", "/sessions", &r, NULL), ROUTE_FOUND);
	CHECK_INT(hit, 1);
	CHECK_INT(route("GET", "/sessions/", &r, NULL), ROUTE_FOUND);
	CHECK_INT(hit, 1);
	CHECK_INT(route("GET", "/sessions/abc-123", &r, NULL), ROUTE_FOUND);
	CHECK_INT(hit, 2);
	CHECK_INT(r.nparams, 1);
	CHECK_STR(r.params[0], "abc-123");
	CHECK_INT(route("POST", "/chat/a%20b/stream", &r, NULL), ROUTE_FOUND);
	CHECK_INT(hit, 4);
	CHECK_STR(r.params[0], "a b");
}

static void test_not_found(void)
{
	struct request r;

	CHECK_INT(route("GET", "/nope", &r, NULL), ROUTE_NOT_FOUND);
	CHECK_INT(route("GET", "/sessions/a/b", &r, NULL), ROUTE_NOT_FOUND);
	CHECK_INT(route("GET", "/chat//stream", &r, NULL), ROUTE_NOT_FOUND);
	CHECK_INT(route("GET", "/sessionsX", &r, NULL), ROUTE_NOT_FOUND);
	CHECK_INT(hit, 0);
}

static void test_wrong_method(void)
{
	struct request r;
	struct buf allow;

	buf_init(&allow, 100);
	CHECK_INT(route("PUT", "/sessions/x", &r, &allow), ROUTE_BAD_METHOD);
	CHECK_STR(buf_str(&allow), "GET, DELETE");
	buf_reset(&allow);
	CHECK_INT(route("GET", "/chat/x/stream", &r, &allow), ROUTE_BAD_METHOD);
	CHECK_STR(buf_str(&allow), "POST");
	CHECK_INT(hit, 0);
	buf_free(&allow);
}

static void test_bad_param(void)
{
	struct request r;
	char longid[300];

	CHECK_INT(route("GET", "/sessions/%zz", &r, NULL), ROUTE_BAD_PARAM);
	CHECK_INT(route("GET", "/sessions/a%00b", &r, NULL), ROUTE_BAD_PARAM);
	memset(longid, 'a', sizeof longid);
	memcpy(longid, "/sessions/", 10);
	longid[sizeof longid - 1] = '\0';
	CHECK_INT(route("GET", longid, &r, NULL), ROUTE_BAD_PARAM);
	CHECK_INT(hit, 0);
}

int main(void)
{
	RUN(test_matches);
	RUN(test_not_found);
	RUN(test_wrong_method);
	RUN(test_bad_param);
	return check_summary();
}
