/* chunk.c - cutting a text into overlapping chunks for the keyword index (see chunk.h).
 *
 * Two passes. The first cuts the text into words (runs between whitespace) and marks on
 * each word what boundary comes before it: a paragraph (blank lines, or a Markdown
 * heading line, which is a paragraph of its own), a sentence, or just a space; it also
 * keeps the Markdown heading path in force ("Install > Debian"). A run longer than
 * CHUNK_LONG_WORD_BYTES (text without spaces, such as Chinese or Japanese, or a long
 * URL) counts as several words, cut only before a UTF-8 lead byte.
 *
 * The second pass packs words greedily, up to `target` new words per chunk, and ends a
 * chunk at the strongest boundary available: before a paragraph that would not fit
 * (unless the paragraph alone is longer than target), else after the last sentence
 * that fits, else between words. A top-level heading (# or ##) ends a chunk that has
 * body text, and the chunk it begins has no overlap: a new section is a new topic.
 * Every other chunk begins with up to `overlap` words of the previous one, from a
 * sentence start where the tail holds one. A chunk's text is exactly the input bytes
 * [start, end), so offsets always point at it. Written by hand: the rules are ours.
 *
 * Headings an extractor found (HTML's <h1>..<h6>) arrive as a list of whole lines and
 * are treated exactly like Markdown heading lines. Each level of a heading path is cut
 * to CHUNK_MAX_HEADING_BYTES, so a runaway heading cannot be copied into every chunk.
 * With page starts (a PDF), a chunk's page is the page of its first byte, overlap
 * included, because that is where a reader finds the start of the quoted text.
 * Knows nothing of files, formats or storage. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "chunk.h"
#include "extract.h"

#define CHUNK_LONG_WORD_BYTES 24	/* a longer run of non-space bytes is several words */
#define CHUNK_SECTION_LEVEL 2		/* headings at this level or above start a chunk */
#define CHUNK_MAX_LEVEL 6		/* ###### is the deepest Markdown heading */
#define CHUNK_PATH_SEP " > "
#define CHUNK_MAX_HEADING_BYTES 200	/* of one level of a heading path */

enum {
	W_PARA = 1,		/* first word of a paragraph or heading */
	W_SENT = 2,		/* first word of a sentence (paragraph starts included) */
	W_SECTION = 4,		/* first word of a top-level heading */
	W_HEADING = 8		/* part of a heading line */
};

struct cword {
	size_t start, end;	/* bytes [start, end) of the input */
	int path;		/* index into scan.paths, -1 outside any heading */
	unsigned flags;
};

struct span {
	size_t off, len;
};

struct scan {
	const char *text;
	size_t len;
	struct cword *w;
	size_t nw, wcap;
	char **paths;		/* every heading path seen, in order */
	size_t npaths, pcap;
	struct span level[CHUNK_MAX_LEVEL + 1];	/* heading text per level, [1..6] */
	int path;		/* current path, -1 before the first heading */
	int sent_end;		/* the last word added ended a sentence */
	const struct extract_heading *hs;	/* headings found by an extractor */
	size_t nhs, hnext;	/* how many, and the next one not yet reached */
	const size_t *pages;	/* page start offsets, or NULL */
	size_t npages;
};

/* ---- bytes ---- */

/* Length of the whitespace character at p (ASCII space and control spaces, U+00A0,
 * U+3000), or 0. */
static size_t space_len(const unsigned char *p, size_t avail)
{
	if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v')
		return 1;
	if (avail >= 2 && p[0] == 0xc2 && p[1] == 0xa0)
		return 2;
	if (avail >= 3 && p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80)
		return 3;
	return 0;
}

static int is_blank_line(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\f' && p[i] != '\v')
			return 0;
	return 1;
}

