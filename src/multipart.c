/* multipart.c - multipart/form-data bodies and upload file names (see multipart.h).
 *
 * Written by hand: none of docchat's libraries parses multipart bodies (libcurl only
 * builds them, libfcgi hands over raw bytes). The reading follows RFC 7578 and
 * RFC 2046. A delimiter is CRLF "--" boundary, then optional spaces or tabs and CRLF, or
 * "--" for the closing one; text that looks like the boundary but goes on otherwise is
 * part of the body. The first delimiter may open the body with no CRLF before it; the
 * preamble before it and the epilogue after the closing one are ignored, and the
 * closing delimiter needs no CRLF after it. Part headers end at the first blank line,
 * are read one CRLF-terminated line at a time and may not be folded.
 *
 * Quoted parameter values: browsers send the backslashes of Windows paths in filename
 * unescaped (HTML's form encoding only turns '"' into %22), so only \" and \\ are read
 * as escapes and any other backslash stays. filename* (RFC 8187) is accepted in UTF-8
 * and ISO-8859-1 and wins over filename (RFC 6266).
 *
 * Every scan moves forward through the body (memmem for delimiters, one pass per header
 * block) without recursion, so the time is linear in the body's size. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "multipart.h"
#include "utf8.h"

#define MEDIA_TYPE "multipart/form-data"
#define DELIM_PREFIX "\r\n--"
#define DELIM_PREFIX_LEN (sizeof DELIM_PREFIX - 1)
#define HEADER_END "\r\n\r\n"
#define HEADER_END_LEN (sizeof HEADER_END - 1)

/* A read position in one header value. */
struct scan {
	const char *p, *end;
};

/* What the headers of one part said, before it becomes a struct multipart_part. */
struct part_head {
	struct buf name, filename, filename_ext, content_type;
	struct buf pname, pvalue;	/* scratch for parameters */
	int has_disposition, has_name, has_filename, has_ext, has_type, has_encoding;
};

/* ---- header values ---- */

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 9110's tchar: the bytes of a token. */
static int is_tchar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Does p[0..n) equal the literal lit, ignoring ASCII case? */
static int same_word(const char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && strncasecmp(p, lit, n) == 0;
}

static void skip_ows(struct scan *s)
{
	while (s->p < s->end && is_ows(*s->p))
		s->p++;
}

static size_t scan_token(struct scan *s)
{
	const char *start = s->p;

	while (s->p < s->end && is_tchar(*s->p))
		s->p++;
	return (size_t)(s->p - start);
}

/* A parameter value into out: a quoted string, or a bare run of bytes up to ';', white
 * space or '"' (clients leave boundaries and names unquoted that RFC 2045 would want
 * quoted). DC_BADREQ for an unterminated quoted string. */
static enum dc_err scan_value(struct scan *s, struct buf *out)
{
	const char *start;
	enum dc_err rc = DC_OK;

	buf_reset(out);
	if (s->p < s->end && *s->p == '"') {
		s->p++;
		while (rc == DC_OK && s->p < s->end && *s->p != '"') {
			if (*s->p == '\\' && s->end - s->p >= 2 && (s->p[1] == '"' || s->p[1] == '\\'))
				s->p++;
			rc = buf_append(out, s->p, 1);
			s->p++;
		}
		if (rc != DC_OK)
			return rc;
		if (s->p == s->end)
			return DC_BADREQ;
		s->p++;
		return DC_OK;
	}
	start = s->p;
	while (s->p < s->end && *s->p != ';' && *s->p != '"' && !is_ows(*s->p))
		s->p++;
	return buf_append(out, start, (size_t)(s->p - start));
}

/* The next "; name=value" of a header value: *found = 1 with name and value filled, or
 * *found = 0 at the end (empty parameters between semicolons are skipped). DC_BADREQ
 * when what follows is not a parameter. */
static enum dc_err next_param(struct scan *s, struct buf *name, struct buf *value, int *found)
{
	const char *start;
	size_t n;
	enum dc_err rc;

