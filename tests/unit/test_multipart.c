/* test_multipart.c - the multipart/form-data parser and the upload file name rule:
 * well-formed bodies, boundaries quoted or not, part headers and their parameters,
 * bodies holding NULs and boundary-like text, every malformed shape with its exact
 * message, and file names that try to name a path. Every body is parsed from a heap
 * copy of exactly its size, so a read past the end is caught by AddressSanitizer. */
#include <stdlib.h>
#include "check.h"
#include "multipart.h"

#define CT "multipart/form-data; boundary=XyZ"
#define MAX_PARTS 100
#define GOT_MAX (DC_ERRMAX + 16)	/* room for "error: " and any message */

struct parsed {
	struct multipart mp;
	char *copy;
	char err[DC_ERRMAX];
	enum dc_err rc;
};

static void parse_n(struct parsed *p, const char *ct, const char *body, size_t len,
		    size_t max_parts)
{
	memset(p, 0, sizeof *p);
	p->copy = malloc(len ? len : 1);
	if (len)
		memcpy(p->copy, body, len);
	p->rc = multipart_parse(ct, p->copy, len, max_parts, &p->mp, p->err, sizeof p->err);
}

#define PARSE(p, ct, lit, max) parse_n((p), (ct), (lit), sizeof(lit) - 1, (max))

static void done(struct parsed *p)
{
	multipart_free(&p->mp);
	free(p->copy);
}

/* A part's name, file name (NULL: none), content type (NULL: none) and exact bytes. */
#define CHECK_PART(pt, nm, fn, ctype, lit) do { \
	const struct multipart_part *pt_ = (pt); \
	CHECK_STR(pt_->name, (nm)); \
	if ((fn) == NULL) CHECK(pt_->filename == NULL); else CHECK_STR(pt_->filename, (fn)); \
	if ((ctype) == NULL) CHECK(pt_->content_type == NULL); \
	else CHECK_STR(pt_->content_type, (ctype)); \
	CHECK_INT(pt_->len, sizeof(lit) - 1); \
	CHECK(pt_->len == sizeof(lit) - 1 && memcmp(pt_->data, (lit), pt_->len) == 0); \
} while (0)

/* The one-file body every browser sends. */
static void test_one_part(void)
{
	struct parsed p;

	PARSE(&p, CT,
	      "--XyZ\r\n"
	      "Content-Disposition: form-data; name=\"file\"; filename=\"notes.md\"\r\n"
	      "Content-Type: text/markdown\r\n"
	      "\r\n"
	      "# Notes\nline two\r\n"
	      "--XyZ--\r\n", MAX_PARTS);
	CHECK_INT(p.rc, DC_OK);
	CHECK_INT(p.mp.nparts, 1);
	if (p.mp.nparts == 1)
		CHECK_PART(&p.mp.parts[0], "file", "notes.md", "text/markdown", "# Notes\nline two");
	done(&p);
}

/* A text field and two files, one of them empty, with preamble, epilogue and white
 * space after a delimiter. */
static void test_three_parts(void)
{
	struct parsed p;

	PARSE(&p, CT,
	      "This preamble is ignored.\r\n"
	      "--XyZ\r\n"
	      "content-disposition: form-data; name=comment\r\n"
	      "\r\n"
	      "hello\r\n"
	      "--XyZ \t\r\n"
	      "Content-Disposition: form-data; name=\"a\"; filename=\"a.txt\"\r\n"
	      "X-Other: ignored\r\n"
	      "\r\n"
	      "alpha\r\n"
	      "--XyZ\r\n"
	      "Content-Disposition: FORM-DATA ; NAME=\"b\" ; FILENAME=\"b.txt\" ;\r\n"
	      "\r\n"
	      "\r\n"
	      "--XyZ--\r\n"
	      "and an epilogue, also ignored\r\n", MAX_PARTS);
	CHECK_INT(p.rc, DC_OK);
	CHECK_INT(p.mp.nparts, 3);
	if (p.mp.nparts == 3) {
		CHECK_PART(&p.mp.parts[0], "comment", NULL, NULL, "hello");
		CHECK_PART(&p.mp.parts[1], "a", "a.txt", NULL, "alpha");
		CHECK_PART(&p.mp.parts[2], "b", "b.txt", NULL, "");
	}
	done(&p);
}

