/* test_extract.c - extract.c, extract_html.c and extract_pdf.c: formats by extension;
 * plain text checked for UTF-8 (Latin-1 and UTF-16 refused with the offset) and
 * normalised; HTML text with entities decoded, script/style/head dropped, blocks,
 * whitespace and headings, and hostile markup (unclosed tags, a script never closed,
 * quoted '>', odd comments, CDATA, deep nesting, huge references, NUL bytes, 10 MB on
 * one line); PDF through pdftotext from a PDF written here by hand (two pages, page
 * starts kept), a truncated PDF, a PDF without text, a missing pdftotext, a hung one
 * and one whose output is not clean UTF-8. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "check.h"
#include "testpdf.h"
#include "extract.h"

static char tmpdir[64];

/* ---- helpers ---- */

/* Extract and return the text (caller frees doc); rc and why checked by the caller. */
static enum dc_err run_extract(enum extract_format fmt, const char *data, size_t len,
			       struct extract_doc *doc, enum ingest_problem *why, char *err,
			       size_t errlen)
{
	err[0] = '\0';
	return extract_bytes(fmt, data, len, NULL, doc, why, err, errlen);
}

/* The text of html[0..len) must be exactly want, with no headings. */
static void html_n_is(const char *html, size_t len, const char *want)
{
	struct extract_doc doc;
	enum ingest_problem why = INGEST_BROKEN;
	char err[DC_ERRMAX];

	CHECK_INT(run_extract(EXTRACT_HTML, html, len, &doc, &why, err, sizeof(err)), DC_OK);
	CHECK_INT(why, INGEST_FINE);
	CHECK_STR(doc.text, want);
	CHECK_INT(doc.len, strlen(want));
	CHECK_INT(doc.nheadings, 0);
	CHECK_INT(doc.npages, 0);
	extract_doc_free(&doc);
}

static void html_is(const char *html, const char *want)
{
	html_n_is(html, strlen(html), want);
}

/* Heading i of doc is the text want at level. */
static void heading_is(const struct extract_doc *doc, size_t i, const char *want, int level)
{
	CHECK(i < doc->nheadings);
	if (i >= doc->nheadings)
		return;
	CHECK_INT(doc->headings[i].level, level);
	CHECK_INT(doc->headings[i].len, strlen(want));
	CHECK(doc->headings[i].off + strlen(want) <= doc->len &&
	      memcmp(doc->text + doc->headings[i].off, want, strlen(want)) == 0);
}

static int write_file(const char *path, const char *data, size_t len, int mode)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return 0;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok && chmod(path, (mode_t)mode) == 0;
}

/* ---- formats and plain text ---- */

static void test_format_by_extension(void)
{
	CHECK_INT(extract_format_of("notes.txt"), EXTRACT_TEXT);
	CHECK_INT(extract_format_of("notes.TEXT"), EXTRACT_TEXT);
	CHECK_INT(extract_format_of("a.md"), EXTRACT_MARKDOWN);
	CHECK_INT(extract_format_of("a.Markdown"), EXTRACT_MARKDOWN);
	CHECK_INT(extract_format_of("page.HTM"), EXTRACT_HTML);
	CHECK_INT(extract_format_of("page.html"), EXTRACT_HTML);
	CHECK_INT(extract_format_of("manual.pdf"), EXTRACT_PDF);
	CHECK_INT(extract_format_of("image.png"), EXTRACT_NONE);
	CHECK_INT(extract_format_of(".md"), EXTRACT_NONE);
	CHECK_INT(extract_format_of("pdf"), EXTRACT_NONE);
	CHECK_STR(extract_supported(), ".txt, .text, .md, .markdown, .html, .htm, .pdf");
}