	*found = 0;
	skip_ows(s);
	if (s->p == s->end)
		return DC_OK;
	if (*s->p != ';')
		return DC_BADREQ;
	while (s->p < s->end && (*s->p == ';' || is_ows(*s->p)))
		s->p++;
	if (s->p == s->end)
		return DC_OK;
	start = s->p;
	n = scan_token(s);
	if (n == 0)
		return DC_BADREQ;
	buf_reset(name);
	rc = buf_append(name, start, n);
	if (rc != DC_OK)
		return rc;
	skip_ows(s);
	if (s->p == s->end || *s->p != '=')
		return DC_BADREQ;
	s->p++;
	skip_ows(s);
	rc = scan_value(s, value);
	if (rc == DC_OK)
		*found = 1;
	return rc;
}

/* Copy src's contents over dst's. */
static enum dc_err buf_set(struct buf *dst, const struct buf *src)
{
	buf_reset(dst);
	return buf_append(dst, buf_str(src), src->len);
}

/* ---- the request's Content-Type ---- */

int multipart_is_form_data(const char *content_type)
{
	size_t n = sizeof MEDIA_TYPE - 1;
	const char *p = content_type;

	if (!p)
		return 0;
	while (is_ows(*p))
		p++;
	if (strncasecmp(p, MEDIA_TYPE, n) != 0)
		return 0;
	p += n;
	return *p == '\0' || *p == ';' || is_ows(*p);
}

/* RFC 2046: 1..70 characters, none a control or non-ASCII, not ending in a space. */
static int boundary_ok(const struct buf *b)
{
	if (b->len == 0 || b->len > MULTIPART_BOUNDARY_MAX || b->data[b->len - 1] == ' ')
		return 0;
	for (size_t i = 0; i < b->len; i++) {
		unsigned char c = (unsigned char)b->data[i];

		if (c < 0x20 || c >= 0x7f)
			return 0;
	}
	return 1;
}

/* The boundary parameter of content_type into boundary. */
static enum dc_err find_boundary(const char *content_type, struct buf *boundary,
				 char *err, size_t errlen)
{
	struct buf name, value;
	struct scan s;
	int found, seen = 0;
	enum dc_err rc;

	if (!multipart_is_form_data(content_type))
		return dc_fail(err, errlen, DC_BADREQ, "Content-Type is not " MEDIA_TYPE);
	buf_init(&name, MULTIPART_MAX_HEADER);
	buf_init(&value, MULTIPART_MAX_HEADER);
	s.p = content_type + strspn(content_type, " \t") + sizeof MEDIA_TYPE - 1;
	s.end = content_type + strlen(content_type);
	while ((rc = next_param(&s, &name, &value, &found)) == DC_OK && found) {
		if (strcasecmp(buf_str(&name), "boundary") != 0)
			continue;
		if (seen++) {
			rc = dc_fail(err, errlen, DC_BADREQ, "Content-Type has two boundary parameters");
			goto out;
		}
		rc = buf_set(boundary, &value);
		if (rc != DC_OK)
			goto out;
	}
	if (rc == DC_BADREQ)
		rc = dc_fail(err, errlen, rc, "Content-Type has malformed parameters");
	else if (rc == DC_TOOBIG)	/* a malformed header, not a body too large (413) */
		rc = dc_fail(err, errlen, DC_BADREQ, "Content-Type has a parameter longer than "
			     "%d bytes", MULTIPART_MAX_HEADER);
	else if (rc == DC_OK && !seen)
		rc = dc_fail(err, errlen, DC_BADREQ, "Content-Type " MEDIA_TYPE
			     " has no boundary parameter");
	else if (rc == DC_OK && !boundary_ok(boundary))
		rc = dc_fail(err, errlen, DC_BADREQ, "the multipart boundary must be 1 to %d "
			     "printable ASCII characters", MULTIPART_BOUNDARY_MAX);
	else if (rc != DC_OK)
		rc = dc_fail(err, errlen, rc, "cannot read the Content-Type: %s", dc_strerror(rc));
out:
	buf_free(&name);
	buf_free(&value);
	return rc;
}

/* ---- delimiters ---- */

/* What follows the boundary at q: "--" (the closing delimiter) or optional white space
 * and CRLF. Returns 1 with *next just past it, or 0 when q does not end a delimiter. */
static int delimiter_end(const char *q, const char *end, int *closing, const char **next)
{
	if (end - q >= 2 && q[0] == '-' && q[1] == '-') {
		*closing = 1;
		*next = q + 2;
		return 1;
	}
	while (q < end && is_ows(*q))
		q++;
	if (end - q >= 2 && q[0] == '\r' && q[1] == '\n') {
		*closing = 0;
		*next = q + 2;
		return 1;
	}
	return 0;
}