/* The body may open with the delimiter (no preamble, no CRLF before it) and end right
 * after the closing delimiter without a CRLF; an empty filename is no file. */
static void test_lenient_ends(void)
{
	struct parsed p;

	PARSE(&p, CT,
	      "--XyZ\r\n"
	      "Content-Disposition: form-data; name=\"f\"; filename=\"\"\r\n"
	      "\r\n"
	      "x\r\n"
	      "--XyZ--", MAX_PARTS);
	CHECK_INT(p.rc, DC_OK);
	CHECK_INT(p.mp.nparts, 1);
	if (p.mp.nparts == 1)
		CHECK_PART(&p.mp.parts[0], "f", NULL, NULL, "x");
	done(&p);

	PARSE(&p, CT, "--XyZ--\r\n", MAX_PARTS);
	CHECK_INT(p.rc, DC_OK);
	CHECK_INT(p.mp.nparts, 0);
	done(&p);
}

static void test_quoted_boundary(void)
{
	struct parsed p;

	PARSE(&p, "Multipart/Form-Data; charset=utf-8; BOUNDARY=\"simple boundary:=?\"",
	      "--simple boundary:=?\r\n"
	      "Content-Disposition: form-data; name=\"f\"; filename=\"q.txt\"\r\n"
	      "\r\n"
	      "quoted\r\n"
	      "--simple boundary:=?--\r\n", MAX_PARTS);
	CHECK_INT(p.rc, DC_OK);
	CHECK_INT(p.mp.nparts, 1);
	if (p.mp.nparts == 1)
		CHECK_PART(&p.mp.parts[0], "f", "q.txt", NULL, "quoted");
	done(&p);
}

/* One part with the given Content-Disposition parameters; its cleaned file name or
 * the parse error. */
static void filename_of(const char *params, char *out, size_t outlen)
{
	char body[1024];
	struct parsed p;
	int n = snprintf(body, sizeof body,
			 "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; %s\r\n\r\n"
			 "data\r\n--XyZ--\r\n", params);

	parse_n(&p, CT, body, (size_t)n, MAX_PARTS);
	if (p.rc != DC_OK)
		snprintf(out, outlen, "error: %s", p.err);
	else if (p.mp.nparts != 1)
		snprintf(out, outlen, "%zu parts", p.mp.nparts);
	else
		snprintf(out, outlen, "%s", p.mp.parts[0].filename ? p.mp.parts[0].filename
								     : "(none)");
	done(&p);
}

static void test_filename_paths(void)
{
	char got[GOT_MAX];

	filename_of("filename=\"C:\\x\\y.txt\"", got, sizeof got);
	CHECK_STR(got, "y.txt");
	filename_of("filename=\"C:\\\\x\\\\y.txt\"", got, sizeof got);
	CHECK_STR(got, "y.txt");
	filename_of("filename=\"../../etc/passwd\"", got, sizeof got);
	CHECK_STR(got, "passwd");
	filename_of("filename=\"..\\..\\boot.ini\"", got, sizeof got);
	CHECK_STR(got, "boot.ini");
	filename_of("filename=\"/abs/dir/..notes..txt\"", got, sizeof got);
	CHECK_STR(got, "..notes..txt");
	filename_of("filename=\"..\"", got, sizeof got);
	CHECK_STR(got, "error: part 1: the file name \"..\" is only dots");
	filename_of("filename=\"a/b/.\"", got, sizeof got);
	CHECK_STR(got, "error: part 1: the file name \".\" is only dots");
	filename_of("filename=\"docs/\"", got, sizeof got);
	CHECK_STR(got, "error: part 1: the file name is empty without its directory part");
	filename_of("filename=\"say \\\"hi\\\" now.txt\"", got, sizeof got);
	CHECK_STR(got, "say \"hi\" now.txt");
	filename_of("filename=plain.md", got, sizeof got);
	CHECK_STR(got, "plain.md");
	filename_of("filename=\"unterminated.txt", got, sizeof got);
	CHECK_STR(got, "error: part 1: malformed Content-Disposition");
	filename_of("filename=\"a.txt\"; filename=\"b.txt\"", got, sizeof got);
	CHECK_STR(got, "error: part 1: Content-Disposition has two filename parameters");
	filename_of("filename=\"caf\xc3\xa9.txt\"", got, sizeof got);
	CHECK_STR(got, "caf\xc3\xa9.txt");
	filename_of("filename=\"caf\xe9.txt\"", got, sizeof got);
	CHECK_STR(got, "error: part 1: the file name is not valid UTF-8");
}