/* Sentence-ending punctuation of three bytes (。！？…) ending just before q. */
static int wide_stop_before(const unsigned char *s, size_t q)
{
	static const unsigned char stops[][3] = {
		{ 0xe3, 0x80, 0x82 }, { 0xef, 0xbc, 0x81 }, { 0xef, 0xbc, 0x9f },
		{ 0xe2, 0x80, 0xa6 }
	};
	size_t i;

	if (q < 3)
		return 0;
	for (i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		if (memcmp(s + q - 3, stops[i], 3) == 0)
			return 1;
	return 0;
}

/* Does the word [s, e) end a sentence? Closing quotes, brackets and emphasis after the
 * stop are looked through: `done.")` and `**done.**` both end one. */
static int ends_sentence(const unsigned char *t, size_t s, size_t e)
{
	while (e > s) {
		unsigned char c = t[e - 1];

		if (c == '"' || c == '\'' || c == ')' || c == ']' || c == '*' || c == '_') {
			e--;
		} else if (e - s >= 3 && t[e - 3] == 0xe2 && t[e - 2] == 0x80 &&
			   (t[e - 1] == 0x9d || t[e - 1] == 0x99)) {
			e -= 3;		/* ” ’ */
		} else if (e - s >= 2 && t[e - 2] == 0xc2 && t[e - 1] == 0xbb) {
			e -= 2;		/* » */
		} else {
			break;
		}
	}
	if (e == s)
		return 0;
	if (t[e - 1] == '.' || t[e - 1] == '!' || t[e - 1] == '?')
		return 1;
	return e - s >= 3 && wide_stop_before(t, e);
}

/* ---- pass one: words ---- */

static enum dc_err add_word(struct scan *sc, size_t start, size_t end, unsigned flags)
{
	struct cword *w;

	if (sc->nw == sc->wcap) {
		size_t cap = sc->wcap ? sc->wcap * 2 : 256;

		if (cap > ((size_t)-1) / sizeof(*w))
			return DC_NOMEM;
		w = realloc(sc->w, cap * sizeof(*w));
		if (!w)
			return DC_NOMEM;
		sc->w = w;
		sc->wcap = cap;
	}
	if (sc->sent_end)
		flags |= W_SENT;
	w = &sc->w[sc->nw++];
	w->start = start;
	w->end = end;
	w->path = sc->path;
	w->flags = flags;
	sc->sent_end = ends_sentence((const unsigned char *)sc->text, start, end);
	return DC_OK;
}

/* Where to cut a run [p, e) longer than CHUNK_LONG_WORD_BYTES: after a wide sentence
 * stop if the piece holds one, else before the last UTF-8 lead byte in reach. */
static size_t long_run_cut(const unsigned char *t, size_t p, size_t e)
{
	size_t cut = p + CHUNK_LONG_WORD_BYTES, q;

	if (cut >= e)
		return e;
	for (q = cut; q > p + 3; q--)
		if (wide_stop_before(t, q))
			return q;
	while (cut > p && (t[cut] & 0xc0) == 0x80)
		cut--;
	/* Only invalid UTF-8 (continuation bytes throughout) gets here with nothing. */
	return cut > p ? cut : p + CHUNK_LONG_WORD_BYTES;
}

/* Add the words of [from, to); the first gets first_flags | W_PARA | W_SENT, every one
 * gets the W_HEADING bit of first_flags. */
static enum dc_err add_words(struct scan *sc, size_t from, size_t to, unsigned first_flags)
{
	const unsigned char *t = (const unsigned char *)sc->text;
	unsigned flags = first_flags | W_PARA | W_SENT;
	size_t i = from, sp, e, cut;
	enum dc_err rc;

	while (i < to) {
		sp = space_len(t + i, to - i);
		if (sp) {
			i += sp;
			continue;
		}
		e = i;
		while (e < to && !space_len(t + e, to - e))
			e++;
		while (i < e) {
			cut = long_run_cut(t, i, e);
			rc = add_word(sc, i, cut, flags);
			if (rc != DC_OK)
				return rc;
			flags &= W_HEADING;
			i = cut;
		}
	}
	return DC_OK;
}

/* Record heading text [off, off+len) at level and make the new path current. */
static enum dc_err set_heading(struct scan *sc, int level, size_t off, size_t len)
{
	struct buf path;
	char *s = NULL;
	enum dc_err rc = DC_OK;
	int l;

	buf_init(&path, CHUNK_MAX_LEVEL * (CHUNK_MAX_HEADING_BYTES + sizeof(CHUNK_PATH_SEP)));
	if (len > CHUNK_MAX_HEADING_BYTES) {	/* cut before a UTF-8 lead byte */
		len = CHUNK_MAX_HEADING_BYTES;
		while (len > 0 && ((unsigned char)sc->text[off + len] & 0xc0) == 0x80)
			len--;
	}
	sc->level[level].off = off;
	sc->level[level].len = len;
	for (l = level + 1; l <= CHUNK_MAX_LEVEL; l++)
		sc->level[l].len = 0;
	for (l = 1; rc == DC_OK && l <= CHUNK_MAX_LEVEL; l++) {
		if (!sc->level[l].len)
			continue;
		if (path.len)
			rc = buf_appends(&path, CHUNK_PATH_SEP);
		if (rc == DC_OK)
			rc = buf_append(&path, sc->text + sc->level[l].off, sc->level[l].len);
	}
	if (rc != DC_OK)
		goto out;
	if (path.len == 0) {	/* only empty headings: no path */
		sc->path = -1;
		goto out;
	}
	if (sc->npaths == sc->pcap) {
		size_t cap = sc->pcap ? sc->pcap * 2 : 16;
		char **p = realloc(sc->paths, cap * sizeof(*p));

		if (!p) {
			rc = DC_NOMEM;
			goto out;
		}
		sc->paths = p;
		sc->pcap = cap;
	}
	s = buf_take(&path, NULL);
	if (!s) {
		rc = DC_NOMEM;
		goto out;
	}
	sc->paths[sc->npaths] = s;
	sc->path = (int)sc->npaths++;
out:
	buf_free(&path);
	return rc;
}

/* Trim spaces, tabs and CR from both ends of [*off, *off + *len). */
static void trim(const char *t, size_t *off, size_t *len)
{
	while (*len && (t[*off] == ' ' || t[*off] == '\t' || t[*off] == '\r')) {
		(*off)++;
		(*len)--;
	}
	while (*len && (t[*off + *len - 1] == ' ' || t[*off + *len - 1] == '\t' ||
			t[*off + *len - 1] == '\r'))
		(*len)--;
}

/* Up to three spaces of indent, as Markdown allows before block markers. */
static size_t skip_indent(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && i < 3 && p[i] == ' ')
		i++;
	return i;
}

