/* request.c - CGI parameters, body and query of one request (see request.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "conn.h"
#include "request.h"
#include "utf8.h"

#define READ_CHUNK 16384

void request_init(struct request *r, struct conn *conn, const struct config *cfg,
		  struct store *st)
{
	const char *p;

	memset(r, 0, sizeof *r);
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	r->conn = conn;
	r->cfg = cfg;
	r->store = st;
	r->tokens = -1;
	r->user = "";
	r->method = conn_param(conn, "REQUEST_METHOD");
	if (!r->method)
		r->method = "";
	p = conn_param(conn, "PATH_INFO");
	r->path = p && *p ? p : "/";
	p = conn_param(conn, "QUERY_STRING");
	r->query = p ? p : "";
}

void request_free(struct request *r)
{
	free(r->body);
	r->body = NULL;
}

long request_elapsed_ms(const struct request *r)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)((now.tv_sec - r->start.tv_sec) * 1000 +
		      (now.tv_nsec - r->start.tv_nsec) / 1000000);
}

/* CONTENT_LENGTH: absent or empty means 0; anything but digits is malformed; more than
 * max is DC_TOOBIG, naming setting (the variable that sets max) when given. */
static enum dc_err content_length(struct request *r, size_t max, const char *setting,
				  size_t *len, char *err, size_t errlen)
{
	const char *cl = conn_param(r->conn, "CONTENT_LENGTH");
	unsigned long long v;
	char *end;

	*len = 0;
	if (!cl || !*cl)
		return DC_OK;
	if (cl[0] < '0' || cl[0] > '9')
		return dc_fail(err, errlen, DC_BADREQ, "invalid Content-Length");
	errno = 0;
	v = strtoull(cl, &end, 10);
	if (*end || errno == ERANGE)
		return dc_fail(err, errlen, DC_BADREQ, "invalid Content-Length");
	if (v > max && setting)
		return dc_fail(err, errlen, DC_TOOBIG,
			       "request body of %llu bytes exceeds %s (%zu bytes)", v, setting, max);
	if (v > max)
		return dc_fail(err, errlen, DC_TOOBIG,
			       "request body of %llu bytes exceeds the limit of %zu bytes", v, max);
	*len = (size_t)v;
	return DC_OK;
}

enum dc_err request_read_body_max(struct request *r, size_t max, const char *setting,
				  char *err, size_t errlen)
{
	struct buf b;
	char chunk[READ_CHUNK];
	size_t want, got;
	enum dc_err rc;

	if (r->body)
		return DC_OK;
	rc = content_length(r, max, setting, &want, err, errlen);
	if (rc != DC_OK)
		return rc;
	buf_init(&b, max);
	while (b.len < want) {
		size_t n = want - b.len < sizeof chunk ? want - b.len : sizeof chunk;

		rc = conn_read(r->conn, chunk, n, &got);
		if (rc != DC_OK || got == 0) {
			dc_fail(err, errlen, DC_BADREQ, "request body ended after %zu of %zu bytes",
				b.len, want);
			buf_free(&b);
			return DC_BADREQ;
		}
		rc = buf_append(&b, chunk, got);
		if (rc != DC_OK)
			return dc_fail(err, errlen, rc, "cannot hold the request body");
	}
	r->body = buf_take(&b, &r->body_len);
	return r->body ? DC_OK : dc_fail(err, errlen, DC_NOMEM, "out of memory");
}

enum dc_err request_read_body(struct request *r, char *err, size_t errlen)
{
	return request_read_body_max(r, r->cfg->max_body, NULL, err, errlen);
}

static int only_space(const char *s)
{
	return s[strspn(s, " \t\r\n")] == '\0';
}

/* 1 if a string value anywhere in o holds U+0000 ("\u0000"): C code would see it cut
 * short there, so a title, a model name or a search mode would silently change. The
 * tokener's depth limit bounds the recursion. */
static int holds_nul(json_object *o)
{
	size_t i, n;

	switch (json_object_get_type(o)) {
	case json_type_string:
		return strlen(json_object_get_string(o)) != (size_t)json_object_get_string_len(o);
	case json_type_array:
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			if (holds_nul(json_object_array_get_idx(o, i)))
				return 1;
		return 0;
	case json_type_object: {
		json_object_object_foreach(o, key, val) {
			(void)key;
			if (holds_nul(val))
				return 1;
		}
		return 0;
	}
	default:
		return 0;
	}
}

enum dc_err request_json_body(struct request *r, int empty_ok, json_object **out,
			      char *err, size_t errlen)
{
	json_tokener *tok = NULL;
	json_object *obj = NULL;
	enum json_tokener_error jerr;
	enum dc_err rc;
	size_t valid;

	*out = NULL;
	rc = request_read_body(r, err, errlen);
	if (rc != DC_OK)
		return rc;
	if (r->body_len == 0) {
		if (!empty_ok)
			return dc_fail(err, errlen, DC_BADREQ, "request body is empty; expected a JSON object");
		*out = json_object_new_object();
		return *out ? DC_OK : DC_NOMEM;
	}
	if (memchr(r->body, '\0', r->body_len))
		return dc_fail(err, errlen, DC_BADREQ, "request body contains a NUL byte");
	/* json-c's own check lets overlong forms and encoded surrogates through. */
	valid = utf8_valid_prefix(r->body, r->body_len);
	if (valid < r->body_len)
		return dc_fail(err, errlen, DC_BADREQ,
			       "request body is not valid JSON: invalid UTF-8 at byte %zu", valid);
	tok = json_tokener_new();
	if (!tok)
		return DC_NOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue) {
		rc = dc_fail(err, errlen, DC_BADREQ, "request body is not valid JSON: unexpected end");
	} else if (jerr != json_tokener_success) {
		rc = dc_fail(err, errlen, DC_BADREQ, "request body is not valid JSON: %s",
			     json_tokener_error_desc(jerr));
	} else if (!only_space(r->body + json_tokener_get_parse_end(tok))) {
		rc = dc_fail(err, errlen, DC_BADREQ, "request body is not valid JSON: trailing data");
	} else if (!json_object_is_type(obj, json_type_object)) {
		rc = dc_fail(err, errlen, DC_BADREQ, "request body must be a JSON object");
	} else if (holds_nul(obj)) {
		rc = dc_fail(err, errlen, DC_BADREQ, "request body: a string contains \\u0000 (NUL)");
	} else {
		*out = obj;
		obj = NULL;
	}
	json_object_put(obj);
	json_tokener_free(tok);
	return rc;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int request_url_decode(const char *s, size_t n, int plus_is_space, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -1;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		if (buf_append(out, &c, 1) != DC_OK)
			return -1;
	}
	return 0;
}

int request_query_get(const char *query, const char *name, struct buf *out)
{
	size_t nlen = strlen(name);
	const char *p = query;

	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);

		if (len >= nlen && strncmp(p, name, nlen) == 0 && (len == nlen || p[nlen] == '=')) {
			size_t off = len == nlen ? nlen : nlen + 1;

			return request_url_decode(p + off, len - off, 1, out) == 0 ? 1 : -1;
		}
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}