static void test_filename_ext(void)
{
	char got[GOT_MAX];

	filename_of("filename=\"fallback.txt\"; filename*=UTF-8''na%C3%AFve%20caf%c3%a9.md",
		    got, sizeof got);
	CHECK_STR(got, "na\xc3\xafve caf\xc3\xa9.md");
	filename_of("filename*=utf-8'en'..%2F..%2Fetc%2Fshadow", got, sizeof got);
	CHECK_STR(got, "shadow");
	filename_of("filename*=ISO-8859-1''caf%E9.txt", got, sizeof got);
	CHECK_STR(got, "caf\xc3\xa9.txt");
	filename_of("filename*=UTF-8''a%0Ab%00c%7F.txt", got, sizeof got);
	CHECK_STR(got, "a_b_c_.txt");
	filename_of("filename*=UTF-8''evil%E2%80%AEtxt.exe", got, sizeof got);
	CHECK_STR(got, "evil_txt.exe");
	filename_of("filename*=UTF-8''bad%2", got, sizeof got);
	CHECK_STR(got, "error: part 1: filename* has a malformed %-escape");
	filename_of("filename*=UTF-8''bad%zz.txt", got, sizeof got);
	CHECK_STR(got, "error: part 1: filename* has a malformed %-escape");
	filename_of("filename*=KOI8-R''x.txt", got, sizeof got);
	CHECK_STR(got, "error: part 1: the charset of filename* must be UTF-8 or ISO-8859-1");
	filename_of("filename*=x.txt", got, sizeof got);
	CHECK_STR(got, "error: part 1: filename* is not charset'language'value");
	filename_of("filename*=UTF-8''%FF.txt", got, sizeof got);
	CHECK_STR(got, "error: part 1: the file name is not valid UTF-8");
}

/* "--XyZ" inside a part is data unless it starts a line and ends one (or is "--"). */
static void test_boundary_like_text(void)
{
	struct parsed p;

	PARSE(&p, CT,
	      "--XyZ\r\n"
	      "Content-Disposition: form-data; name=\"f\"; filename=\"t.txt\"\r\n"
	      "\r\n"
	      "a --XyZ b\r\n--XyZx\r\n--XyZ-\r\n-XyZ\r\n--XyZ \tz\r\n--xyz"
	      "\r\n--XyZ--\r\n", MAX_PARTS);
	CHECK_INT(p.rc, DC_OK);
	CHECK_INT(p.mp.nparts, 1);
	if (p.mp.nparts == 1)
		CHECK_PART(&p.mp.parts[0], "f", "t.txt", NULL,
			   "a --XyZ b\r\n--XyZx\r\n--XyZ-\r\n-XyZ\r\n--XyZ \tz\r\n--xyz");
	done(&p);
}

static void test_binary_body(void)
{
	struct parsed p;

	PARSE(&p, CT,
	      "--XyZ\r\n"
	      "Content-Disposition: form-data; name=\"bin\"; filename=\"b.bin\"\r\n"
	      "Content-Type: application/octet-stream\r\n"
	      "\r\n"
	      "\0\x01\xff\r\n\r\r\n\n\0--\0XyZ\0"
	      "\r\n--XyZ\r\n"
	      "Content-Disposition: form-data; name=\"z\"\r\n"
	      "\r\n"
	      "\0"
	      "\r\n--XyZ--\r\n", MAX_PARTS);
	CHECK_INT(p.rc, DC_OK);
	CHECK_INT(p.mp.nparts, 2);
	if (p.mp.nparts == 2) {
		CHECK_PART(&p.mp.parts[0], "bin", "b.bin", "application/octet-stream",
			   "\0\x01\xff\r\n\r\r\n\n\0--\0XyZ\0");
		CHECK_PART(&p.mp.parts[1], "z", NULL, NULL, "\0");
	}
	done(&p);
}