/* The next delimiter (delim is CRLF "--" boundary) at or after from, or NULL. */
static const char *find_delimiter(const char *from, const char *end, const struct buf *delim,
				  int *closing, const char **next)
{
	while (from < end) {
		const char *hit = memmem(from, (size_t)(end - from), delim->data, delim->len);

		if (!hit)
			return NULL;
		if (delimiter_end(hit + delim->len, end, closing, next))
			return hit;
		from = hit + 1;
	}
	return NULL;
}

/* The first delimiter, which may also open the body without the CRLF before it. */
static const char *first_delimiter(const char *body, const char *end, const struct buf *delim,
				   int *closing, const char **next)
{
	size_t dash_len = delim->len - 2;	/* "--" boundary */

	if ((size_t)(end - body) >= dash_len && memcmp(body, delim->data + 2, dash_len) == 0 &&
	    delimiter_end(body + dash_len, end, closing, next))
		return body;
	return find_delimiter(body, end, delim, closing, next);
}

/* ---- part headers ---- */

static void head_init(struct part_head *h)
{
	memset(h, 0, sizeof *h);
	buf_init(&h->name, MULTIPART_MAX_HEADER);
	buf_init(&h->filename, MULTIPART_MAX_HEADER);
	buf_init(&h->filename_ext, MULTIPART_MAX_HEADER);
	buf_init(&h->content_type, MULTIPART_MAX_HEADER);
	buf_init(&h->pname, MULTIPART_MAX_HEADER);
	buf_init(&h->pvalue, MULTIPART_MAX_HEADER);
}

static void head_free(struct part_head *h)
{
	buf_free(&h->name);
	buf_free(&h->filename);
	buf_free(&h->filename_ext);
	buf_free(&h->content_type);
	buf_free(&h->pname);
	buf_free(&h->pvalue);
}

static void head_reset(struct part_head *h)
{
	head_free(h);
	head_init(h);
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

/* Append the character c of charset ISO-8859-1 (latin1) or UTF-8 to out as UTF-8. */
static enum dc_err append_char(struct buf *out, unsigned char c, int latin1)
{
	char two[2];

	if (!latin1 || c < 0x80)
		return buf_append(out, &c, 1);
	two[0] = (char)(0xC0 | (c >> 6));
	two[1] = (char)(0x80 | (c & 0x3F));
	return buf_append(out, two, 2);
}

/* Decode an RFC 8187 ext-value (charset'language'%-encoded) into out as UTF-8. */
static enum dc_err decode_ext_value(const struct buf *v, struct buf *out, size_t partno,
				    char *err, size_t errlen)
{
	const char *s = buf_str(v), *end = s + v->len, *q1, *q2;
	int latin1;
	enum dc_err rc = DC_OK;

	q1 = memchr(s, '\'', v->len);
	q2 = q1 ? memchr(q1 + 1, '\'', (size_t)(end - q1 - 1)) : NULL;
	if (!q2)
		return dc_fail(err, errlen, DC_BADREQ, "part %zu: filename* is not "
			       "charset'language'value", partno);
	latin1 = same_word(s, (size_t)(q1 - s), "ISO-8859-1");
	if (!latin1 && !same_word(s, (size_t)(q1 - s), "UTF-8"))
		return dc_fail(err, errlen, DC_BADREQ, "part %zu: the charset of filename* must "
			       "be UTF-8 or ISO-8859-1", partno);
	buf_reset(out);
	for (const char *p = q2 + 1; rc == DC_OK && p < end; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '%') {
			int hi = end - p >= 3 ? hexval(p[1]) : -1;
			int lo = end - p >= 3 ? hexval(p[2]) : -1;

			if (hi < 0 || lo < 0)
				return dc_fail(err, errlen, DC_BADREQ, "part %zu: filename* has a "
					       "malformed %%-escape", partno);
			c = (unsigned char)(hi * 16 + lo);
			p += 2;
		}
		rc = append_char(out, c, latin1);
	}
	return rc;
}