/* An ATX heading line ("## Title ##")? Sets level and the title's span. */
static int atx_heading(const char *t, size_t ls, size_t le, int *level, size_t *off,
		       size_t *len)
{
	size_t i = ls + skip_indent(t + ls, le - ls), n = 0, e;

	while (i + n < le && t[i + n] == '#')
		n++;
	if (n < 1 || n > CHUNK_MAX_LEVEL)
		return 0;
	i += n;
	if (i < le && t[i] != ' ' && t[i] != '\t' && t[i] != '\r')
		return 0;
	*off = i;
	*len = le - i;
	trim(t, off, len);
	/* A closing run of #s counts only after a space (or as the whole title). */
	e = *off + *len;
	while (e > *off && t[e - 1] == '#')
		e--;
	if (e == *off || t[e - 1] == ' ' || t[e - 1] == '\t') {
		*len = e - *off;
		trim(t, off, len);
	}
	*level = (int)n;
	return 1;
}

/* A setext underline ("====" is level 1, "----" level 2, two or more)? */
static int setext_line(const char *t, size_t ls, size_t le, int *level)
{
	size_t i = ls + skip_indent(t + ls, le - ls), n = 0;
	char c;

	if (i >= le || (t[i] != '=' && t[i] != '-'))
		return 0;
	c = t[i];
	while (i < le && t[i] == c) {
		i++;
		n++;
	}
	if (n < 2 || !is_blank_line(t + i, le - i))
		return 0;
	*level = c == '=' ? 1 : 2;
	return 1;
}