static void test_missing_closing_delimiter(void)
{
	struct parsed p;

	PARSE(&p, CT,
	      "--XyZ\r\n"
	      "Content-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n"
	      "\r\n"
	      "never closed\r\n", MAX_PARTS);
	CHECK_INT(p.rc, DC_BADREQ);
	CHECK_STR(p.err, "the multipart body ends without the closing delimiter --XyZ--");
	CHECK_INT(p.mp.nparts, 0);
	CHECK(p.mp.parts == NULL);
	done(&p);

	/* a delimiter cut off before its CRLF is no delimiter either */
	PARSE(&p, CT,
	      "--XyZ\r\n"
	      "Content-Disposition: form-data; name=\"f\"\r\n"
	      "\r\n"
	      "x\r\n--XyZ", MAX_PARTS);
	CHECK_INT(p.rc, DC_BADREQ);
	CHECK_STR(p.err, "the multipart body ends without the closing delimiter --XyZ--");
	done(&p);
}

static void test_truncated_headers(void)
{
	struct parsed p;

	PARSE(&p, CT, "--XyZ\r\nContent-Disposition: form-data; name=\"f\"", MAX_PARTS);
	CHECK_INT(p.rc, DC_BADREQ);
	CHECK_STR(p.err, "part 1: the body ends inside the part's headers");
	done(&p);

	PARSE(&p, CT, "--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n", MAX_PARTS);
	CHECK_INT(p.rc, DC_BADREQ);
	CHECK_STR(p.err, "part 1: the body ends inside the part's headers");
	done(&p);

	PARSE(&p, CT, "--XyZ\r\n", MAX_PARTS);
	CHECK_INT(p.rc, DC_BADREQ);
	CHECK_STR(p.err, "part 1: the body ends inside the part's headers");
	done(&p);
}

/* Malformed part headers, each with its message. */
static void test_bad_headers(void)
{
	static const struct {
		const char *headers;
		const char *err;
	} cases[] = {
		{ "\r\n", "part 1 has no Content-Disposition header" },
		{ "Content-Type: text/plain\r\n\r\n", "part 1 has no Content-Disposition header" },
		{ "Content-Disposition: attachment; filename=\"a.txt\"\r\n\r\n",
		  "part 1: Content-Disposition is not form-data" },
		{ "Content-Disposition: form-data; name=\"a\"\r\nContent-Disposition: form-data\r\n\r\n",
		  "part 1: two Content-Disposition headers" },
		{ "Content-Disposition: form-data;\r\n name=\"a\"\r\n\r\n",
		  "part 1: folded header lines are not supported" },
		{ "Content-Disposition: form-data\nX: y\r\n\r\n",
		  "part 1: a header line does not end in CRLF" },
		{ "Content-Disposition: form-data\rX: y\r\n\r\n",
		  "part 1: control character in the part's headers" },
		{ "Content-Disposition form-data\r\n\r\n", "part 1: malformed header line" },
		{ "Bad Name: x\r\nContent-Disposition: form-data\r\n\r\n",
		  "part 1: malformed header line" },
		{ "Content-Disposition: form-data; name\r\n\r\n",
		  "part 1: malformed Content-Disposition" },
		{ "Content-Disposition: form-data name=a\r\n\r\n",
		  "part 1: malformed Content-Disposition" },
		{ "Content-Disposition: form-data; filename=\"a.txt\"\r\n"
		  "Content-Transfer-Encoding: base64\r\n\r\n",
		  "part 1: Content-Transfer-Encoding other than binary, 8bit or 7bit is not supported" },
	};
	char body[1024];
	struct parsed p;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int n = snprintf(body, sizeof body, "--XyZ\r\n%sdata\r\n--XyZ--\r\n",
				 cases[i].headers);

		parse_n(&p, CT, body, (size_t)n, MAX_PARTS);
		CHECK_INT(p.rc, DC_BADREQ);
		CHECK_STR(p.err, cases[i].err);
		done(&p);
	}

	PARSE(&p, CT, "--XyZ\r\nContent-Disposition: form-data; name=\"a\0b\"\r\n\r\n"
	      "v\r\n--XyZ--", MAX_PARTS);
	CHECK_INT(p.rc, DC_BADREQ);
	CHECK_STR(p.err, "part 1: control character in the part's headers");
	done(&p);

	/* the identity encodings are fine, and so is a NUL-free header line with a tab */
	PARSE(&p, CT, "--XyZ\r\nContent-Disposition:\tform-data; name=\"a\"\t\r\n"
	      "Content-Transfer-Encoding: 8BIT\r\n\r\nv\r\n--XyZ--", MAX_PARTS);
	CHECK_INT(p.rc, DC_OK);
	CHECK_INT(p.mp.nparts, 1);
	if (p.mp.nparts == 1)
		CHECK_PART(&p.mp.parts[0], "a", NULL, NULL, "v");
	done(&p);
}

