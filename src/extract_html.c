/* extract_html.c - the text of an HTML page, with its headings (see extract.h).
 *
 * Written by hand: docchat has no HTML library among its dependencies, and it needs
 * only the visible text, not a document tree. One pass over the bytes, keeping no
 * stack of open elements, so time is linear and deep nesting costs nothing. The
 * tokenizing follows the HTML standard where it matters for text: comments (including
 * "<!-->" and an unterminated one, which runs to the end), "<!...>" and "<?...>"
 * (DOCTYPE, CDATA) skipped as bogus comments up to the first ">", attribute values in
 * quotes that may hold ">", a tag cut off by the end of the file dropped, and a "<"
 * that starts no tag kept as text.
 *
 * What becomes text: the content of <script>, <style>, <noscript>, <template> and the
 * other raw-text elements is dropped up to their end tag (or the end of the file), as
 * is everything inside <head> except <title>, whose text becomes a level-1 heading
 * (the page's own heading until an <h1> takes its place).
 * Block elements (p, div, li, table rows, ...) become paragraph breaks, <br> a line
 * break, table cells a space; runs of whitespace collapse to one space except inside
 * <pre>, where line ends stay. <h1>..<h6> become headings: a paragraph of their own,
 * recorded with their level. A heading ends at its end tag, at the next heading, or
 * at a block that opens after its text started (so an unclosed "<h1>Title<p>..." is
 * not a heading to the end of the page); one longer than HTML_MAX_HEADING stays
 * plain text.
 *
 * Character references: the common named ones (the table below; names are case
 * sensitive and need their ";"), decimal and hex numeric ones (the ";" optional).
 * Code points are checked: NUL, surrogates, C0 controls other than whitespace and
 * anything past U+10FFFF become U+FFFD; 0x80..0x9F are read as Windows-1252, as the
 * standard says browsers must. &nbsp; is an ordinary (collapsible) space and &shy;
 * disappears, because both would only split words for search. A reference that is
 * not one of these stays as text. NUL bytes in the input are dropped.
 *
 * Expects valid UTF-8 (extract.c checks it); the output is then valid UTF-8 too. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "extract.h"

#define HTML_MAX_HEADING 1024	/* longer heading text is kept as a paragraph */
#define HTML_MAX_TAG_NAME 15	/* longer names are no element we act on */
#define HTML_MAX_ENTITY_NAME 32
#define HTML_NO_HEADING ((size_t)-1)
#define UNI_REPLACEMENT 0xFFFDUL
#define UNI_MAX 0x10FFFFUL

/* Pending separator before the next text, strongest wins. */
enum brk { BRK_NONE, BRK_SPACE, BRK_LINE, BRK_PARA };

enum tag_kind {
	T_BLOCK,	/* paragraph break */
	T_CELL,		/* a space */
	T_BR,		/* a line break */
	T_HEADING,	/* <h1>..<h6> */
	T_PRE,		/* block whose line ends are kept */
	T_RAW,		/* content dropped up to the end tag */
	T_TITLE,	/* content is text without tags (RCDATA), a level-1 heading */
	T_RCDATA,	/* content is text without tags, a paragraph */
	T_HEAD,
	T_BODY,
	T_IN_HEAD	/* may appear in <head> and has no text of its own */
};

struct tag_info {
	const char *name;
	enum tag_kind kind;
};