static int fence_line(const char *t, size_t ls, size_t le)
{
	size_t i = ls + skip_indent(t + ls, le - ls);

	return le - i >= 3 && (memcmp(t + i, "```", 3) == 0 || memcmp(t + i, "~~~", 3) == 0);
}

static unsigned heading_flags(int level)
{
	return W_HEADING | (level <= CHUNK_SECTION_LEVEL ? W_SECTION : 0);
}

struct para {
	int open;
	size_t start, end;	/* first line's start, last line's end */
	size_t first_end;	/* end of the first line */
	int lines;
	int fenced;		/* holds a code fence line: never a setext heading */
};

static enum dc_err para_flush(struct scan *sc, struct para *pa)
{
	if (!pa->open)
		return DC_OK;
	pa->open = 0;
	return add_words(sc, pa->start, pa->end, 0);
}

/* Handle one Markdown-only construct on line [ls, le): a heading, or nothing (0). */
static enum dc_err markdown_line(struct scan *sc, struct para *pa, size_t ls, size_t le,
				 int *done)
{
	size_t off, len;
	int level;
	enum dc_err rc;

	*done = 0;
	if (atx_heading(sc->text, ls, le, &level, &off, &len)) {
		rc = para_flush(sc, pa);
		if (rc == DC_OK)
			rc = set_heading(sc, level, off, len);
		if (rc == DC_OK)
			rc = add_words(sc, ls, le, heading_flags(level));
		*done = 1;
		return rc;
	}
	if (pa->open && pa->lines == 1 && !pa->fenced && setext_line(sc->text, ls, le, &level)) {
		off = pa->start;
		len = pa->first_end - pa->start;
		trim(sc->text, &off, &len);
		pa->open = 0;
		rc = set_heading(sc, level, off, len);
		if (rc == DC_OK)
			rc = add_words(sc, pa->start, le, heading_flags(level));
		*done = 1;
		return rc;
	}
	return DC_OK;
}

/* A heading line an extractor found at [ls, le): a paragraph of its own. */
static enum dc_err found_heading(struct scan *sc, struct para *pa, size_t ls, size_t le)
{
	const struct extract_heading *h = &sc->hs[sc->hnext++];
	enum dc_err rc = para_flush(sc, pa);

	if (rc == DC_OK)
		rc = set_heading(sc, h->level, h->off, h->len);
	if (rc == DC_OK)
		rc = add_words(sc, ls, le, heading_flags(h->level));
	return rc;
}

static enum dc_err scan_text(struct scan *sc, int markdown)
{
	struct para pa = { 0, 0, 0, 0, 0, 0 };
	size_t pos = 0, ls, le;
	const char *nl;
	int in_fence = 0, is_fence, done;
	enum dc_err rc = DC_OK;

	while (rc == DC_OK && pos < sc->len) {
		ls = pos;
		nl = memchr(sc->text + ls, '\n', sc->len - ls);
		le = nl ? (size_t)(nl - sc->text) : sc->len;
		pos = nl ? le + 1 : sc->len;
		if (sc->hnext < sc->nhs && sc->hs[sc->hnext].off == ls) {
			rc = found_heading(sc, &pa, ls, le);
			continue;
		}
		is_fence = markdown && fence_line(sc->text, ls, le);
		if (markdown && !in_fence && !is_fence) {
			rc = markdown_line(sc, &pa, ls, le, &done);
			if (rc != DC_OK || done)
				continue;
		}
		if (is_fence)
			in_fence = !in_fence;
		if (is_blank_line(sc->text + ls, le - ls)) {
			rc = para_flush(sc, &pa);
			continue;
		}
		if (!pa.open) {
			pa.open = 1;
			pa.start = ls;
			pa.first_end = le;
			pa.lines = 0;
			pa.fenced = 0;
		}
		pa.lines++;
		pa.end = le;
		pa.fenced |= is_fence;
	}
	if (rc == DC_OK)
		rc = para_flush(sc, &pa);
	return rc;
}