static void test_text_normalised(void)
{
	static const char in[] = "\xef\xbb\xbf# T\r\nline\rend\r\n";
	struct extract_doc doc;
	enum ingest_problem why;
	char err[DC_ERRMAX];

	CHECK_INT(run_extract(EXTRACT_MARKDOWN, in, strlen(in), &doc, &why, err, sizeof(err)),
		  DC_OK);
	CHECK_STR(doc.text, "# T\nline\nend\n");
	CHECK_INT(doc.markdown, 1);
	CHECK_INT(doc.nheadings, 0);	/* Markdown headings are chunk.c's to find */
	extract_doc_free(&doc);
	CHECK_INT(run_extract(EXTRACT_TEXT, "x", 1, &doc, &why, err, sizeof(err)), DC_OK);
	CHECK_INT(doc.markdown, 0);
	extract_doc_free(&doc);
	CHECK_INT(run_extract(EXTRACT_NONE, "x", 1, &doc, &why, err, sizeof(err)), DC_BADREQ);
	CHECK_INT(why, INGEST_UNSUPPORTED);
	CHECK(doc.text == NULL);
}

/* The text in each encoding must be refused with exactly this message. */
static void refused(enum extract_format fmt, const char *data, size_t len, const char *want)
{
	struct extract_doc doc;
	enum ingest_problem why = INGEST_FINE;
	char err[DC_ERRMAX];

	CHECK_INT(run_extract(fmt, data, len, &doc, &why, err, sizeof(err)), DC_BADREQ);
	CHECK_INT(why, INGEST_NOT_UTF8);
	CHECK_STR(err, want);
	CHECK(doc.text == NULL);
}

static void test_other_encodings_refused_with_offset(void)
{
	refused(EXTRACT_TEXT, "Caf\xe9 cr\xe8me", 10, "not valid UTF-8 at byte 3");	/* Latin-1 */
	refused(EXTRACT_MARKDOWN, "# ok\n\xa3 5", 7, "not valid UTF-8 at byte 5");
	refused(EXTRACT_TEXT, "\xff\xfeh\0i\0", 6, "not valid UTF-8 at byte 0 (UTF-16 byte "
		"order mark: save the file as UTF-8)");					/* UTF-16LE */
	refused(EXTRACT_TEXT, "\xfe\xff\0h\0i", 6, "not valid UTF-8 at byte 0 (UTF-16 byte "
		"order mark: save the file as UTF-8)");					/* UTF-16BE */
	refused(EXTRACT_TEXT, "h\0i\0", 4, "contains a NUL byte at byte 1 (binary file?)");
	refused(EXTRACT_HTML, "<p>caf\xe9</p>", 11, "not valid UTF-8 at byte 6");
	refused(EXTRACT_HTML, "\xff\xfe<\0p\0>\0", 8, "not valid UTF-8 at byte 0 (UTF-16 byte "
		"order mark: save the file as UTF-8)");
}

/* ---- HTML ---- */

static void test_html_entities(void)
{
	html_is("<p>Fish &amp; chips &lt;3 &gt; &quot;q&quot; &apos;s &copy; &reg; 2024 "
		"&mdash; caf&eacute; &Eacute;t&eacute; &hellip; &laquo;x&raquo; &ndash;</p>",
		"Fish & chips <3 > \"q\" 's \xc2\xa9 \xc2\xae 2024 \xe2\x80\x94 caf\xc3\xa9 "
		"\xc3\x89t\xc3\xa9 \xe2\x80\xa6 \xc2\xabx\xc2\xbb \xe2\x80\x93");
	html_is("&#65;&#x42;&#X43;&#100 &#x1F600;", "ABCd \xf0\x9f\x98\x80");
	/* NUL, surrogates, past U+10FFFF and C0 controls become U+FFFD; 128..159 are
	 * Windows-1252 */
	html_is("[&#0;][&#xD800;][&#x110000;][&#99999999999;][&#1;][&#150;][&#x80;][&#129;]",
		"[\xef\xbf\xbd][\xef\xbf\xbd][\xef\xbf\xbd][\xef\xbf\xbd][\xef\xbf\xbd]"
		"[\xe2\x80\x93][\xe2\x82\xac][\xef\xbf\xbd]");
	/* not references: left as they are */
	html_is("&bogus; &amp &#; &#x; AT&T & more &AMP; &#xG;",
		"&bogus; &amp &#; &#x; AT&T & more &AMP; &#xG;");
	/* &nbsp; is a collapsible space, &shy; goes, numeric whitespace is whitespace */
	html_is("a&nbsp;&nbsp;b Bundes&shy;tag c&#32;&#10;d &#160;e", "a b Bundestag c d e");
}