/* Sorted by name (strcmp) for bsearch. */
static const struct tag_info tags[] = {
	{ "address", T_BLOCK }, { "article", T_BLOCK }, { "aside", T_BLOCK },
	{ "base", T_IN_HEAD }, { "basefont", T_IN_HEAD }, { "bgsound", T_IN_HEAD },
	{ "blockquote", T_BLOCK }, { "body", T_BODY }, { "br", T_BR },
	{ "caption", T_BLOCK }, { "center", T_BLOCK }, { "dd", T_BLOCK },
	{ "details", T_BLOCK }, { "dialog", T_BLOCK }, { "dir", T_BLOCK },
	{ "div", T_BLOCK }, { "dl", T_BLOCK }, { "dt", T_BLOCK },
	{ "fieldset", T_BLOCK }, { "figcaption", T_BLOCK }, { "figure", T_BLOCK },
	{ "footer", T_BLOCK }, { "form", T_BLOCK }, { "h1", T_HEADING },
	{ "h2", T_HEADING }, { "h3", T_HEADING }, { "h4", T_HEADING },
	{ "h5", T_HEADING }, { "h6", T_HEADING }, { "head", T_HEAD },
	{ "header", T_BLOCK }, { "hgroup", T_BLOCK }, { "hr", T_BLOCK },
	{ "iframe", T_RAW }, { "legend", T_BLOCK }, { "li", T_BLOCK },
	{ "link", T_IN_HEAD }, { "listing", T_PRE }, { "main", T_BLOCK },
	{ "menu", T_BLOCK }, { "meta", T_IN_HEAD }, { "nav", T_BLOCK },
	{ "noembed", T_RAW }, { "noframes", T_RAW }, { "noscript", T_RAW },
	{ "ol", T_BLOCK }, { "option", T_BLOCK }, { "p", T_BLOCK },
	{ "pre", T_PRE }, { "script", T_RAW }, { "section", T_BLOCK },
	{ "style", T_RAW }, { "summary", T_BLOCK }, { "table", T_BLOCK },
	{ "tbody", T_BLOCK }, { "td", T_CELL }, { "template", T_RAW },
	{ "textarea", T_RCDATA }, { "tfoot", T_BLOCK }, { "th", T_CELL },
	{ "thead", T_BLOCK }, { "title", T_TITLE }, { "tr", T_BLOCK },
	{ "ul", T_BLOCK }, { "xmp", T_RAW },
};

struct entity {
	const char *name;
	const char *utf8;
};

