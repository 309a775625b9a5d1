/* cors.h - which web pages of other origins may call docchat from a browser.
 *
 * DOCCHAT_CORS_ORIGINS is an allowlist of exact origins ("https://app.example.com",
 * separated by spaces or commas; empty by default, so no other origin is allowed).
 * A request whose Origin is on the list gets Access-Control-Allow-Origin with that
 * origin (never "*", because credentials are allowed) and Allow-Credentials; a
 * preflight (OPTIONS with Access-Control-Request-Method) from it is answered here with
 * the methods and headers docchat takes. A preflight from any other origin is refused,
 * and so is a state-changing request (not GET, HEAD or OPTIONS) that the browser marks
 * as coming from another site (Sec-Fetch-Site: cross-site or same-site): a form or a
 * no-cors fetch on a foreign page must not create sessions, spend model tokens or
 * upload documents with the credentials the browser holds for docchat. Requests with
 * neither header (curl, scripts, older browsers) are not cross-site requests here.
 *
 * Pure decisions on strings: the caller (api.c) reads the request's headers and turns
 * a verdict into a response; response.c writes the header lines. */
#ifndef DC_CORS_H
#define DC_CORS_H

#include <stddef.h>
#include "dc.h"

struct buf;

#define CORS_ORIGIN_MAX 255	/* longest origin accepted in the allowlist */
#define CORS_MAX_AGE_S 600	/* how long a browser may reuse a preflight's answer */
#define CORS_ALLOW_METHODS "GET, POST, PATCH, DELETE, OPTIONS"
#define CORS_ALLOW_HEADERS "Authorization, Content-Type"

/* The headers of one request that matter here; NULL for a header not sent. */
struct cors_request {
	const char *method;		/* REQUEST_METHOD */
	const char *origin;		/* Origin */
	const char *request_method;	/* Access-Control-Request-Method */
	const char *fetch_site;		/* Sec-Fetch-Site */
};

enum cors_verdict {
	CORS_PASS,		/* go on; no CORS headers (no Origin, or one not on the list) */
	CORS_ALLOW,		/* go on, answering with CORS headers for the origin */
	CORS_PREFLIGHT_OK,	/* answer 204 with cors_preflight_headers() */
	CORS_PREFLIGHT_DENIED,	/* a preflight from an origin not on the list: 403 */
	CORS_CROSS_SITE_DENIED	/* a state-changing request from another site: 403 */
};

/* What to do with request q under allowlist (DOCCHAT_CORS_ORIGINS; NULL or "" is an
 * empty list). */
enum cors_verdict cors_decide(const char *allowlist, const struct cors_request *q);

/* Does allowlist have any entry? Responses then vary by Origin. */
int cors_enabled(const char *allowlist);

/* Is origin, byte for byte, one of allowlist's entries? NULL origin: no. */
int cors_allowed(const char *allowlist, const char *origin);

/* Check an allowlist as DOCCHAT_CORS_ORIGINS: every entry is "http://" or "https://",
 * a lower-case host name, IPv4 or [IPv6] address, and an optional ":port", nothing
 * else (no path, no trailing slash); "*" and "null" are refused. DC_BADREQ with the
 * offending entry in err. */
enum dc_err cors_check_list(const char *allowlist, char *err, size_t errlen);

/* Append the header lines of a response: with origin, Access-Control-Allow-Origin
 * (origin must be an allowlist entry, which cors_check_list has vetted) and
 * Access-Control-Allow-Credentials, and Access-Control-Expose-Headers: Retry-After (a
 * 429 says when to try again); with vary, "Vary: Origin". */
enum dc_err cors_response_headers(const char *origin, int vary, struct buf *out);

/* Append the extra header lines of a successful preflight answer: allowed methods,
 * allowed headers, max age. */
enum dc_err cors_preflight_headers(struct buf *out);

#endif