/* Take one parameter of Content-Disposition (in h->pname, h->pvalue). */
static enum dc_err disposition_param(struct part_head *h, size_t partno, char *err,
				     size_t errlen)
{
	const char *name = buf_str(&h->pname);
	struct buf *dst = NULL;
	int *seen = NULL;

	if (strcasecmp(name, "name") == 0) {
		dst = &h->name;
		seen = &h->has_name;
	} else if (strcasecmp(name, "filename") == 0) {
		dst = &h->filename;
		seen = &h->has_filename;
	} else if (strcasecmp(name, "filename*") == 0) {
		dst = &h->filename_ext;
		seen = &h->has_ext;
	} else {
		return DC_OK;	/* other parameters mean nothing to docchat */
	}
	if (*seen)
		return dc_fail(err, errlen, DC_BADREQ, "part %zu: Content-Disposition has two "
			       "%s parameters", partno, name);
	*seen = 1;
	if (dst == &h->filename_ext)
		return decode_ext_value(&h->pvalue, dst, partno, err, errlen);
	return buf_set(dst, &h->pvalue);
}

static enum dc_err parse_disposition(struct part_head *h, struct scan *s, size_t partno,
				     char *err, size_t errlen)
{
	const char *type = s->p;
	int found;
	enum dc_err rc;

	if (!same_word(type, scan_token(s), "form-data"))
		return dc_fail(err, errlen, DC_BADREQ, "part %zu: Content-Disposition is not "
			       "form-data", partno);
	while ((rc = next_param(s, &h->pname, &h->pvalue, &found)) == DC_OK && found) {
		rc = disposition_param(h, partno, err, errlen);
		if (rc != DC_OK)
			return rc;
	}
	if (rc == DC_BADREQ)
		return dc_fail(err, errlen, rc, "part %zu: malformed Content-Disposition", partno);
	return rc;
}

/* RFC 7578 deprecates Content-Transfer-Encoding; the identity ones are harmless. */
static enum dc_err check_encoding(const struct scan *s, size_t partno, char *err,
				  size_t errlen)
{
	size_t n = (size_t)(s->end - s->p);

	if (same_word(s->p, n, "binary") || same_word(s->p, n, "8bit") ||
	    same_word(s->p, n, "7bit"))
		return DC_OK;
	return dc_fail(err, errlen, DC_BADREQ, "part %zu: Content-Transfer-Encoding other than "
		       "binary, 8bit or 7bit is not supported", partno);
}

/* One header line p[0..n) (without its CRLF). */
static enum dc_err header_line(struct part_head *h, const char *p, size_t n, size_t partno,
			       char *err, size_t errlen)
{
	const char *colon;
	struct scan s;
	size_t name_len;
	int *seen;

	if (n == 0 || is_ows(p[0]))
		return dc_fail(err, errlen, DC_BADREQ, "part %zu: folded header lines are not "
			       "supported", partno);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return dc_fail(err, errlen, DC_BADREQ, "part %zu: control character in "
				       "the part's headers", partno);
	}
	colon = memchr(p, ':', n);
	s.p = p;
	s.end = colon ? colon : p;
	name_len = scan_token(&s);
	if (!colon || name_len == 0 || s.p != colon)
		return dc_fail(err, errlen, DC_BADREQ, "part %zu: malformed header line", partno);
	s.p = colon + 1;
	s.end = p + n;
	skip_ows(&s);
	while (s.end > s.p && is_ows(s.end[-1]))
		s.end--;
	if (same_word(p, name_len, "Content-Disposition"))
		seen = &h->has_disposition;
	else if (same_word(p, name_len, "Content-Type"))
		seen = &h->has_type;
	else if (same_word(p, name_len, "Content-Transfer-Encoding"))
		seen = &h->has_encoding;
	else
		return DC_OK;
	if (*seen)
		return dc_fail(err, errlen, DC_BADREQ, "part %zu: two %.*s headers", partno,
			       (int)name_len, p);
	*seen = 1;
	if (seen == &h->has_disposition)
		return parse_disposition(h, &s, partno, err, errlen);
	if (seen == &h->has_encoding)
		return check_encoding(&s, partno, err, errlen);
	return buf_append(&h->content_type, s.p, (size_t)(s.end - s.p));
}

/* Read the header block of part partno that starts at p into h; *data gets the first
 * byte of the part's body. */