/* Sorted by name (strcmp) for bsearch. Values from the HTML standard's table. */
static const struct entity entities[] = {
	{ "AElig", "\xc3\x86" }, { "Aacute", "\xc3\x81" }, { "Acirc", "\xc3\x82" },
	{ "Agrave", "\xc3\x80" }, { "Aring", "\xc3\x85" }, { "Atilde", "\xc3\x83" },
	{ "Auml", "\xc3\x84" }, { "Ccedil", "\xc3\x87" }, { "Dagger", "\xe2\x80\xa1" },
	{ "Delta", "\xce\x94" }, { "ETH", "\xc3\x90" }, { "Eacute", "\xc3\x89" },
	{ "Ecirc", "\xc3\x8a" }, { "Egrave", "\xc3\x88" }, { "Euml", "\xc3\x8b" },
	{ "Iacute", "\xc3\x8d" }, { "Icirc", "\xc3\x8e" }, { "Igrave", "\xc3\x8c" },
	{ "Iuml", "\xc3\x8f" }, { "Ntilde", "\xc3\x91" }, { "OElig", "\xc5\x92" },
	{ "Oacute", "\xc3\x93" }, { "Ocirc", "\xc3\x94" }, { "Ograve", "\xc3\x92" },
	{ "Omega", "\xce\xa9" }, { "Oslash", "\xc3\x98" }, { "Otilde", "\xc3\x95" },
	{ "Ouml", "\xc3\x96" }, { "Pi", "\xce\xa0" }, { "Prime", "\xe2\x80\xb3" },
	{ "Scaron", "\xc5\xa0" }, { "Sigma", "\xce\xa3" }, { "THORN", "\xc3\x9e" },
	{ "Uacute", "\xc3\x9a" }, { "Ucirc", "\xc3\x9b" }, { "Ugrave", "\xc3\x99" },
	{ "Uuml", "\xc3\x9c" }, { "Yacute", "\xc3\x9d" }, { "Yuml", "\xc5\xb8" },
	{ "aacute", "\xc3\xa1" }, { "acirc", "\xc3\xa2" }, { "acute", "\xc2\xb4" },
	{ "aelig", "\xc3\xa6" }, { "agrave", "\xc3\xa0" }, { "alpha", "\xce\xb1" },
	{ "amp", "&" }, { "apos", "'" }, { "aring", "\xc3\xa5" },
	{ "asymp", "\xe2\x89\x88" }, { "atilde", "\xc3\xa3" }, { "auml", "\xc3\xa4" },
	{ "bdquo", "\xe2\x80\x9e" }, { "beta", "\xce\xb2" }, { "brvbar", "\xc2\xa6" },
	{ "bull", "\xe2\x80\xa2" }, { "ccedil", "\xc3\xa7" }, { "cedil", "\xc2\xb8" },
	{ "cent", "\xc2\xa2" }, { "circ", "\xcb\x86" }, { "copy", "\xc2\xa9" },
	{ "curren", "\xc2\xa4" }, { "dagger", "\xe2\x80\xa0" }, { "darr", "\xe2\x86\x93" },
	{ "deg", "\xc2\xb0" }, { "delta", "\xce\xb4" }, { "divide", "\xc3\xb7" },
	{ "eacute", "\xc3\xa9" }, { "ecirc", "\xc3\xaa" }, { "egrave", "\xc3\xa8" },
	{ "emsp", "\xe2\x80\x83" }, { "ensp", "\xe2\x80\x82" }, { "epsilon", "\xce\xb5" },
	{ "eth", "\xc3\xb0" }, { "euml", "\xc3\xab" }, { "euro", "\xe2\x82\xac" },
	{ "frac12", "\xc2\xbd" }, { "frac14", "\xc2\xbc" }, { "frac34", "\xc2\xbe" },
	{ "gamma", "\xce\xb3" }, { "ge", "\xe2\x89\xa5" }, { "gt", ">" },
	{ "harr", "\xe2\x86\x94" }, { "hearts", "\xe2\x99\xa5" }, { "hellip", "\xe2\x80\xa6" },
	{ "iacute", "\xc3\xad" }, { "icirc", "\xc3\xae" }, { "iexcl", "\xc2\xa1" },
	{ "igrave", "\xc3\xac" }, { "infin", "\xe2\x88\x9e" }, { "iquest", "\xc2\xbf" },
	{ "iuml", "\xc3\xaf" }, { "lambda", "\xce\xbb" }, { "laquo", "\xc2\xab" },
	{ "larr", "\xe2\x86\x90" }, { "ldquo", "\xe2\x80\x9c" }, { "le", "\xe2\x89\xa4" },
	{ "lrm", "\xe2\x80\x8e" }, { "lsaquo", "\xe2\x80\xb9" }, { "lsquo", "\xe2\x80\x98" },
	{ "lt", "<" }, { "macr", "\xc2\xaf" }, { "mdash", "\xe2\x80\x94" },
	{ "micro", "\xc2\xb5" }, { "middot", "\xc2\xb7" }, { "minus", "\xe2\x88\x92" },
	{ "mu", "\xce\xbc" }, { "nbsp", " " }, { "ndash", "\xe2\x80\x93" },
	{ "ne", "\xe2\x89\xa0" }, { "not", "\xc2\xac" }, { "ntilde", "\xc3\xb1" },
	{ "oacute", "\xc3\xb3" }, { "ocirc", "\xc3\xb4" }, { "oelig", "\xc5\x93" },
	{ "ograve", "\xc3\xb2" }, { "omega", "\xcf\x89" }, { "ordf", "\xc2\xaa" },
	{ "ordm", "\xc2\xba" }, { "oslash", "\xc3\xb8" }, { "otilde", "\xc3\xb5" },
	{ "ouml", "\xc3\xb6" }, { "para", "\xc2\xb6" }, { "permil", "\xe2\x80\xb0" },
	{ "phi", "\xcf\x86" }, { "pi", "\xcf\x80" }, { "plusmn", "\xc2\xb1" },
	{ "pound", "\xc2\xa3" }, { "prime", "\xe2\x80\xb2" }, { "quot", "\"" },
	{ "raquo", "\xc2\xbb" }, { "rarr", "\xe2\x86\x92" }, { "rdquo", "\xe2\x80\x9d" },
	{ "reg", "\xc2\xae" }, { "rlm", "\xe2\x80\x8f" }, { "rsaquo", "\xe2\x80\xba" },
	{ "rsquo", "\xe2\x80\x99" }, { "sbquo", "\xe2\x80\x9a" }, { "scaron", "\xc5\xa1" },
	{ "sect", "\xc2\xa7" }, { "shy", "" }, { "sigma", "\xcf\x83" },
	{ "sup1", "\xc2\xb9" }, { "sup2", "\xc2\xb2" }, { "sup3", "\xc2\xb3" },
	{ "szlig", "\xc3\x9f" }, { "tau", "\xcf\x84" }, { "theta", "\xce\xb8" },
	{ "thinsp", "\xe2\x80\x89" }, { "thorn", "\xc3\xbe" }, { "tilde", "\xcb\x9c" },
	{ "times", "\xc3\x97" }, { "trade", "\xe2\x84\xa2" }, { "uacute", "\xc3\xba" },
	{ "uarr", "\xe2\x86\x91" }, { "ucirc", "\xc3\xbb" }, { "ugrave", "\xc3\xb9" },
	{ "uml", "\xc2\xa8" }, { "uuml", "\xc3\xbc" }, { "yacute", "\xc3\xbd" },
	{ "yen", "\xc2\xa5" }, { "yuml", "\xc3\xbf" }, { "zwj", "\xe2\x80\x8d" },
	{ "zwnj", "\xe2\x80\x8c" },
};