static void test_header_limit(void)
{
	size_t pad = MULTIPART_MAX_HEADER;
	static const char head[] = "--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\nX-Pad: ";
	static const char tail[] = "\r\n\r\nv\r\n--XyZ--\r\n";
	size_t len = sizeof head - 1 + pad + sizeof tail - 1;
	char *body = malloc(len);
	struct parsed p;

	memcpy(body, head, sizeof head - 1);
	memset(body + sizeof head - 1, 'p', pad);
	memcpy(body + sizeof head - 1 + pad, tail, sizeof tail - 1);
	parse_n(&p, CT, body, len, MAX_PARTS);
	CHECK_INT(p.rc, DC_BADREQ);
	CHECK_STR(p.err, "part 1: headers longer than 8192 bytes");
	done(&p);

	/* a header block of exactly the limit (blank line included) is accepted */
	pad = MULTIPART_MAX_HEADER - (sizeof head - 1 - 7) - 4;
	len = sizeof head - 1 + pad + sizeof tail - 1;
	memcpy(body + sizeof head - 1 + pad, tail, sizeof tail - 1);
	parse_n(&p, CT, body, len, MAX_PARTS);
	CHECK_INT(p.rc, DC_OK);
	CHECK_INT(p.mp.nparts, 1);
	done(&p);
	free(body);
}

static void test_no_boundary(void)
{
	struct parsed p;
	static const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n"
				   "v\r\n--XyZ--\r\n";

	PARSE(&p, "multipart/form-data", body, MAX_PARTS);
	CHECK_INT(p.rc, DC_BADREQ);
	CHECK_STR(p.err, "Content-Type multipart/form-data has no boundary parameter");
	done(&p);

	PARSE(&p, "multipart/form-data; charset=utf-8", body, MAX_PARTS);
	CHECK_STR(p.err, "Content-Type multipart/form-data has no boundary parameter");
	done(&p);

	PARSE(&p, "multipart/form-data; boundary=", body, MAX_PARTS);
	CHECK_STR(p.err, "the multipart boundary must be 1 to 70 printable ASCII characters");
	done(&p);

	PARSE(&p, "multipart/form-data; boundary=\"XyZ", body, MAX_PARTS);
	CHECK_STR(p.err, "Content-Type has malformed parameters");
	done(&p);

	PARSE(&p, "multipart/form-data; boundary=a; boundary=b", body, MAX_PARTS);
	CHECK_STR(p.err, "Content-Type has two boundary parameters");
	done(&p);

	PARSE(&p, "text/plain; boundary=XyZ", body, MAX_PARTS);
	CHECK_STR(p.err, "Content-Type is not multipart/form-data");
	done(&p);

	PARSE(&p, NULL, body, MAX_PARTS);
	CHECK_STR(p.err, "Content-Type is not multipart/form-data");
	CHECK_INT(p.rc, DC_BADREQ);
	done(&p);

	/* the body's delimiters do not use the announced boundary */
	PARSE(&p, "multipart/form-data; boundary=Other", body, MAX_PARTS);
	CHECK_INT(p.rc, DC_BADREQ);
	CHECK_STR(p.err, "the multipart body has no delimiter line --Other");
	done(&p);
}