static void test_html_script_style_head_dropped(void)
{
	static const char page[] =
		"<!DOCTYPE html>\n<html><head>\n<meta charset=\"utf-8\">\n"
		"<title>My &amp; Page</title>\n<link rel=stylesheet href=x.css>\n"
		"<style>p { color: red }</style>\n"
		"<script>var s = '<p>not text</p>';</script>\nstray head text\n</head>\n"
		"<body><noscript>Enable JavaScript</noscript><template><p>tpl</p></template>"
		"<p>Visible <!-- hidden --> text</p><SCRIPT type=\"x\">if (a < b) {}</SCRIPT>"
		"<Style>.x{}</sTyle ><p>after</p></body></html>\n";
	struct extract_doc doc;
	enum ingest_problem why;
	char err[DC_ERRMAX];

	CHECK_INT(run_extract(EXTRACT_HTML, page, strlen(page), &doc, &why, err, sizeof(err)),
		  DC_OK);
	CHECK_STR(doc.text, "My & Page\n\nVisible text\n\nafter");
	CHECK_INT(doc.nheadings, 1);
	heading_is(&doc, 0, "My & Page", 1);	/* the title heads the page */
	extract_doc_free(&doc);
	/* a head that is never closed ends at the first element of the body */
	html_is("<head><meta x=1>junk<div>body text</div>", "body text");
}

static void test_html_blocks_and_whitespace(void)
{
	html_is("<div>one\n   two</div><div>three<br>four<br/>five</div>"
		"<ul><li>a</li><li>b</li></ul><table><tr><td>c1</td><td>c2</td></tr></table>"
		"<span>in</span><b>line</b>",
		"one two\n\nthree\nfour\nfive\n\na\n\nb\n\nc1 c2\n\ninline");
	html_is("  <p>  lead and trail  </p>  <br><br>  ", "lead and trail");
	html_is("<p>x</p><pre>a = 1\n  b = 2</pre>y", "x\n\na = 1\nb = 2\n\ny");
	html_is("<textarea>typed <b>not a tag</b></textarea>more",
		"typed <b>not a tag</b>\n\nmore");
}

static void test_html_headings(void)
{
	static const char page[] =
		"<h1>Guide</h1><p>Intro.</p><h2 id=\"i\">Install <small>(v2)</small></h2>"
		"<p>Run make.</p><H3>Debian</H3><p>Use apt.</p>";
	static const char unclosed[] = "<h2>Title<p>Body text";
	static const char odd[] = "<h1><div>Wrapped</div></h1>after<h4>Line<br>two<h5>Next</h5>";
	struct extract_doc doc;
	enum ingest_problem why;
	char err[DC_ERRMAX];

	CHECK_INT(run_extract(EXTRACT_HTML, page, strlen(page), &doc, &why, err, sizeof(err)),
		  DC_OK);
	CHECK_STR(doc.text, "Guide\n\nIntro.\n\nInstall (v2)\n\nRun make.\n\nDebian\n\nUse apt.");
	CHECK_INT(doc.nheadings, 3);
	heading_is(&doc, 0, "Guide", 1);
	heading_is(&doc, 1, "Install (v2)", 2);
	heading_is(&doc, 2, "Debian", 3);
	if (doc.nheadings == 3) {
		CHECK_INT(doc.headings[0].off, 0);
		CHECK_INT(doc.headings[1].off, 15);
		CHECK_INT(doc.headings[2].off, 40);
	}
	extract_doc_free(&doc);

	/* unclosed: the heading ends where a block opens after its text */
	CHECK_INT(run_extract(EXTRACT_HTML, unclosed, strlen(unclosed), &doc, &why, err,
			      sizeof(err)), DC_OK);
	CHECK_STR(doc.text, "Title\n\nBody text");
	CHECK_INT(doc.nheadings, 1);
	heading_is(&doc, 0, "Title", 2);
	extract_doc_free(&doc);
	/* a block around the heading's text, a <br> inside, a heading that starts the next */
	CHECK_INT(run_extract(EXTRACT_HTML, odd, strlen(odd), &doc, &why, err, sizeof(err)),
		  DC_OK);
	CHECK_STR(doc.text, "Wrapped\n\nafter\n\nLine two\n\nNext");
	CHECK_INT(doc.nheadings, 3);
	heading_is(&doc, 0, "Wrapped", 1);
	heading_is(&doc, 1, "Line two", 4);
	heading_is(&doc, 2, "Next", 5);
	extract_doc_free(&doc);
	/* empty headings are none */
	html_is("<h1> </h1><h2></h2>x", "x");
}