static enum dc_err read_headers(struct part_head *h, const char *p, const char *end,
				size_t partno, const char **data, char *err, size_t errlen)
{
	size_t avail = (size_t)(end - p);
	size_t window = avail < MULTIPART_MAX_HEADER ? avail : MULTIPART_MAX_HEADER;
	const char *stop, *blank;
	enum dc_err rc;

	head_reset(h);
	if (avail >= 2 && p[0] == '\r' && p[1] == '\n') {
		stop = p;	/* no headers at all */
		*data = p + 2;
	} else {
		blank = memmem(p, window, HEADER_END, HEADER_END_LEN);
		if (!blank && window < avail)
			return dc_fail(err, errlen, DC_BADREQ, "part %zu: headers longer than %d "
				       "bytes", partno, MULTIPART_MAX_HEADER);
		if (!blank)
			return dc_fail(err, errlen, DC_BADREQ, "part %zu: the body ends inside the "
				       "part's headers", partno);
		stop = blank + 2;	/* just past the last header line's CRLF */
		*data = blank + HEADER_END_LEN;
	}
	while (p < stop) {
		const char *lf = memchr(p, '\n', (size_t)(stop - p));

		if (!lf || lf == p || lf[-1] != '\r')
			return dc_fail(err, errlen, DC_BADREQ, "part %zu: a header line does not end "
				       "in CRLF", partno);
		rc = header_line(h, p, (size_t)(lf - 1 - p), partno, err, errlen);
		if (rc != DC_OK)
			return rc;
		p = lf + 1;
	}
	if (!h->has_disposition)
		return dc_fail(err, errlen, DC_BADREQ, "part %zu has no Content-Disposition header",
			       partno);
	return DC_OK;
}

/* ---- parts ---- */

static void part_clear(struct multipart_part *part)
{
	free(part->name);
	free(part->filename);
	free(part->content_type);
	memset(part, 0, sizeof *part);
}

void multipart_free(struct multipart *mp)
{
	for (size_t i = 0; i < mp->nparts; i++)
		part_clear(&mp->parts[i]);
	free(mp->parts);
	mp->parts = NULL;
	mp->nparts = 0;
}

/* The part's file name, cleaned: filename* when it has one, else filename; NULL in
 * *out when the part names no file. */
static enum dc_err part_filename(const struct part_head *h, size_t partno, char **out,
				 char *err, size_t errlen)
{
	const struct buf *raw = h->filename_ext.len ? &h->filename_ext : &h->filename;
	char cause[DC_ERRMAX];
	enum dc_err rc;

	*out = NULL;
	if (raw->len == 0)
		return DC_OK;
	rc = multipart_clean_filename(buf_str(raw), raw->len, out, cause, sizeof cause);
	if (rc != DC_OK)
		return dc_fail(err, errlen, rc, "part %zu: %s", partno, cause);
	return DC_OK;
}

/* Append a part made of h and data[0..len) to mp, whose array holds *cap entries. */
static enum dc_err add_part(struct multipart *mp, size_t *cap, struct part_head *h,
			    const char *data, size_t len, size_t partno, char *err, size_t errlen)
{
	struct multipart_part part;
	enum dc_err rc;

	memset(&part, 0, sizeof part);
	if (mp->nparts == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;
		struct multipart_part *grown = reallocarray(mp->parts, ncap, sizeof *grown);

		if (!grown)
			return dc_fail(err, errlen, DC_NOMEM, "out of memory");
		mp->parts = grown;
		*cap = ncap;
	}
	rc = part_filename(h, partno, &part.filename, err, errlen);
	if (rc != DC_OK)
		goto out;
	part.name = buf_take(&h->name, NULL);
	if (h->has_type)
		part.content_type = buf_take(&h->content_type, NULL);
	if (!part.name || (h->has_type && !part.content_type)) {
		rc = dc_fail(err, errlen, DC_NOMEM, "out of memory");
		goto out;
	}
	part.data = data;
	part.len = len;
	mp->parts[mp->nparts++] = part;
	memset(&part, 0, sizeof part);
out:
	part_clear(&part);
	return rc;
}

/* Turn a buffer error of the headers into a message. */
static enum dc_err header_buf_error(enum dc_err rc, size_t partno, char *err, size_t errlen)
{
	if (rc == DC_TOOBIG)
		return dc_fail(err, errlen, DC_BADREQ, "part %zu: a header value is too long",
			       partno);
	return dc_fail(err, errlen, rc, "part %zu: %s", partno, dc_strerror(rc));
}

