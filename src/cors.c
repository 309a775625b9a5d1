/* cors.c - the CORS allowlist, preflights and the cross-site write check (see cors.h).
 *
 * Origins are compared byte for byte, as browsers serialise them (lower-case scheme
 * and host, no default port, no trailing slash); cors_check_list refuses entries that
 * could never match so that a typo in the allowlist is an error at start-up rather
 * than a silently blocked page. */
#include <string.h>

#include "buf.h"
#include "cors.h"

#define CORS_SEPARATORS " \t\r\n,"
#define PORT_DIGITS_MAX 5
#define PORT_MAX 65535

/* The next entry of list at or after *pos: its start and length; 0 at the end. */
static int next_entry(const char *list, size_t *pos, const char **start, size_t *len)
{
	size_t i = *pos;

	if (!list)
		return 0;
	i += strspn(list + i, CORS_SEPARATORS);
	if (!list[i])
		return 0;
	*start = list + i;
	*len = strcspn(list + i, CORS_SEPARATORS);
	*pos = i + *len;
	return 1;
}

int cors_enabled(const char *allowlist)
{
	const char *e;
	size_t pos = 0, len;

	return next_entry(allowlist, &pos, &e, &len);
}

int cors_allowed(const char *allowlist, const char *origin)
{
	const char *e;
	size_t pos = 0, len, olen;

	if (!origin || !*origin)
		return 0;
	olen = strlen(origin);
	while (next_entry(allowlist, &pos, &e, &len))
		if (len == olen && memcmp(e, origin, len) == 0)
			return 1;
	return 0;
}

/* Methods that only read (RFC 9110 "safe" methods): they may come from anywhere. */
static int safe_method(const char *m)
{
	return !m || strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ||
	       strcmp(m, "OPTIONS") == 0;
}

enum cors_verdict cors_decide(const char *allowlist, const struct cors_request *q)
{
	int allowed = cors_allowed(allowlist, q->origin);
	int has_origin = q->origin && *q->origin;

	if (q->method && strcmp(q->method, "OPTIONS") == 0 && has_origin &&
	    q->request_method && *q->request_method)
		return allowed ? CORS_PREFLIGHT_OK : CORS_PREFLIGHT_DENIED;
	if (allowed)
		return CORS_ALLOW;
	if (!safe_method(q->method) && q->fetch_site &&
	    (strcmp(q->fetch_site, "cross-site") == 0 || strcmp(q->fetch_site, "same-site") == 0))
		return CORS_CROSS_SITE_DENIED;
	return CORS_PASS;
}

static int host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

static int ipv6_char(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9') || c == ':' || c == '.';
}

/* Why entry e[0..n) cannot be an origin, or NULL when it is one. */
static const char *origin_problem(const char *e, size_t n)
{
	size_t i, scheme, host, digits;
	unsigned long port = 0;

	if (n == 1 && e[0] == '*')
		return "\"*\" cannot be used because docchat allows credentials; list each origin";
	if (n == 4 && memcmp(e, "null", 4) == 0)
		return "\"null\" would let any sandboxed page or local file in";
	if (n > CORS_ORIGIN_MAX)
		return "too long";
	if (n >= 7 && memcmp(e, "http://", 7) == 0)
		scheme = 7;
	else if (n >= 8 && memcmp(e, "https://", 8) == 0)
		scheme = 8;
	else
		return "an origin starts with http:// or https://";
	i = host = scheme;
	if (i < n && e[i] == '[') {
		for (i++; i < n && ipv6_char(e[i]); i++)
			;
		if (i >= n || e[i] != ']' || i == host + 1)
			return "a bracketed IPv6 address is malformed";
		i++;
	} else {
		for (; i < n && host_char(e[i]); i++)
			;
		if (i == host)
			return "the host is missing or has characters other than a-z, 0-9, '.' "
			       "and '-' (browsers send host names in lower case)";
	}
	if (i < n && e[i] == ':') {
		for (digits = 0, i++; i < n && e[i] >= '0' && e[i] <= '9'; i++, digits++)
			port = port * 10 + (unsigned long)(e[i] - '0');
		if (digits == 0 || digits > PORT_DIGITS_MAX || port == 0 || port > PORT_MAX)
			return "the port is not a number from 1 to 65535";
		if ((scheme == 7 && port == 80) || (scheme == 8 && port == 443))
			return "browsers leave the default port out of an origin; remove it";
	}
	if (i < n)
		return "an origin has no path, query or trailing slash, only scheme://host[:port]";
	return NULL;
}

enum dc_err cors_check_list(const char *allowlist, char *err, size_t errlen)
{
	const char *e, *why;
	size_t pos = 0, len;

	while (next_entry(allowlist, &pos, &e, &len)) {
		why = origin_problem(e, len);
		if (why)
			return dc_fail(err, errlen, DC_BADREQ, "DOCCHAT_CORS_ORIGINS: '%.*s': %s",
				       len > CORS_ORIGIN_MAX ? CORS_ORIGIN_MAX : (int)len, e, why);
	}
	return DC_OK;
}

enum dc_err cors_response_headers(const char *origin, int vary, struct buf *out)
{
	enum dc_err rc = DC_OK;

	/* Retry-After is not one of the headers a cross-origin script may read unless
	 * exposed: a page told 429 needs it to know when to try again. */
	if (origin)
		rc = buf_printf(out, "Access-Control-Allow-Origin: %s\r\n"
				"Access-Control-Allow-Credentials: true\r\n"
				"Access-Control-Expose-Headers: Retry-After\r\n", origin);
	if (rc == DC_OK && vary)
		rc = buf_appends(out, "Vary: Origin\r\n");
	return rc;
}

enum dc_err cors_preflight_headers(struct buf *out)
{
	return buf_printf(out, "Access-Control-Allow-Methods: %s\r\n"
			  "Access-Control-Allow-Headers: %s\r\n"
			  "Access-Control-Max-Age: %d\r\n",
			  CORS_ALLOW_METHODS, CORS_ALLOW_HEADERS, CORS_MAX_AGE_S);
}
