/* router.c - table-driven request routing (see router.h). */
#include <string.h>

#include "buf.h"
#include "request.h"
#include "router.h"

/* Does path match pattern? Fills r->params when it does (and fill is set).
 * Returns 1 match, 0 no match, -1 a placeholder value is malformed. */
static int match_pattern(const char *pattern, const char *path, struct request *r, int fill)
{
	const char *p = pattern, *s = path;
	size_t np = 0;

	while (*p && *s) {
		if (*p == '{') {
			const char *pe = strchr(p, '}');
			size_t seglen = strcspn(s, "/");
			struct buf v;
			int bad;

			if (!pe || seglen == 0)
				return 0;
			if (fill) {
				if (np >= REQUEST_MAX_PARAMS)
					return -1;
				buf_init(&v, REQUEST_PARAM_MAX - 1);
				bad = request_url_decode(s, seglen, 0, &v) != 0;
				if (!bad)
					memcpy(r->params[np], buf_str(&v), v.len + 1);
				buf_free(&v);
				if (bad)
					return -1;
				np++;
			}
			p = pe + 1;
			s += seglen;
			continue;
		}
		if (*p != *s)
			return 0;
		p++;
		s++;
	}
	/* One trailing slash on the path is forgiven: "/sessions/" is "/sessions". */
	if (*p == '\0' && s[0] == '/' && s[1] == '\0')
		s++;
	if (*p || *s)
		return 0;
	if (fill)
		r->nparams = np;
	return 1;
}

enum route_match router_match(const struct route *table, size_t n, struct request *r,
			      const struct route **out, struct buf *allow)
{
	int path_matched = 0;

	*out = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!match_pattern(table[i].pattern, r->path, r, 0))
			continue;
		if (strcmp(table[i].method, r->method) == 0) {
			if (match_pattern(table[i].pattern, r->path, r, 1) < 0)
				return ROUTE_BAD_PARAM;
			*out = &table[i];
			return ROUTE_FOUND;
		}
		if (allow && buf_printf(allow, "%s%s", path_matched ? ", " : "",
					table[i].method) != DC_OK)
			return ROUTE_NOT_FOUND;
		path_matched = 1;
	}
	return path_matched ? ROUTE_BAD_METHOD : ROUTE_NOT_FOUND;
}