enum dc_err multipart_parse(const char *content_type, const char *body, size_t len,
			    size_t max_parts, struct multipart *out, char *err, size_t errlen)
{
	struct buf boundary, delim;
	struct part_head head;
	const char *end, *pos = NULL, *data = NULL, *stop;
	size_t cap = 0;
	int closing = 0;
	enum dc_err rc;

	out->parts = NULL;
	out->nparts = 0;
	head_init(&head);
	buf_init(&boundary, MULTIPART_MAX_HEADER);
	buf_init(&delim, DELIM_PREFIX_LEN + MULTIPART_BOUNDARY_MAX);
	rc = find_boundary(content_type, &boundary, err, errlen);
	if (rc != DC_OK)
		goto out;
	rc = buf_printf(&delim, DELIM_PREFIX "%s", boundary.data);
	if (rc != DC_OK) {
		rc = dc_fail(err, errlen, rc, "%s", dc_strerror(rc));
		goto out;
	}
	if (len == 0) {
		rc = dc_fail(err, errlen, DC_BADREQ, "the multipart body is empty");
		goto out;
	}
	end = body + len;
	if (!first_delimiter(body, end, &delim, &closing, &pos)) {
		rc = dc_fail(err, errlen, DC_BADREQ, "the multipart body has no delimiter line "
			     "--%s", boundary.data);
		goto out;
	}
	while (!closing) {
		size_t partno = out->nparts + 1;

		if (out->nparts == max_parts) {
			rc = dc_fail(err, errlen, DC_BADREQ, "more than %zu parts in the multipart "
				     "body", max_parts);
			goto out;
		}
		rc = read_headers(&head, pos, end, partno, &data, err, errlen);
		if (rc == DC_NOMEM || rc == DC_TOOBIG)
			rc = header_buf_error(rc, partno, err, errlen);
		if (rc != DC_OK)
			goto out;
		stop = find_delimiter(data, end, &delim, &closing, &pos);
		if (!stop) {
			rc = dc_fail(err, errlen, DC_BADREQ, "the multipart body ends without the "
				     "closing delimiter --%s--", boundary.data);
			goto out;
		}
		rc = add_part(out, &cap, &head, data, (size_t)(stop - data), partno, err, errlen);
		if (rc != DC_OK)
			goto out;
	}
out:
	if (rc != DC_OK)
		multipart_free(out);
	head_free(&head);
	buf_free(&delim);
	buf_free(&boundary);
	return rc;
}

/* ---- file names ---- */

/* Characters a stored file name must not show: C0 and C1 controls, DEL, line and
 * paragraph separators and the bidirectional marks and overrides (which can make
 * "exe.txt" display as "txt.exe"). */
static int unsafe_char(unsigned long cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

enum dc_err multipart_clean_filename(const char *raw, size_t n, char **out,
				     char *err, size_t errlen)
{
	struct buf b;
	const char *p, *end = raw + n;
	size_t i;
	int only_dots = 1;
	enum dc_err rc = DC_OK;

	*out = NULL;
	if (!utf8_valid(raw, n))
		return dc_fail(err, errlen, DC_BADREQ, "the file name is not valid UTF-8");
	for (i = n; i > 0 && raw[i - 1] != '/' && raw[i - 1] != '\\'; i--)
		;
	buf_init(&b, MULTIPART_FILENAME_MAX);
	for (p = raw + i; rc == DC_OK && p < end; ) {
		unsigned long cp = 0;
		size_t k = utf8_decode(p, (size_t)(end - p), &cp);

		if (k == 0)	/* cannot happen after utf8_valid; never loop forever */
			k = 1;
		rc = unsafe_char(cp) ? buf_append(&b, "_", 1) : buf_append(&b, p, k);
		only_dots = only_dots && cp == '.';
		p += k;
	}
	if (rc == DC_TOOBIG)
		rc = dc_fail(err, errlen, DC_BADREQ, "the file name is longer than %d bytes",
			     MULTIPART_FILENAME_MAX);
	else if (rc != DC_OK)
		rc = dc_fail(err, errlen, rc, "%s", dc_strerror(rc));
	else if (b.len == 0)
		rc = dc_fail(err, errlen, DC_BADREQ, n ? "the file name is empty without its "
			     "directory part" : "the file name is empty");
	else if (only_dots)
		rc = dc_fail(err, errlen, DC_BADREQ, "the file name \"%s\" is only dots",
			     b.data);
	if (rc == DC_OK) {
		*out = buf_take(&b, NULL);
		if (!*out)
			rc = dc_fail(err, errlen, DC_NOMEM, "%s", dc_strerror(DC_NOMEM));
	}
	buf_free(&b);
	return rc;
}