static void test_too_many_parts(void)
{
	struct parsed p;
	static const char body[] =
		"--XyZ\r\nContent-Disposition: form-data; name=\"1\"\r\n\r\none\r\n"
		"--XyZ\r\nContent-Disposition: form-data; name=\"2\"\r\n\r\ntwo\r\n"
		"--XyZ\r\nContent-Disposition: form-data; name=\"3\"\r\n\r\nthree\r\n"
		"--XyZ--\r\n";

	PARSE(&p, CT, body, 2);
	CHECK_INT(p.rc, DC_BADREQ);
	CHECK_STR(p.err, "more than 2 parts in the multipart body");
	CHECK_INT(p.mp.nparts, 0);
	done(&p);

	PARSE(&p, CT, body, 3);
	CHECK_INT(p.rc, DC_OK);
	CHECK_INT(p.mp.nparts, 3);
	if (p.mp.nparts == 3) {
		CHECK_PART(&p.mp.parts[0], "1", NULL, NULL, "one");
		CHECK_PART(&p.mp.parts[1], "2", NULL, NULL, "two");
		CHECK_PART(&p.mp.parts[2], "3", NULL, NULL, "three");
	}
	done(&p);
}

static void test_empty_body(void)
{
	struct parsed p;

	parse_n(&p, CT, "", 0, MAX_PARTS);
	CHECK_INT(p.rc, DC_BADREQ);
	CHECK_STR(p.err, "the multipart body is empty");
	CHECK_INT(p.mp.nparts, 0);
	done(&p);

	PARSE(&p, CT, "just some text, no delimiter\r\n", MAX_PARTS);
	CHECK_INT(p.rc, DC_BADREQ);
	CHECK_STR(p.err, "the multipart body has no delimiter line --XyZ");
	done(&p);
}

/* Every prefix of a valid body fails cleanly, until the closing "--" is there. */
static void test_every_prefix(void)
{
	static const char body[] =
		"pre\r\n--XyZ\r\n"
		"Content-Disposition: form-data; name=\"a\"; filename*=UTF-8''%C3%A9.txt\r\n"
		"\r\n"
		"\xc3\xa9t\xc3\xa9\r\n"
		"--XyZ\r\n"
		"Content-Disposition: form-data; name=\"b\"; filename=\"b.md\"\r\n"
		"Content-Type: text/markdown\r\n"
		"\r\n"
		"# b\r\n"
		"--XyZ--\r\n";
	size_t full = sizeof body - 1, closed = full - 2;
	struct parsed p;

	for (size_t n = 0; n <= full; n++) {
		parse_n(&p, CT, body, n, MAX_PARTS);
		if (n < closed) {
			CHECK_INT(p.rc, DC_BADREQ);
			CHECK_INT(p.mp.nparts, 0);
		} else {
			CHECK_INT(p.rc, DC_OK);
			CHECK_INT(p.mp.nparts, 2);
			if (p.mp.nparts == 2) {
				CHECK_PART(&p.mp.parts[0], "a", "\xc3\xa9.txt", NULL,
					   "\xc3\xa9t\xc3\xa9");
				CHECK_PART(&p.mp.parts[1], "b", "b.md", "text/markdown", "# b");
			}
		}
		done(&p);
	}
}

static void test_is_form_data(void)
{
	CHECK(multipart_is_form_data("multipart/form-data; boundary=x"));
	CHECK(multipart_is_form_data("  Multipart/Form-Data"));
	CHECK(multipart_is_form_data("multipart/form-data ;boundary=x"));
	CHECK(!multipart_is_form_data("multipart/form-datax"));
	CHECK(!multipart_is_form_data("multipart/mixed; boundary=x"));
	CHECK(!multipart_is_form_data("text/plain"));
	CHECK(!multipart_is_form_data(""));
	CHECK(!multipart_is_form_data(NULL));
}

static void clean(const char *raw, size_t n, char *out, size_t outlen)
{
	char err[DC_ERRMAX];
	char *name = NULL;

	if (multipart_clean_filename(raw, n, &name, err, sizeof err) == DC_OK)
		snprintf(out, outlen, "%s", name);
	else
		snprintf(out, outlen, "error: %s", err);
	free(name);
}

#define CLEAN(lit, out) clean((lit), sizeof(lit) - 1, (out), sizeof(out))