/* What browsers show for &#128; .. &#159; (Windows-1252); 0 where it has no character. */
static const unsigned short cp1252[32] = {
	0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
	0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
};

struct html {
	const char *p;
	size_t n;
	struct buf out;
	enum brk brk;		/* separator owed before the next text */
	int heading;		/* level of the open heading, 0 when none */
	size_t hstart;		/* where its text began in out, or HTML_NO_HEADING */
	int in_head;		/* inside <head>: text is dropped */
	int pre;		/* depth of <pre> */
	struct extract_heading *hs;
	size_t nh, hcap;
};

/* ---- characters ---- */

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static int is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnum(unsigned char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* UTF-8 for cp (at most U+10FFFF, not a surrogate) into s; returns its length. */
static size_t utf8_encode(unsigned long cp, char s[4])
{
	if (cp < 0x80) {
		s[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		s[0] = (char)(0xC0 | (cp >> 6));
		s[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		s[0] = (char)(0xE0 | (cp >> 12));
		s[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		s[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	s[0] = (char)(0xF0 | (cp >> 18));
	s[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	s[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	s[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* The character a numeric reference stands for, after the standard's checks. */
static unsigned long checked_code_point(unsigned long v)
{
	if (v == 0 || v > UNI_MAX || (v >= 0xD800 && v <= 0xDFFF))
		return UNI_REPLACEMENT;
	if (v >= 0x80 && v <= 0x9F)
		return cp1252[v - 0x80] ? cp1252[v - 0x80] : UNI_REPLACEMENT;
	if ((v < 0x20 && !is_space((unsigned char)v)) || v == 0x7F)
		return UNI_REPLACEMENT;
	return v;
}

/* ---- output ---- */

static void want_break(struct html *h, enum brk b)
{
	/* Heading text stays on one line: inside it every break is a space. */
	if (h->heading && h->hstart != HTML_NO_HEADING && b > BRK_SPACE)
		b = BRK_SPACE;
	if (b > h->brk)
		h->brk = b;
}

static enum dc_err emit(struct html *h, const char *s, size_t len)
{
	static const char *const seps[] = { "", " ", "\n", "\n\n" };
	enum dc_err rc;

	if (h->in_head || len == 0)
		return DC_OK;
	if (h->out.len > 0 && h->brk != BRK_NONE) {
		rc = buf_appends(&h->out, seps[h->brk]);
		if (rc != DC_OK)
			return rc;
	}
	h->brk = BRK_NONE;
	if (h->heading && h->hstart == HTML_NO_HEADING)
		h->hstart = h->out.len;
	return buf_append(&h->out, s, len);
}

static enum dc_err end_heading(struct html *h)
{
	struct extract_heading *p;
	size_t len;

	if (!h->heading)
		return DC_OK;
	len = h->hstart == HTML_NO_HEADING ? 0 : h->out.len - h->hstart;
	if (len > 0 && len <= HTML_MAX_HEADING) {
		if (h->nh == h->hcap) {
			size_t cap = h->hcap ? h->hcap * 2 : 16;

			p = realloc(h->hs, cap * sizeof(*p));
			if (!p)
				return DC_NOMEM;
			h->hs = p;
			h->hcap = cap;
		}
		h->hs[h->nh].off = h->hstart;
		h->hs[h->nh].len = len;
		h->hs[h->nh].level = h->heading;
		h->nh++;
	}
	h->heading = 0;
	h->hstart = HTML_NO_HEADING;
	want_break(h, BRK_PARA);
	return DC_OK;
}

/* ---- text and character references ---- */

static int entity_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct entity *)elem)->name);
}

/* A numeric reference at p[i] ("&#..."): its length, 0 when it is none. */
static size_t numeric_ref(const char *p, size_t i, size_t to, unsigned long *cp)
{
	size_t j = i + 2, digits = 0;
	unsigned long v = 0, d;
	int hex = 0;

	if (j < to && (p[j] == 'x' || p[j] == 'X')) {
		hex = 1;
		j++;
	}
	for (; j < to; j++, digits++) {
		unsigned char c = (unsigned char)p[j];

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (hex && lower(c) >= 'a' && lower(c) <= 'f')
			d = lower(c) - 'a' + 10;
		else
			break;
		v = v * (hex ? 16 : 10) + d;
		if (v > UNI_MAX)
			v = UNI_MAX + 1;	/* saturate: &#99999999999; is just too big */
	}
	if (digits == 0)
		return 0;
	if (j < to && p[j] == ';')
		j++;
	*cp = checked_code_point(v);
	return j - i;
}

/* A named reference at p[i] ("&name;"): its length, 0 when it is none we know. */
static size_t named_ref(const char *p, size_t i, size_t to, const char **utf8)
{
	char name[HTML_MAX_ENTITY_NAME + 1];
	const struct entity *e;
	size_t j = i + 1, k = 0;

	while (j < to && k < HTML_MAX_ENTITY_NAME && is_alnum((unsigned char)p[j]))
		name[k++] = p[j++];
	if (k == 0 || j >= to || p[j] != ';')
		return 0;
	name[k] = '\0';
	e = bsearch(name, entities, sizeof(entities) / sizeof(entities[0]), sizeof(entities[0]),
		    entity_cmp);
	if (!e)
		return 0;
	*utf8 = e->utf8;
	return j + 1 - i;
}

/* A decoded character: whitespace (and U+00A0) is a separator, the rest text. */
static enum dc_err emit_code_point(struct html *h, unsigned long cp)
{
	char s[4];

	if (cp == 0xA0 || (cp < 0x80 && is_space((unsigned char)cp))) {
		want_break(h, cp == '\n' && h->pre ? BRK_LINE : BRK_SPACE);
		return DC_OK;
	}
	return emit(h, s, utf8_encode(cp, s));
}

/* The reference at p[i] ('&'); *used gets how many bytes it took. */
static enum dc_err reference(struct html *h, size_t i, size_t to, size_t *used)
{
	const char *utf8 = NULL;
	unsigned long cp = 0;

	if (i + 1 < to && h->p[i + 1] == '#')
		*used = numeric_ref(h->p, i, to, &cp);
	else
		*used = named_ref(h->p, i, to, &utf8);
	if (*used == 0) {
		*used = 1;
		return emit(h, "&", 1);
	}
	if (utf8 && strcmp(utf8, " ") == 0) {
		want_break(h, BRK_SPACE);
		return DC_OK;
	}
	if (utf8)
		return emit(h, utf8, strlen(utf8));
	return emit_code_point(h, cp);
}

/* Text without tags, p[from..to): references decoded, whitespace collapsed. */
static enum dc_err text(struct html *h, size_t from, size_t to)
{
	const char *p = h->p;
	size_t i = from, j, used;
	enum dc_err rc = DC_OK;

	while (rc == DC_OK && i < to) {
		unsigned char c = (unsigned char)p[i];

		if (c == '&') {
			rc = reference(h, i, to, &used);
			i += used;
		} else if (is_space(c)) {
			want_break(h, c == '\n' && h->pre ? BRK_LINE : BRK_SPACE);
			i++;
		} else if (c == '\0') {
			i++;
		} else {
			for (j = i + 1; j < to; j++) {
				c = (unsigned char)p[j];
				if (c == '&' || c == '\0' || is_space(c))
					break;
			}
			rc = emit(h, p + i, j - i);
			i = j;
		}
	}
	return rc;
}

/* ---- markup ---- */

/* Past the attributes of a tag from p[j] to just after its '>': 1 with *after set
 * there, or 0 with *after = n when the file ends inside the tag. A quoted value may
 * hold '>'. */
static int skip_attributes(const char *p, size_t n, size_t j, size_t *after)
{
	const char *q;

	*after = n;
	for (;;) {
		while (j < n && (is_space((unsigned char)p[j]) || p[j] == '/'))
			j++;
		if (j >= n)
			return 0;
		if (p[j] == '>') {
			*after = j + 1;
			return 1;
		}
		j++;	/* the name's first character may be anything, even '=' */
		while (j < n && !is_space((unsigned char)p[j]) && p[j] != '/' && p[j] != '>' &&
		       p[j] != '=')
			j++;
		while (j < n && is_space((unsigned char)p[j]))
			j++;
		if (j >= n || p[j] != '=')
			continue;
		j++;
		while (j < n && is_space((unsigned char)p[j]))
			j++;
		if (j < n && (p[j] == '"' || p[j] == '\'')) {
			q = memchr(p + j + 1, p[j], n - j - 1);
			if (!q)
				return 0;
			j = (size_t)(q - p) + 1;
		} else {
			while (j < n && !is_space((unsigned char)p[j]) && p[j] != '>')
				j++;
		}
	}
}

/* Just after the '>' that ends a bogus comment starting at p[j], or n. */
static size_t skip_to_gt(const char *p, size_t n, size_t j)
{
	const char *q = j < n ? memchr(p + j, '>', n - j) : NULL;

	return q ? (size_t)(q - p) + 1 : n;
}

/* Just after the comment whose "<!--" is at p[i]: "-->" or "--!>", or "<!-->" and
 * "<!--->" (empty), or the end of the file. */
static size_t skip_comment(const char *p, size_t n, size_t i)
{
	size_t j = i + 4;
	const char *q;

	if (j < n && p[j] == '>')
		return j + 1;
	if (j + 1 < n && p[j] == '-' && p[j + 1] == '>')
		return j + 2;
	while (j < n) {
		q = memchr(p + j, '-', n - j);
		if (!q)
			return n;
		j = (size_t)(q - p);
		if (j + 2 < n && p[j + 1] == '-' && p[j + 2] == '>')
			return j + 3;
		if (j + 3 < n && p[j + 1] == '-' && p[j + 2] == '!' && p[j + 3] == '>')
			return j + 4;
		j++;
	}
	return n;
}

/* Where the end tag "</name" (any case, then whitespace, '/' or '>') next starts at
 * or after j, or n. */
static size_t find_end_tag(const char *p, size_t n, size_t j, const char *name)
{
	size_t len = strlen(name), k;
	const char *q;

	while (j < n) {
		q = memchr(p + j, '<', n - j);
		if (!q)
			return n;
		j = (size_t)(q - p);
		if (j + 2 + len <= n && p[j + 1] == '/') {
			for (k = 0; k < len && lower((unsigned char)p[j + 2 + k]) == name[k]; k++)
				;
			if (k == len && (j + 2 + len == n || is_space((unsigned char)p[j + 2 + len]) ||
					 p[j + 2 + len] == '/' || p[j + 2 + len] == '>'))
				return j;
		}
		j++;
	}
	return n;
}

static int tag_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct tag_info *)elem)->name);
}

static const struct tag_info *tag_lookup(const char *p, size_t len)
{
	char name[HTML_MAX_TAG_NAME + 1];
	size_t k;

	if (len > HTML_MAX_TAG_NAME)
		return NULL;
	for (k = 0; k < len; k++)
		name[k] = (char)lower((unsigned char)p[k]);
	name[len] = '\0';
	return bsearch(name, tags, sizeof(tags) / sizeof(tags[0]), sizeof(tags[0]), tag_cmp);
}

/* Skip a raw-text element's content and its end tag; *i is just past the start tag. */
static void skip_raw(struct html *h, const char *name, size_t *i)
{
	size_t e = find_end_tag(h->p, h->n, *i, name);

	*i = h->n;
	if (e < h->n)
		skip_attributes(h->p, h->n, e + 2 + strlen(name), i);
}

static enum dc_err start_heading(struct html *h, int level);

/* <title> (as a heading) and <textarea>: text with references but no tags. */
static enum dc_err title_text(struct html *h, const char *name, int heading, size_t *i)
{
	size_t e = find_end_tag(h->p, h->n, *i, name);
	int in_head = h->in_head;
	enum dc_err rc = DC_OK;

	h->in_head = 0;
	if (heading)
		rc = start_heading(h, 1);
	want_break(h, BRK_PARA);
	if (rc == DC_OK)
		rc = text(h, *i, e);
	if (rc == DC_OK && heading)
		rc = end_heading(h);
	want_break(h, BRK_PARA);
	h->in_head = in_head;
	*i = h->n;
	if (e < h->n)
		skip_attributes(h->p, h->n, e + 2 + strlen(name), i);
	return rc;
}

static enum dc_err start_heading(struct html *h, int level)
{
	enum dc_err rc = end_heading(h);

	want_break(h, BRK_PARA);
	h->heading = level;
	h->hstart = HTML_NO_HEADING;
	return rc;
}

/* A block inside a heading: a space, unless it opens after the heading's text began,
 * which ends the heading. */
static enum dc_err block(struct html *h, int end)
{
	if (h->heading && !end && h->hstart != HTML_NO_HEADING)
		return end_heading(h);
	want_break(h, BRK_PARA);
	return DC_OK;
}

/* Act on a start (end = 0) or end tag named p[ns..ns+nlen); *i is just past it. */
static enum dc_err element(struct html *h, size_t ns, size_t nlen, int end, size_t *i)
{
	const struct tag_info *t = tag_lookup(h->p + ns, nlen);

	if (!t) {
		if (!end)
			h->in_head = 0;	/* body content ends an unclosed <head> */
		return DC_OK;
	}
	if (!end && t->kind != T_IN_HEAD && t->kind != T_RAW && t->kind != T_TITLE &&
	    t->kind != T_HEAD)
		h->in_head = 0;
	switch (t->kind) {
	case T_BLOCK:
		return block(h, end);
	case T_CELL:
		want_break(h, BRK_SPACE);
		return DC_OK;
	case T_BR:
		want_break(h, BRK_LINE);
		return DC_OK;
	case T_HEADING:
		if (end)
			return end_heading(h);
		return start_heading(h, t->name[1] - '0');
	case T_PRE:
		if (end && h->pre > 0)
			h->pre--;
		else if (!end)
			h->pre++;
		return block(h, end);
	case T_RAW:
		if (!end)
			skip_raw(h, t->name, i);
		return DC_OK;
	case T_TITLE:
	case T_RCDATA:
		return end ? DC_OK : title_text(h, t->name, t->kind == T_TITLE, i);
	case T_HEAD:
		h->in_head = !end;
		return DC_OK;
	case T_BODY:
	case T_IN_HEAD:
		return DC_OK;
	}
	return DC_OK;
}

/* The markup starting with '<' at p[*i]; *i moves past it. */
static enum dc_err markup(struct html *h, size_t *i)
{
	const char *p = h->p;
	size_t n = h->n, j = *i + 1, ns;
	int end = 0;

	if (j < n && p[j] == '!') {
		*i = j + 2 < n && p[j + 1] == '-' && p[j + 2] == '-' ? skip_comment(p, n, *i)
								     : skip_to_gt(p, n, j);
		return DC_OK;
	}
	if (j < n && p[j] == '?') {
		*i = skip_to_gt(p, n, j);
		return DC_OK;
	}
	if (j < n && p[j] == '/') {
		end = 1;
		j++;
		if (j < n && p[j] == '>') {	/* "</>" is nothing */
			*i = j + 1;
			return DC_OK;
		}
		if (j < n && !is_alpha((unsigned char)p[j])) {
			*i = skip_to_gt(p, n, j);
			return DC_OK;
		}
	}
	if (j >= n || !is_alpha((unsigned char)p[j])) {	/* a '<' that starts nothing */
		*i = j;
		return emit(h, p + *i - (end ? 2 : 1), end ? 2 : 1);
	}
	ns = j;
	while (j < n && !is_space((unsigned char)p[j]) && p[j] != '/' && p[j] != '>')
		j++;
	if (!skip_attributes(p, n, j, i))
		return DC_OK;	/* cut off by the end of the file: dropped */
	return element(h, ns, j - ns, end, i);
}

static enum dc_err run(struct html *h)
{
	const char *lt;
	size_t i = 0;
	enum dc_err rc = DC_OK;

	while (rc == DC_OK && i < h->n) {
		lt = memchr(h->p + i, '<', h->n - i);
		if (!lt) {
			rc = text(h, i, h->n);
			break;
		}
		if ((size_t)(lt - h->p) > i)
			rc = text(h, i, (size_t)(lt - h->p));
		i = (size_t)(lt - h->p);
		if (rc == DC_OK)
			rc = markup(h, &i);
	}
	if (rc == DC_OK)
		rc = end_heading(h);
	return rc;
}

enum dc_err extract_html(const char *data, size_t len, struct extract_doc *out,
			 char *err, size_t errlen)
{
	struct html h;
	enum dc_err rc;

	memset(out, 0, sizeof(*out));
	memset(&h, 0, sizeof(h));
	h.p = data ? data : "";
	h.n = data ? len : 0;
	h.hstart = HTML_NO_HEADING;
	/* References never grow the text (the longest expansion, 3 bytes for "&#1;",
	 * is shorter than the reference) and separators replace markup, so this
	 * limit is never the one that stops a valid page. */
	buf_init(&h.out, 2 * h.n + 16);
	rc = run(&h);
	if (rc != DC_OK) {
		rc = dc_fail(err, errlen, rc, "reading HTML: %s", dc_strerror(rc));
		goto out;
	}
	out->text = buf_take(&h.out, &out->len);
	if (!out->text) {
		rc = dc_fail(err, errlen, DC_NOMEM, "reading HTML: out of memory");
		goto out;
	}
	out->headings = h.hs;
	out->nheadings = h.nh;
	h.hs = NULL;
out:
	free(h.hs);
	buf_free(&h.out);
	return rc;
}