static void test_html_long_heading_is_text(void)
{
	struct buf in;
	struct extract_doc doc;
	enum ingest_problem why;
	char err[DC_ERRMAX];
	int i;

	buf_init(&in, 1 << 20);
	buf_appends(&in, "<h1>");
	for (i = 0; i < 300; i++)
		buf_appends(&in, "long ");
	buf_appends(&in, "</h1><h2>Short</h2>");
	CHECK_INT(run_extract(EXTRACT_HTML, in.data, in.len, &doc, &why, err, sizeof(err)),
		  DC_OK);
	CHECK_INT(doc.len, 300 * 5 - 1 + 2 + 5);
	CHECK_INT(doc.nheadings, 1);
	heading_is(&doc, 0, "Short", 2);
	extract_doc_free(&doc);
	buf_free(&in);
}

static void test_html_hostile_markup(void)
{
	html_is("<p>text <b>bold <i>both", "text bold both");
	html_is("before<script>never closed <p>at all</p>", "before");
	html_is("a<style>b", "a");
	html_is("<a title=\"x > y\" href='a>b' data-x=un>quoted>link</a>", "quoted>link");
	html_is("<img alt=\"unterminated>never", "");
	html_is("x<!-->visible", "xvisible");
	html_is("<!--->also", "also");
	html_is("a<!-- b -- c --!>d<!-- e --->f", "adf");
	html_is("a<!-- unterminated <p>comment", "a");
	html_is("a<![CDATA[x>y]]>b", "ay]]>b");	/* a bogus comment up to the first '>' */
	html_is("<?xml version='1.0'?>text<?pi", "text");
	html_is("</>x</ y>z</3 bogus", "xz");	/* "</" and no letter: a bogus comment */
	html_is("end</", "end</");
	html_is("a < b and c<3 <", "a < b and c<3 <");
	html_is("tag cut <div class=\"x", "tag cut");
	html_n_is("a\0b<p>c\0</p>", 12, "ab\n\nc");
	html_is("&#99999999999999999999999999999999999999;", "\xef\xbf\xbd");
	html_is("&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;",
		"&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;");
	html_is("<scriptx>shown</scriptx><script/>hidden", "shown");
}

