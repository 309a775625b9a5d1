/* extract.c - choosing an extractor by file extension, and the plain text and Markdown
 * extractor (see extract.h).
 *
 * Text formats are the bytes themselves once they pass the checks: valid UTF-8 (with
 * utf8.c) and no NUL byte, else the first bad byte's offset in the file is named, so a
 * file in another encoding is refused, never stored as mojibake. A UTF-8 byte order
 * mark is dropped and CRLF or lone CR line ends become "\n"; offsets in the result
 * refer to that normalised text. Markdown headings are left in the text for chunk.c.
 * HTML gets the same encoding check before extract_html.c sees it; PDF bytes are
 * binary and go to extract_pdf.c as they are. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "extract.h"
#include "utf8.h"

#define UTF8_BOM "\xef\xbb\xbf"
#define UTF8_BOM_LEN 3

struct format_ext {
	const char *ext;
	enum extract_format fmt;
};

static const struct format_ext format_exts[] = {
	{ ".txt", EXTRACT_TEXT },
	{ ".text", EXTRACT_TEXT },
	{ ".md", EXTRACT_MARKDOWN },
	{ ".markdown", EXTRACT_MARKDOWN },
	{ ".html", EXTRACT_HTML },
	{ ".htm", EXTRACT_HTML },
	{ ".pdf", EXTRACT_PDF },
};

#define NFORMAT_EXTS (sizeof(format_exts) / sizeof(format_exts[0]))

void extract_doc_free(struct extract_doc *doc)
{
	if (!doc)
		return;
	free(doc->text);
	free(doc->headings);
	free(doc->pages);
	memset(doc, 0, sizeof(*doc));
}

enum extract_format extract_format_of(const char *name)
{
	size_t n = name ? strlen(name) : 0, e, i;

	for (i = 0; i < NFORMAT_EXTS; i++) {
		e = strlen(format_exts[i].ext);
		if (n > e && strcasecmp(name + n - e, format_exts[i].ext) == 0)
			return format_exts[i].fmt;
	}
	return EXTRACT_NONE;
}

const char *extract_supported(void)
{
	return ".txt, .text, .md, .markdown, .html, .htm, .pdf";
}

/* ---- encoding checks ---- */

static int utf16_bom(const char *p, size_t n)
{
	return n >= 2 && (memcmp(p, "\xff\xfe", 2) == 0 || memcmp(p, "\xfe\xff", 2) == 0);
}

/* DC_OK for valid UTF-8 (and, unless nul_ok, no NUL byte), else DC_BADREQ naming the
 * offset of the first bad byte: whichever problem comes first in the file. */
static enum dc_err check_utf8(const char *p, size_t n, int nul_ok, char *err, size_t errlen)
{
	const char *nul = n && !nul_ok ? memchr(p, '\0', n) : NULL;
	size_t valid = utf8_valid_prefix(p, n);

	if (utf16_bom(p, n))
		return dc_fail(err, errlen, DC_BADREQ, "not valid UTF-8 at byte 0 (UTF-16 "
			       "byte order mark: save the file as UTF-8)");
	if (nul && (size_t)(nul - p) < valid)
		return dc_fail(err, errlen, DC_BADREQ, "contains a NUL byte at byte %zu "
			       "(binary file?)", (size_t)(nul - p));
	if (valid < n)
		return dc_fail(err, errlen, DC_BADREQ, "not valid UTF-8 at byte %zu", valid);
	return DC_OK;
}

static size_t bom_len(const char *p, size_t n)
{
	return n >= UTF8_BOM_LEN && memcmp(p, UTF8_BOM, UTF8_BOM_LEN) == 0 ? UTF8_BOM_LEN : 0;
}

/* ---- plain text and Markdown ---- */

/* doc->text = p without a byte order mark, CRLF and lone CR as "\n". */
static enum dc_err normalize(const char *p, size_t n, struct extract_doc *doc)
{
	char *q;
	size_t i = bom_len(p, n), o = 0;

	q = malloc(n - i + 1);
	if (!q)
		return DC_NOMEM;
	for (; i < n; i++) {
		if (p[i] == '\r') {
			q[o++] = '\n';
			if (i + 1 < n && p[i + 1] == '\n')
				i++;
		} else {
			q[o++] = p[i];
		}
	}
	q[o] = '\0';
	doc->text = q;
	doc->len = o;
	return DC_OK;
}

static enum dc_err extract_text(const char *data, size_t len, int markdown,
				struct extract_doc *out, enum ingest_problem *why,
				char *err, size_t errlen)
{
	enum dc_err rc;

	rc = check_utf8(data, len, 0, err, errlen);
	if (rc != DC_OK) {
		*why = INGEST_NOT_UTF8;
		return rc;
	}
	if (normalize(data, len, out) != DC_OK)
		return dc_fail(err, errlen, DC_NOMEM, "out of memory");
	out->markdown = markdown;
	return DC_OK;
}

/* ---- dispatch ---- */

enum dc_err extract_bytes(enum extract_format fmt, const char *data, size_t len,
			  const char *file, struct extract_doc *out, enum ingest_problem *why,
			  char *err, size_t errlen)
{
	size_t skip;
	enum dc_err rc;

	memset(out, 0, sizeof(*out));
	*why = INGEST_FINE;
	if (!data && len)
		return dc_fail(err, errlen, DC_BADREQ, "no data given");
	if (!data)
		data = "";
	switch (fmt) {
	case EXTRACT_TEXT:
	case EXTRACT_MARKDOWN:
		rc = extract_text(data, len, fmt == EXTRACT_MARKDOWN, out, why, err, errlen);
		break;
	case EXTRACT_HTML:
		rc = check_utf8(data, len, 1, err, errlen);
		if (rc != DC_OK) {
			*why = INGEST_NOT_UTF8;
			break;
		}
		skip = bom_len(data, len);
		rc = extract_html(data + skip, len - skip, out, err, errlen);
		break;
	case EXTRACT_PDF:
		rc = extract_pdf(data, len, file, out, why, err, errlen);
		break;
	default:
		*why = INGEST_UNSUPPORTED;
		rc = dc_fail(err, errlen, DC_BADREQ, "unsupported file type (docchat reads %s)",
			     extract_supported());
		break;
	}
	if (rc != DC_OK)
		extract_doc_free(out);
	return rc;
}
