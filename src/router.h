/* router.h - method + path to handler, from a table.
 *
 * Patterns are literal segments and `{name}` placeholders ("/sessions/{id}"); a
 * placeholder matches one non-empty segment, which is %-decoded into the request's
 * params in order. The router knows nothing of what handlers do. */
#ifndef DC_ROUTER_H
#define DC_ROUTER_H

#include <stddef.h>

struct request;
struct buf;

typedef void (*route_handler)(struct request *r);

struct route {
	const char *method;	/* "GET", "POST", ... */
	const char *pattern;
	route_handler handler;
};

enum route_match {
	ROUTE_FOUND,
	ROUTE_NOT_FOUND,	/* no pattern matches the path */
	ROUTE_BAD_METHOD,	/* a pattern matches, not with this method; allow lists them */
	ROUTE_BAD_PARAM		/* a placeholder segment is malformed or too long */
};

/* Match r->method and r->path against table[0..n). On ROUTE_FOUND *out is the route and
 * r->params are filled; on ROUTE_BAD_METHOD allow gets "GET, POST" (allow may be NULL). */
enum route_match router_match(const struct route *table, size_t n, struct request *r,
			      const struct route **out, struct buf *allow);

#endif