/* Markup that a careless parser would take quadratic time or deep recursion over. */
static void test_html_huge_and_deep_inputs(void)
{
	const size_t big = 10 * 1024 * 1024;
	struct buf in, want;
	struct extract_doc doc;
	enum ingest_problem why;
	char err[DC_ERRMAX];
	size_t i;

	buf_init(&in, 4 * big);
	buf_init(&want, 4 * big);
	/* 10 MB on one line, words with entities and inline tags */
	while (in.len < big) {
		buf_appends(&in, "word&amp;<b>x</b> ");
		buf_appends(&want, want.len ? " word&x" : "word&x");
	}
	CHECK_INT(run_extract(EXTRACT_HTML, in.data, in.len, &doc, &why, err, sizeof(err)),
		  DC_OK);
	CHECK_INT(doc.len, want.len);
	CHECK(doc.text && strcmp(doc.text, buf_str(&want)) == 0);
	extract_doc_free(&doc);

	/* 200000 nested elements */
	buf_reset(&in);
	for (i = 0; i < 200000; i++)
		buf_appends(&in, "<div><span>");
	buf_appends(&in, "deep");
	for (i = 0; i < 200000; i++)
		buf_appends(&in, "</span></div>");
	CHECK_INT(run_extract(EXTRACT_HTML, in.data, in.len, &doc, &why, err, sizeof(err)),
		  DC_OK);
	CHECK_STR(doc.text, "deep");
	extract_doc_free(&doc);

	/* a script holding 1 MB of near-end-tags, then 1 MB of one unterminated tag */
	buf_reset(&in);
	buf_appends(&in, "a<script>");
	for (i = 0; i < 1024 * 1024 / 8; i++)
		buf_appends(&in, "</scrip ");
	buf_appends(&in, "</script>b<x");
	for (i = 0; i < 1024 * 1024 / 2; i++)
		buf_appends(&in, "<a");
	CHECK_INT(run_extract(EXTRACT_HTML, in.data, in.len, &doc, &why, err, sizeof(err)),
		  DC_OK);
	CHECK_STR(doc.text, "ab");
	extract_doc_free(&doc);

	/* 1 MB of "&#" and of a comment made of dashes */
	buf_reset(&in);
	buf_reset(&want);
	for (i = 0; i < 1024 * 1024 / 2; i++)
		buf_appends(&in, "&#");
	buf_append(&want, in.data, in.len);
	buf_appends(&in, "<!--");
	for (i = 0; i < 1024 * 1024; i++)
		buf_appends(&in, "-");
	CHECK_INT(run_extract(EXTRACT_HTML, in.data, in.len, &doc, &why, err, sizeof(err)),
		  DC_OK);
	CHECK_INT(doc.len, want.len);
	CHECK(doc.text && strcmp(doc.text, buf_str(&want)) == 0);
	extract_doc_free(&doc);
	buf_free(&in);
	buf_free(&want);
}

static void test_html_bom_dropped(void)
{
	html_is("\xef\xbb\xbf<p>x</p>", "x");
	html_is("", "");
}

/* ---- PDF ---- */

static void test_pdf_two_pages_keep_page_starts(void)
{
	static const char *const pages[] = { "First page about zebras.",
					     "Second page about okapis." };
	struct buf pdf;
	struct extract_doc doc;
	enum ingest_problem why = INGEST_BROKEN;
	char err[DC_ERRMAX], path[128];

	make_pdf(&pdf, pages, 2);
	CHECK_INT(run_extract(EXTRACT_PDF, pdf.data, pdf.len, &doc, &why, err, sizeof(err)),
		  DC_OK);
	CHECK_STR(err, "");
	CHECK_INT(why, INGEST_FINE);
	CHECK_STR(doc.text, "First page about zebras.\n\nSecond page about okapis.");
	CHECK_INT(doc.npages, 2);
	if (doc.npages == 2) {
		CHECK_INT(doc.pages[0], 0);
		CHECK_INT(doc.pages[1], 26);
	}
	CHECK_INT(doc.nheadings, 0);
	extract_doc_free(&doc);

	/* from a file on disk (no temporary copy), with a name starting with '-' */
	CHECK(snprintf(path, sizeof(path), "%s/-two.pdf", tmpdir) < (int)sizeof(path));
	CHECK(write_file(path, pdf.data, pdf.len, 0644));
	CHECK(chdir(tmpdir) == 0);
	CHECK_INT(extract_bytes(EXTRACT_PDF, pdf.data, pdf.len, "-two.pdf", &doc, &why, err,
				sizeof(err)), DC_OK);
	CHECK_STR(doc.text, "First page about zebras.\n\nSecond page about okapis.");
	CHECK_INT(doc.npages, 2);
	extract_doc_free(&doc);
	buf_free(&pdf);
}