/* ---- pass two: packing ---- */

/* The end (exclusive word index) of a chunk whose new words start at i and may reach
 * limit (< nw): see the file comment for the order of preference. */
static size_t choose_break(const struct scan *sc, size_t i, size_t limit, size_t target)
{
	const struct cword *w = sc->w;
	size_t pstart = limit, pend = limit + 1, lo, s;

	while (pstart > i && !(w[pstart].flags & W_PARA))
		pstart--;
	while (pend < sc->nw && !(w[pend].flags & W_PARA))
		pend++;
	/* The paragraph that does not fit starts inside this chunk and fits a chunk of
	 * its own: leave it whole for the next one. */
	if (pstart > i && pend - pstart <= target)
		return pstart;
	lo = pstart > i ? pstart : i;
	for (s = limit; s > lo; s--)
		if (w[s].flags & W_SENT)
			return s;
	return pstart > i ? pstart : limit;
}

/* Where the chunk after [i, end) starts, counting its overlap. */
static size_t overlap_start(const struct scan *sc, size_t i, size_t end, size_t overlap)
{
	size_t from, k;

	if (end >= sc->nw || (sc->w[end].flags & W_SECTION) || overlap == 0)
		return end;
	from = end - i > overlap ? end - overlap : i;
	for (k = from; k < end; k++)
		if (sc->w[k].flags & W_SENT)
			return k;
	return from;
}

/* A top-level heading inside [i, limit) that follows body text ends the chunk. */
static size_t section_break(const struct scan *sc, size_t i, size_t limit)
{
	int body = 0;
	size_t k;

	for (k = i; k < limit; k++) {
		if (k > i && body && (sc->w[k].flags & W_SECTION))
			return k;
		if (!(sc->w[k].flags & W_HEADING))
			body = 1;
	}
	return 0;
}