static void test_clean_filename(void)
{
	char got[GOT_MAX], longname[MULTIPART_FILENAME_MAX + 2];

	CLEAN("report.txt", got);
	CHECK_STR(got, "report.txt");
	CLEAN("a/b\\c/../d.md", got);
	CHECK_STR(got, "d.md");
	CLEAN("tab\there\x1b[31m.txt", got);
	CHECK_STR(got, "tab_here_[31m.txt");
	CLEAN("nul\0byte.txt", got);
	CHECK_STR(got, "nul_byte.txt");
	CLEAN("c1\xc2\x85.txt", got);
	CHECK_STR(got, "c1_.txt");
	CLEAN("rtl\xe2\x80\xaetxt.exe\xe2\x81\xa9", got);
	CHECK_STR(got, "rtl_txt.exe_");
	CLEAN("\xe6\x97\xa5\xe6\x9c\xac.md", got);
	CHECK_STR(got, "\xe6\x97\xa5\xe6\x9c\xac.md");
	CLEAN(".hidden", got);
	CHECK_STR(got, ".hidden");
	CLEAN("...", got);
	CHECK_STR(got, "error: the file name \"...\" is only dots");
	CLEAN("", got);
	CHECK_STR(got, "error: the file name is empty");
	CLEAN("dir\\", got);
	CHECK_STR(got, "error: the file name is empty without its directory part");
	CLEAN("bad\xc3(.txt", got);
	CHECK_STR(got, "error: the file name is not valid UTF-8");
	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	clean(longname, MULTIPART_FILENAME_MAX + 1, got, sizeof got);
	CHECK_STR(got, "error: the file name is longer than 255 bytes");
	clean(longname, MULTIPART_FILENAME_MAX, got, sizeof got);
	CHECK_INT(strlen(got), MULTIPART_FILENAME_MAX);
	/* only the name counts against the limit, not the directories stripped off */
	{
		char path[MULTIPART_FILENAME_MAX + 16];

		memset(path, 'd', MULTIPART_FILENAME_MAX);
		memcpy(path + MULTIPART_FILENAME_MAX, "/ok.txt", 7);
		clean(path, MULTIPART_FILENAME_MAX + 7, got, sizeof got);
		CHECK_STR(got, "ok.txt");
	}
}

/* Issue #5 (found by tests/fuzz/fuzz_multipart): a Content-Type parameter longer than
 * MULTIPART_MAX_HEADER is a malformed header, DC_BADREQ (400), not DC_TOOBIG, which the
 * upload handler answered as 413 "payload too large" for a small body. */
static void test_issue5_long_content_type_parameter(void)
{
	struct parsed p;
	static const char body[] = "--X\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n"
				   "v\r\n--X--\r\n";
	char ct[MULTIPART_MAX_HEADER + 64];
	size_t n;

	n = (size_t)snprintf(ct, sizeof ct, "multipart/form-data; boundary=X; charset=");
	memset(ct + n, 'u', MULTIPART_MAX_HEADER + 1);
	ct[n + MULTIPART_MAX_HEADER + 1] = '\0';
	PARSE(&p, ct, body, MAX_PARTS);
	CHECK_INT(p.rc, DC_BADREQ);
	CHECK_STR(p.err, "Content-Type has a parameter longer than 8192 bytes");
	CHECK_INT(p.mp.nparts, 0);
	done(&p);

	ct[n + MULTIPART_MAX_HEADER] = '\0';	/* at the limit: fine */
	PARSE(&p, ct, body, MAX_PARTS);
	CHECK_INT(p.rc, DC_OK);
	CHECK_INT(p.mp.nparts, 1);
	done(&p);
}

int main(void)
{
	RUN(test_one_part);
	RUN(test_three_parts);
	RUN(test_lenient_ends);
	RUN(test_quoted_boundary);
	RUN(test_filename_paths);
	RUN(test_filename_ext);
	RUN(test_boundary_like_text);
	RUN(test_binary_body);
	RUN(test_missing_closing_delimiter);
	RUN(test_truncated_headers);
	RUN(test_bad_headers);
	RUN(test_header_limit);
	RUN(test_no_boundary);
	RUN(test_too_many_parts);
	RUN(test_empty_body);
	RUN(test_every_prefix);
	RUN(test_is_form_data);
	RUN(test_clean_filename);
	RUN(test_issue5_long_content_type_parameter);
	return check_summary();
}