static void test_pdf_empty_middle_page(void)
{
	static const char *const pages[] = { "One.", NULL, "Three." };
	struct buf pdf;
	struct extract_doc doc;
	enum ingest_problem why;
	char err[DC_ERRMAX];

	make_pdf(&pdf, pages, 3);
	CHECK_INT(run_extract(EXTRACT_PDF, pdf.data, pdf.len, &doc, &why, err, sizeof(err)),
		  DC_OK);
	CHECK_STR(doc.text, "One.\n\nThree.");
	CHECK_INT(doc.npages, 3);
	if (doc.npages == 3) {
		CHECK_INT(doc.pages[0], 0);
		CHECK_INT(doc.pages[1], 4);	/* empty: no text of its own */
		CHECK_INT(doc.pages[2], 6);
	}
	extract_doc_free(&doc);
	buf_free(&pdf);
}

static void test_pdf_broken_and_scanned(void)
{
	static const char *const text[] = { "Some text." };
	static const char *const none[] = { NULL };
	static const char prefix[] = "not a readable PDF: ";
	struct buf pdf;
	struct extract_doc doc;
	enum ingest_problem why = INGEST_FINE;
	char err[DC_ERRMAX];

	make_pdf(&pdf, text, 1);
	CHECK_INT(run_extract(EXTRACT_PDF, pdf.data, pdf.len / 2, &doc, &why, err, sizeof(err)),
		  DC_BADREQ);
	CHECK_INT(why, INGEST_BROKEN);
	CHECK(strncmp(err, prefix, strlen(prefix)) == 0 && strlen(err) > strlen(prefix));
	CHECK(doc.text == NULL);
	CHECK_INT(run_extract(EXTRACT_PDF, "not a pdf", 9, &doc, &why, err, sizeof(err)),
		  DC_BADREQ);
	CHECK_INT(why, INGEST_BROKEN);
	buf_free(&pdf);

	make_pdf(&pdf, none, 1);
	CHECK_INT(run_extract(EXTRACT_PDF, pdf.data, pdf.len, &doc, &why, err, sizeof(err)),
		  DC_BADREQ);
	CHECK_INT(why, INGEST_NO_TEXT);
	CHECK_STR(err, "no text found (a scanned PDF needs OCR first)");
	buf_free(&pdf);
}

static void test_pdf_missing_pdftotext(void)
{
	static const char *const text[] = { "Some text." };
	struct buf pdf;
	struct extract_doc doc;
	enum ingest_problem why = INGEST_BROKEN;
	char err[DC_ERRMAX];

	make_pdf(&pdf, text, 1);
	extract_pdf_hook("docchat-test-no-such-pdftotext", 0);
	CHECK_INT(run_extract(EXTRACT_PDF, pdf.data, pdf.len, &doc, &why, err, sizeof(err)),
		  DC_SYSTEM);
	CHECK_INT(why, INGEST_FINE);	/* the server's fault, not the file's */
	CHECK_STR(err, "PDF support needs pdftotext: apt-get install poppler-utils");
	extract_pdf_hook("/nonexistent/pdftotext", 0);
	CHECK_INT(run_extract(EXTRACT_PDF, pdf.data, pdf.len, &doc, &why, err, sizeof(err)),
		  DC_SYSTEM);
	CHECK_STR(err, "PDF support needs pdftotext: apt-get install poppler-utils");
	extract_pdf_hook(NULL, 0);
	CHECK_INT(run_extract(EXTRACT_PDF, pdf.data, pdf.len, &doc, &why, err, sizeof(err)),
		  DC_OK);
	CHECK_STR(doc.text, "Some text.");
	extract_doc_free(&doc);
	buf_free(&pdf);
}

/* Run a shell script standing in for pdftotext; expect rc, why and the message. */
static void fake_pdftotext(const char *script, int timeout_ms, enum dc_err want_rc,
			   enum ingest_problem want_why, const char *want_err,
			   struct extract_doc *doc)
{
	char path[128], err[DC_ERRMAX];
	enum ingest_problem why = INGEST_FINE;