/* The page holding byte off: the last page starting at or before it. */
static int page_of(const struct scan *sc, size_t off)
{
	size_t lo = 0, hi = sc->npages, mid;

	if (sc->npages == 0)
		return 0;
	while (hi - lo > 1) {	/* pages[lo] <= off holds, or lo is 0 */
		mid = lo + (hi - lo) / 2;
		if (sc->pages[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo + 1 > (size_t)0x7fffffff ? 0x7fffffff : (int)(lo + 1);
}

/* Fill c from words [ov, end), new words from i; heading from the first body word. */
static enum dc_err emit(const struct scan *sc, size_t ov, size_t i, size_t end,
			struct chunk *c)
{
	size_t k, start = sc->w[ov].start, stop = sc->w[end - 1].end;
	int path = sc->w[i].path;

	for (k = i; k < end; k++) {
		if (!(sc->w[k].flags & W_HEADING)) {
			path = sc->w[k].path;
			break;
		}
	}
	c->text = malloc(stop - start + 1);
	if (!c->text)
		return DC_NOMEM;
	memcpy(c->text, sc->text + start, stop - start);
	c->text[stop - start] = '\0';
	c->heading = NULL;
	if (path >= 0) {
		c->heading = strdup(sc->paths[path]);
		if (!c->heading)
			return DC_NOMEM;
	}
	c->start = (long long)start;
	c->end = (long long)stop;
	c->page = page_of(sc, start);
	return DC_OK;
}

static enum dc_err pack(const struct scan *sc, size_t target, size_t overlap,
			struct chunk **out, size_t *n)
{
	struct chunk *arr = NULL, *p;
	size_t len = 0, cap = 0, i = 0, ov = 0, end, limit;
	enum dc_err rc = DC_OK;

	while (i < sc->nw) {
		limit = sc->nw - i > target ? i + target : sc->nw;
		end = section_break(sc, i, limit);
		if (!end)
			end = limit == sc->nw ? limit : choose_break(sc, i, limit, target);
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			p = realloc(arr, cap * sizeof(*arr));
			if (!p) {
				rc = DC_NOMEM;
				goto out;
			}
			arr = p;
		}
		memset(&arr[len], 0, sizeof(arr[len]));
		len++;
		rc = emit(sc, ov, i, end, &arr[len - 1]);
		if (rc != DC_OK)
			goto out;
		ov = overlap_start(sc, i, end, overlap);
		i = end;
	}
	*out = arr;
	*n = len;
	arr = NULL;
out:
	chunks_free(arr, len);
	return rc;
}

static void scan_free(struct scan *sc)
{
	size_t i;

	for (i = 0; i < sc->npaths; i++)
		free(sc->paths[i]);
	free(sc->paths);
	free(sc->w);
}

/* Both entry points: sc holds the text and its layout. */
static enum dc_err chunk_scan(struct scan *sc, int markdown, int target, int overlap,
			      struct chunk **out, size_t *n)
{
	size_t ovl;
	enum dc_err rc;

	*out = NULL;
	*n = 0;
	if (target <= 0 || (!sc->text && sc->len))
		return DC_BADREQ;
	/* Held to half the target, so repeated text never outweighs a full chunk's new
	 * text. (Progress does not depend on it: every chunk adds at least one word.) */
	ovl = overlap < 0 ? 0 : (size_t)overlap;
	if (ovl > (size_t)target / 2)
		ovl = (size_t)target / 2;
	sc->path = -1;
	rc = scan_text(sc, markdown);
	if (rc == DC_OK)
		rc = pack(sc, (size_t)target, ovl, out, n);
	scan_free(sc);
	return rc;
}

enum dc_err chunk_text(const char *text, size_t len, int markdown, int target, int overlap,
		       struct chunk **out, size_t *n)
{
	struct scan sc;

	memset(&sc, 0, sizeof(sc));
	sc.text = text;
	sc.len = len;
	return chunk_scan(&sc, markdown, target, overlap, out, n);
}

/* Do the headings and page starts keep extract.h's rules? */
static int layout_ok(const struct extract_doc *doc)
{
	const struct extract_heading *h;
	size_t i, prev_end = 0;

	if ((doc->nheadings && !doc->headings) || (doc->npages && !doc->pages))
		return 0;
	for (i = 0; i < doc->nheadings; i++) {
		h = &doc->headings[i];
		if (h->level < 1 || h->level > CHUNK_MAX_LEVEL || h->len == 0 ||
		    h->off > doc->len || h->len > doc->len - h->off || (i && h->off <= prev_end) ||
		    (h->off > 0 && doc->text[h->off - 1] != '\n') ||
		    (h->off + h->len < doc->len && doc->text[h->off + h->len] != '\n') ||
		    memchr(doc->text + h->off, '\n', h->len))
			return 0;
		prev_end = h->off + h->len;
	}
	for (i = 0; i < doc->npages; i++)
		if (doc->pages[i] > doc->len || (i && doc->pages[i] < doc->pages[i - 1]))
			return 0;
	return 1;
}

enum dc_err chunk_doc(const struct extract_doc *doc, int target, int overlap,
		      struct chunk **out, size_t *n)
{
	struct scan sc;

	*out = NULL;
	*n = 0;
	if (!doc || (!doc->text && doc->len) || !layout_ok(doc))
		return DC_BADREQ;
	memset(&sc, 0, sizeof(sc));
	sc.text = doc->text;
	sc.len = doc->len;
	sc.hs = doc->headings;
	sc.nhs = doc->nheadings;
	sc.pages = doc->pages;
	sc.npages = doc->npages;
	return chunk_scan(&sc, doc->markdown, target, overlap, out, n);
}

void chunks_free(struct chunk *c, size_t n)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < n; i++) {
		free(c[i].text);
		free(c[i].heading);
	}
	free(c);
}
