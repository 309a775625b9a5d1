/* fuzz_multipart.c - the multipart/form-data parser and the upload file name rule
 * (multipart.h) on any request.
 *
 * The input's first line is the Content-Type header value, the rest is the body, e.g.
 *   multipart/form-data; boundary=X
 *   --X\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhi\r\n--X--
 * Checked: every part's data lies inside the body, in order and without overlap, and
 * is followed by a delimiter line ("\r\n--"); no
 * more parts than allowed; names and content types are strings without a NUL; a file
 * name keeps the rule of multipart_clean_filename (valid UTF-8, no '/' or '\', not "."
 * or "..", no control or bidirectional character, at most MULTIPART_FILENAME_MAX bytes)
 * and cleaning it again changes nothing; an error leaves no parts and says why. The
 * whole input is also cleaned as a file name, with the same checks. */
#include "fuzz.h"

#include "multipart.h"

#define FUZZ_MAX_PARTS 100	/* as api_documents.c allows per upload */

/* The code point at s[0..n) (valid UTF-8, checked before), and its length in *len. */
static unsigned long code_point(const unsigned char *s, size_t n, size_t *len)
{
	if (s[0] < 0x80 || n < 2) {
		*len = 1;
		return s[0];
	}
	if (s[0] < 0xE0) {
		*len = 2;
		return ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu);
	}
	if (s[0] < 0xF0) {
		*len = 3;
		return ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
	}
	*len = 4;
	return ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) |
	       (s[3] & 0x3Fu);
}

static void check_clean_name(const char *name)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t n = strlen(name), i, len;
	char err[DC_ERRMAX], *again = NULL;

	FUZZ_CHECK(n > 0 && n <= MULTIPART_FILENAME_MAX);
	FUZZ_CHECK(fuzz_utf8_valid(name, n));
	FUZZ_CHECK(!strchr(name, '/') && !strchr(name, '\\'));
	FUZZ_CHECK(strspn(name, ".") < n);
	for (i = 0; i < n; i += len) {
		unsigned long cp = code_point(s + i, n - i, &len);

		FUZZ_CHECK(cp >= 0x20 && !(cp >= 0x7F && cp <= 0x9F));
		FUZZ_CHECK(cp != 0x200E && cp != 0x200F && !(cp >= 0x2028 && cp <= 0x202E) &&
			   !(cp >= 0x2066 && cp <= 0x2069));
	}
	FUZZ_CHECK(multipart_clean_filename(name, n, &again, err, sizeof err) == DC_OK);
	FUZZ_CHECK(strcmp(again, name) == 0);
	free(again);
}

static void check_error(enum dc_err rc, const char *err)
{
	FUZZ_CHECK(rc == DC_BADREQ || rc == DC_NOMEM);
	FUZZ_CHECK(err[0] != '\0');
	FUZZ_CHECK(fuzz_utf8_valid(err, strlen(err)));
}

static void check_parts(const struct multipart *mp, const char *body, size_t len)
{
	const char *prev_end = body;

	FUZZ_CHECK(mp->nparts <= FUZZ_MAX_PARTS);
	FUZZ_CHECK(mp->nparts == 0 || mp->parts);
	for (size_t i = 0; i < mp->nparts; i++) {
		const struct multipart_part *pt = &mp->parts[i];

		FUZZ_CHECK(pt->data >= prev_end);
		FUZZ_CHECK(pt->data <= body + len);
		FUZZ_CHECK(pt->len <= (size_t)(body + len - pt->data));
		/* A part ends where a delimiter line starts. */
		FUZZ_CHECK((size_t)(body + len - pt->data) - pt->len >= 4 &&
			   memcmp(pt->data + pt->len, "\r\n--", 4) == 0);
		prev_end = pt->data + pt->len;
		FUZZ_CHECK(pt->name != NULL);
		(void)strlen(pt->name);
		if (pt->content_type)
			(void)strlen(pt->content_type);
		if (pt->filename)
			check_clean_name(pt->filename);
		/* Touch every byte, so a part reaching past the body is an ASan report. */
		if (pt->len) {
			volatile char sink = pt->data[0];

			sink = pt->data[pt->len - 1];
			(void)sink;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t ctlen = nl ? (size_t)(nl - data) : size;
	const char *body = nl ? (const char *)nl + 1 : (const char *)data + size;
	size_t len = nl ? size - ctlen - 1 : 0;
	char *ctype = fuzz_dup(data, ctlen);
	char err[DC_ERRMAX] = "", *name = NULL;
	struct multipart mp;
	enum dc_err rc;

	/* The header value arrives as a C string: a NUL in the first line ends it. */
	rc = multipart_parse(ctype, body, len, FUZZ_MAX_PARTS, &mp, err, sizeof err);
	if (rc == DC_OK) {
		check_parts(&mp, body, len);
	} else {
		check_error(rc, err);
		FUZZ_CHECK(mp.nparts == 0 && mp.parts == NULL);
	}
	multipart_free(&mp);
	FUZZ_CHECK(mp.nparts == 0 && mp.parts == NULL);
	free(ctype);

	err[0] = '\0';
	rc = multipart_clean_filename((const char *)data, size, &name, err, sizeof err);
	if (rc == DC_OK)
		check_clean_name(name);
	else
		check_error(rc, err);
	free(name);
	return 0;
}