	CHECK(snprintf(path, sizeof(path), "%s/fake-pdftotext", tmpdir) < (int)sizeof(path));
	CHECK(write_file(path, script, strlen(script), 0755));
	extract_pdf_hook(path, timeout_ms);
	CHECK_INT(run_extract(EXTRACT_PDF, "%PDF", 4, doc, &why, err, sizeof(err)), want_rc);
	CHECK_INT(why, want_why);
	CHECK_STR(err, want_err);
	extract_pdf_hook(NULL, 0);
}

static void test_pdf_program_faults(void)
{
	struct extract_doc doc;

	/* hangs: killed at the timeout */
	fake_pdftotext("#!/bin/sh\nexec sleep 30\n", 300, DC_BADREQ, INGEST_BROKEN,
		       "pdftotext gave up after 1 s (a damaged or very large PDF?)", &doc);
	/* fails: its last complaint is the message */
	fake_pdftotext("#!/bin/sh\necho 'Syntax Error: one' >&2\necho 'I/O Error: two' >&2\n"
		       "exit 1\n", 0, DC_BADREQ, INGEST_BROKEN, "not a readable PDF: I/O Error: two",
		       &doc);
	fake_pdftotext("#!/bin/sh\nexit 3\n", 0, DC_BADREQ, INGEST_BROKEN,
		       "the PDF does not allow copying its text", &doc);
	fake_pdftotext("#!/bin/sh\nkill -SEGV $$\n", 0, DC_BADREQ, INGEST_BROKEN,
		       "pdftotext crashed reading it (signal 11)", &doc);
	/* output that is not clean UTF-8: U+FFFD for the bad byte, NUL dropped, blank
	 * lines trimmed and runs of them made one */
	fake_pdftotext("#!/bin/sh\nprintf '\\n  A\\377B\\000C  \\n\\n\\n\\nD\\n\\n\\f\\fpage three\\f'\n",
		       0, DC_OK, INGEST_FINE, "", &doc);
	CHECK_STR(doc.text, "  A\xef\xbf\xbd" "BC\n\nD\n\npage three");
	CHECK_INT(doc.npages, 3);
	if (doc.npages == 3) {
		CHECK_INT(doc.pages[0], 0);
		CHECK_INT(doc.pages[1], 11);
		CHECK_INT(doc.pages[2], 13);
	}
	extract_doc_free(&doc);
}

static int setup(void)
{
	return snprintf(tmpdir, sizeof(tmpdir), "/tmp/docchat-test-extract-XXXXXX") > 0 &&
	       mkdtemp(tmpdir) != NULL;
}

static void cleanup(void)
{
	char p[128];

	if (snprintf(p, sizeof(p), "%s/-two.pdf", tmpdir) > 0)
		unlink(p);
	if (snprintf(p, sizeof(p), "%s/fake-pdftotext", tmpdir) > 0)
		unlink(p);
	rmdir(tmpdir);
}

int main(void)
{
	if (!setup()) {
		perror("setup");
		return 1;
	}
	RUN(test_format_by_extension);
	RUN(test_text_normalised);
	RUN(test_other_encodings_refused_with_offset);
	RUN(test_html_entities);
	RUN(test_html_script_style_head_dropped);
	RUN(test_html_blocks_and_whitespace);
	RUN(test_html_headings);
	RUN(test_html_long_heading_is_text);
	RUN(test_html_hostile_markup);
	RUN(test_html_huge_and_deep_inputs);
	RUN(test_html_bom_dropped);
	RUN(test_pdf_two_pages_keep_page_starts);
	RUN(test_pdf_empty_middle_page);
	RUN(test_pdf_broken_and_scanned);
	RUN(test_pdf_missing_pdftotext);
	RUN(test_pdf_program_faults);
	cleanup();
	return check_summary();
}
