/* words.c - words, word keys and sentences for the extractive backend and grounding.
 *
 * Written by hand because the rules must be small, fixed and identical for both users:
 * a sentence quoted by backend_extractive.c has to reduce to the very keys grounding.c
 * finds in the source it came from. The rules, precisely:
 *
 * Words. Letters and digits of any script form words; ASCII punctuation, Unicode
 * punctuation and symbol blocks, and invalid UTF-8 bytes separate them. Each Han,
 * Hiragana or Katakana character is a word by itself. An apostrophe separates too, so
 * "don't" gives "don" and "t", both stop words.
 *
 * Keys. A-Z and Latin-1 capitals (À-Þ) are lower-cased; other scripts are compared as
 * written. Keys longer than WORDS_KEY_MAX - 1 bytes are cut at a character boundary.
 * Stop words (a fixed English list, including question words) have no key. Words of
 * four or more ASCII letters are stemmed: "ies" -> "y" (in words of five or more);
 * "sses" -> "ss"; a final "s" goes unless the word ends in "ss", "us" or "is"; then
 * "ing" or "ed" goes when at least three letters with a vowel remain, and a doubled
 * final consonant other than l, s or z is undoubled; last, a final "e" goes when at
 * least three letters remain. So "stored", "stores" and "storing" all become "stor",
 * and "running" becomes "run".
 *
 * Sentences. A sentence ends after a run of . ! ? (with any closing quotes or brackets)
 * that is followed by whitespace or the end of the text, unless the next character is
 * a lower-case ASCII letter, or a single "." comes right after a single letter
 * ("e.g."), a known abbreviation ("Dr.") or a number of up to three digits that opens
 * the sentence, its line or a quote ("1. Install"). 。！？ end a sentence with no space
 * needed. A blank line ends one, and so does a line break before a list item or
 * heading ("- ", "* ", "+ ", "> ", "• ", "#", "1. "). Citation markers
 * like "[1]" or "[2, 3]" right after the end belong to the sentence they follow. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "utf8.h"
#include "words.h"

enum char_class {
	CHAR_SEP,	/* separates words */
	CHAR_LETTER,	/* part of a word */
	CHAR_SOLO	/* a word by itself (Han, kana) */
};

struct cp_range {
	unsigned long lo, hi;
};

/* Non-ASCII code points that separate words: punctuation, symbols, spaces, emoji. */
static const struct cp_range sep_ranges[] = {
	{ 0x80, 0xA9 }, { 0xAB, 0xB4 }, { 0xB6, 0xB9 }, { 0xBB, 0xBF },
	{ 0xD7, 0xD7 }, { 0xF7, 0xF7 },
	{ 0x2000, 0x206F }, { 0x20A0, 0x20CF }, { 0x2190, 0x2BFF }, { 0x2E00, 0x2E7F },
	{ 0x3000, 0x3004 }, { 0x3008, 0x3020 }, { 0x3030, 0x3030 }, { 0x30A0, 0x30A0 },
	{ 0x30FB, 0x30FB }, { 0xFE10, 0xFE1F }, { 0xFE30, 0xFE4F }, { 0xFEFF, 0xFEFF },
	{ 0xFF01, 0xFF0F }, { 0xFF1A, 0xFF20 }, { 0xFF3B, 0xFF40 }, { 0xFF5B, 0xFF65 },
	{ 0xFFF0, 0xFFFF }, { 0x1F000, 0x1FAFF }
};

/* Scripts written without spaces between words: each character is a word. */
static const struct cp_range solo_ranges[] = {
	{ 0x3040, 0x30FF }, { 0x3400, 0x4DBF }, { 0x4E00, 0x9FFF }, { 0xF900, 0xFAFF },
	{ 0xFF66, 0xFF9F }, { 0x20000, 0x3FFFF }
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* English stop words, sorted by strcmp (words_is_stop searches them by halves). */
static const char *const stop_words[] = {
	"a", "about", "above", "according", "after", "again", "against", "all", "also",
	"am", "an", "and", "any", "are", "aren", "as", "at", "be", "because", "been",
	"before", "being", "below", "between", "both", "but", "by", "can", "cannot",
	"could", "couldn", "d", "did", "didn", "do", "does", "doesn", "doing", "don",
	"down", "during", "each", "either", "else", "etc", "even", "ever", "every", "few",
	"for", "from", "further", "get", "gets", "got", "had", "hadn", "has", "hasn",
	"have", "haven", "having", "he", "her", "here", "hers", "herself", "him",
	"himself", "his", "how", "however", "i", "if", "in", "into", "is", "isn", "it",
	"its", "itself", "just", "ll", "m", "many", "may", "me", "might", "mightn", "more",
	"most", "much", "must", "mustn", "my", "myself", "neither", "no", "nor", "not",
	"now", "o", "of", "off", "on", "once", "only", "or", "other", "our", "ours",
	"ourselves", "out", "over", "own", "please", "re", "s", "same", "shall", "shan",
	"she", "should", "shouldn", "so", "some", "such", "t", "tell", "than", "that",
	"the", "their", "theirs", "them", "themselves", "then", "there", "these", "they",
	"this", "those", "through", "to", "too", "under", "until", "up", "upon", "us",
	"ve", "very", "via", "was", "wasn", "we", "were", "weren", "what", "when", "where",
	"whether", "which", "while", "who", "whom", "whose", "why", "will", "with", "won",
	"would", "wouldn", "y", "yes", "you", "your", "yours", "yourself", "yourselves"
};

/* Abbreviations whose "." does not end a sentence (compared lower-cased). */
static const char *const abbreviations[] = {
	"approx", "cf", "dr", "fig", "jr", "mr", "mrs", "ms", "prof", "sr", "st", "vs"
};

/* Longest list number ("12.") that does not end a sentence. */
#define LIST_NUMBER_DIGITS 3

/* Smallest word the stemmer touches, and the least it leaves of a word. */
#define STEM_MIN_WORD 4
#define STEM_MIN_STEM 3

/* The UTF-8 encoding of U+FFFD, written for bytes that are not UTF-8. */
static const char replacement_char[] = "\xEF\xBF\xBD";

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char to_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int in_ranges(unsigned long cp, const struct cp_range *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (cp >= r[i].lo && cp <= r[i].hi)
			return 1;
	return 0;
}

static enum char_class char_class(unsigned long cp)
{
	if (cp < 0x80)
		return is_alpha((char)cp) || is_digit((char)cp) ? CHAR_LETTER : CHAR_SEP;
	if (in_ranges(cp, sep_ranges, NELEM(sep_ranges)))
		return CHAR_SEP;
	if (in_ranges(cp, solo_ranges, NELEM(solo_ranges)))
		return CHAR_SOLO;
	return CHAR_LETTER;
}

size_t words_utf8_char(const char *s, size_t len, unsigned long *cp)
{
	size_t n = utf8_decode(s, len, cp);

	if (n)
		return n;
	*cp = WORDS_BAD_CHAR;
	return 1;
}

int words_next(const char *text, size_t len, size_t *pos, size_t *start, size_t *wlen)
{
	size_t i = *pos, s, cl = 0;
	unsigned long cp;
	enum char_class k = CHAR_SEP;

	while (i < len) {
		cl = words_utf8_char(text + i, len - i, &cp);
		k = char_class(cp);
		if (k != CHAR_SEP)
			break;
		i += cl;
	}
	if (i >= len) {
		*pos = len;
		return 0;
	}
	s = i;
	i += cl;
	while (k == CHAR_LETTER && i < len) {
		cl = words_utf8_char(text + i, len - i, &cp);
		if (char_class(cp) != CHAR_LETTER)
			break;
		i += cl;
	}
	*start = s;
	*wlen = i - s;
	*pos = i;
	return 1;
}

/* strcmp for a counted string against a NUL-terminated one. */
static int cmp_counted(const char *w, size_t n, const char *s)
{
	size_t m = strlen(s);
	int c = memcmp(w, s, n < m ? n : m);

	if (c)
		return c;
	return n < m ? -1 : n > m;
}

int words_is_stop(const char *w, size_t n)
{
	size_t lo = 0, hi = NELEM(stop_words), mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = cmp_counted(w, n, stop_words[mid]);
		if (c == 0)
			return 1;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

static int ends_with(const char *w, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);

	return n >= m && memcmp(w + n - m, suffix, m) == 0;
}

static int is_vowel(char c)
{
	return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

static int has_vowel(const char *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (is_vowel(w[i]))
			return 1;
	return 0;
}

static int all_lower_ascii(const char *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (w[i] < 'a' || w[i] > 'z')
			return 0;
	return 1;
}

/* Drop suffix of length m when enough of a word with a vowel remains; undouble. */
static size_t strip_verb_suffix(const char *w, size_t n, size_t m)
{
	size_t s = n - m;

	if (s < STEM_MIN_STEM || !has_vowel(w, s))
		return n;
	if (w[s - 1] == w[s - 2] && !is_vowel(w[s - 1]) && w[s - 1] != 'l' &&
	    w[s - 1] != 's' && w[s - 1] != 'z')
		s--;
	return s;
}

size_t words_stem(char *w, size_t n)
{
	if (n < STEM_MIN_WORD || !all_lower_ascii(w, n))
		return n;
	if (ends_with(w, n, "ies") && n > STEM_MIN_WORD) {
		w[n - 3] = 'y';
		n -= 2;
	} else if (ends_with(w, n, "sses")) {
		n -= 2;
	} else if (ends_with(w, n, "s") && !ends_with(w, n, "ss") &&
		   !ends_with(w, n, "us") && !ends_with(w, n, "is")) {
		n -= 1;
	}
	if (ends_with(w, n, "ing"))
		n = strip_verb_suffix(w, n, 3);
	else if (ends_with(w, n, "ed"))
		n = strip_verb_suffix(w, n, 2);
	if (n >= STEM_MIN_WORD && w[n - 1] == 'e')
		n--;
	w[n] = '\0';
	return n;
}

size_t words_key(const char *w, size_t n, char out[WORDS_KEY_MAX])
{
	size_t i = 0, o = 0, cl;
	unsigned long cp;

	while (i < n) {
		cl = words_utf8_char(w + i, n - i, &cp);
		if (o + cl > WORDS_KEY_MAX - 1)
			break;
		memcpy(out + o, w + i, cl);
		if (cl == 1)
			out[o] = to_lower(out[o]);
		else if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)
			out[o + 1] = (char)(out[o + 1] + 0x20);	/* À-Þ -> à-þ */
		o += cl;
		i += cl;
	}
	out[o] = '\0';
	if (o == 0 || words_is_stop(out, o))
		return 0;
	return words_stem(out, o);
}

void words_set_init(struct words_set *s)
{
	s->v = NULL;
	s->n = 0;
	s->cap = 0;
}

void words_set_free(struct words_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	words_set_init(s);
}

/* Binary search among the first n keys, which are sorted; n when absent. */
static size_t set_find(const struct words_set *s, size_t n, const char *key)
{
	size_t lo = 0, hi = n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(key, s->v[mid]);
		if (c == 0)
			return mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return n;
}

size_t words_set_index(const struct words_set *s, const char *key)
{
	return set_find(s, s->n, key);
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort the keys and free repeated ones, so the set is distinct and searchable again. */
static void set_settle(struct words_set *s)
{
	size_t i, o = 0;

	if (s->n < 2)
		return;
	qsort(s->v, s->n, sizeof(s->v[0]), cmp_keys);
	for (i = 0; i < s->n; i++) {
		if (o > 0 && strcmp(s->v[o - 1], s->v[i]) == 0)
			free(s->v[i]);
		else
			s->v[o++] = s->v[i];
	}
	s->n = o;
}

static enum dc_err set_push(struct words_set *s, const char *key, size_t klen)
{
	char **v;
	char *k;
	size_t cap;

	if (s->n == s->cap) {
		cap = s->cap ? s->cap * 2 : 16;
		v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return DC_NOMEM;
		s->v = v;
		s->cap = cap;
	}
	k = malloc(klen + 1);
	if (!k)
		return DC_NOMEM;
	memcpy(k, key, klen + 1);
	s->v[s->n++] = k;
	return DC_OK;
}

enum dc_err words_set_add_text(struct words_set *s, const char *text, size_t len)
{
	size_t pos = 0, start, wlen, klen, sorted = s->n;
	char key[WORDS_KEY_MAX];
	enum dc_err rc = DC_OK;

	while (words_next(text, len, &pos, &start, &wlen)) {
		klen = words_key(text + start, wlen, key);
		if (klen == 0 || set_find(s, sorted, key) < sorted)
			continue;
		rc = set_push(s, key, klen);
		if (rc != DC_OK)
			break;
	}
	set_settle(s);
	return rc;
}

size_t words_set_shared(const struct words_set *a, const struct words_set *b)
{
	size_t i, n = 0;

	for (i = 0; i < a->n; i++)
		if (words_set_index(b, a->v[i]) < b->n)
			n++;
	return n;
}

/* Length of a closing quote or bracket at t[i], 0 if there is none. */
static size_t closer_len(const char *t, size_t len, size_t i)
{
	unsigned long cp;
	size_t cl = words_utf8_char(t + i, len - i, &cp);

	switch (cp) {
	case '"': case '\'': case ')':
	case 0xBB: case 0x2019: case 0x201D: case 0x300D: case 0x300F: case 0xFF09:
		return cl;
	default:
		return 0;
	}
}

static size_t skip_closers(const char *t, size_t len, size_t i)
{
	size_t cl;

	while (i < len && (cl = closer_len(t, len, i)) > 0)
		i += cl;
	return i;
}

size_t words_citation_len(const char *t, size_t len, size_t i)
{
	size_t j;

	if (i + 2 >= len || t[i] != '[' || !is_digit(t[i + 1]))
		return 0;
	for (j = i + 2; j < len; j++) {
		if (t[j] == ']')
			return j + 1 - i;
		if (!is_digit(t[j]) && t[j] != ',' && t[j] != '-' && t[j] != ' ')
			return 0;
	}
	return 0;
}

/* Move past the citation markers right after i (spaces or tabs before each). */
static size_t skip_citations(const char *t, size_t len, size_t i)
{
	size_t j, cl;

	for (;;) {
		j = i;
		while (j < len && (t[j] == ' ' || t[j] == '\t'))
			j++;
		cl = words_citation_len(t, len, j);
		if (cl == 0)
			return i;
		i = j + cl;
	}
}

/* Does the number at t[b] open a list item: first in its sentence (which starts at
 * start), on its line, or in a quote? */
static int opens_item(const char *t, size_t start, size_t b)
{
	while (b > start && (t[b - 1] == ' ' || t[b - 1] == '\t'))
		b--;
	return b == start || t[b - 1] == '\n' || t[b - 1] == '"';
}

/* Is the "." at t[i] part of an abbreviation, an initial or a list number? The
 * sentence being scanned starts at start. */
static int dot_is_abbreviation(const char *t, size_t start, size_t i)
{
	size_t b = i, n, k, d;
	char low[8];

	while (b > start && (is_alpha(t[b - 1]) || is_digit(t[b - 1])))
		b--;
	n = i - b;
	if (n == 0)
		return 0;
	for (d = 0; d < n && is_digit(t[b + d]); d++)
		;
	if (d == n)
		return n <= LIST_NUMBER_DIGITS && opens_item(t, start, b);
	if (n == 1)
		return is_alpha(t[b]);
	if (n >= sizeof(low))
		return 0;
	for (k = 0; k < n; k++)
		low[k] = to_lower(t[b + k]);
	low[n] = '\0';
	for (k = 0; k < NELEM(abbreviations); k++)
		if (strcmp(low, abbreviations[k]) == 0)
			return 1;
	return 0;
}

/* A run of . ! ? starts at t[i], in the sentence that starts at start. Returns 1 when
 * it ends the sentence, with *end just past it (closers and citations included);
 * *resume is where to go on. */
static int ascii_end(const char *t, size_t len, size_t start, size_t i, size_t *end,
		     size_t *resume)
{
	size_t j = i, k, m;

	while (j < len && (t[j] == '.' || t[j] == '!' || t[j] == '?'))
		j++;
	*resume = j;
	k = skip_closers(t, len, j);
	if (k == len) {
		*end = *resume = len;
		return 1;
	}
	if (!is_ws(t[k]))
		return 0;
	if (j - i == 1 && t[i] == '.' && k == j && dot_is_abbreviation(t, start, i))
		return 0;
	for (m = k; m < len && is_ws(t[m]); m++)
		;
	if (m < len && t[m] >= 'a' && t[m] <= 'z')
		return 0;
	*end = *resume = skip_citations(t, len, k);
	return 1;
}

/* Does a list item or heading marker start at t[j]? */
static int list_marker(const char *t, size_t len, size_t j)
{
	size_t d;

	if (t[j] == '#')
		return 1;
	if ((t[j] == '-' || t[j] == '*' || t[j] == '+' || t[j] == '>') &&
	    j + 1 < len && is_ws(t[j + 1]))
		return 1;
	if (len - j >= 3 && memcmp(t + j, "\xE2\x80\xA2", 3) == 0)	/* • */
		return 1;
	for (d = 0; j + d < len && is_digit(t[j + d]); d++)
		;
	return d > 0 && d <= LIST_NUMBER_DIGITS && j + d + 1 < len &&
	       (t[j + d] == '.' || t[j + d] == ')') && is_ws(t[j + d + 1]);
}

/* A line break at t[i]: does a blank line or a list item follow? */
static int newline_end(const char *t, size_t len, size_t i, size_t *end, size_t *resume)
{
	size_t j = i + 1;

	while (j < len && (t[j] == ' ' || t[j] == '\t' || t[j] == '\r'))
		j++;
	*resume = i + 1;
	if (j >= len || (t[j] != '\n' && !list_marker(t, len, j)))
		return 0;
	*end = i;
	*resume = j;
	return 1;
}

static int is_cjk_stop(unsigned long cp)
{
	return cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F;
}

/* Add the sentence t[start, end) trimmed, unless it holds no word. */
static enum dc_err push_span(struct words_span **v, size_t *n, size_t *cap, const char *t,
			     size_t start, size_t end)
{
	struct words_span *nv;
	size_t pos, ws, wl, ncap;

	while (start < end && is_ws(t[start]))
		start++;
	while (end > start && is_ws(t[end - 1]))
		end--;
	pos = start;
	if (!words_next(t, end, &pos, &ws, &wl))
		return DC_OK;
	if (*n == *cap) {
		ncap = *cap ? *cap * 2 : 16;
		nv = realloc(*v, ncap * sizeof(*nv));
		if (!nv)
			return DC_NOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[*n].start = start;
	(*v)[*n].len = end - start;
	(*n)++;
	return DC_OK;
}

enum dc_err words_sentences(const char *text, size_t len, struct words_span **out,
			    size_t *n)
{
	struct words_span *v = NULL;
	size_t nv = 0, cap = 0, i = 0, start = 0, end, resume, cl;
	unsigned long cp;
	int found;
	enum dc_err rc = DC_OK;

	*out = NULL;
	*n = 0;
	while (i < len) {
		found = 0;
		resume = i + 1;
		if (text[i] == '.' || text[i] == '!' || text[i] == '?') {
			found = ascii_end(text, len, start, i, &end, &resume);
		} else if (text[i] == '\n') {
			found = newline_end(text, len, i, &end, &resume);
		} else if ((unsigned char)text[i] >= 0x80) {
			cl = words_utf8_char(text + i, len - i, &cp);
			resume = i + cl;
			if (is_cjk_stop(cp)) {
				end = resume = skip_citations(text, len,
							      skip_closers(text, len, i + cl));
				found = 1;
			}
		}
		if (found) {
			rc = push_span(&v, &nv, &cap, text, start, end);
			if (rc != DC_OK)
				goto out;
			start = resume;
		}
		i = resume;
	}
	rc = push_span(&v, &nv, &cap, text, start, len);
out:
	if (rc != DC_OK) {
		free(v);
		return rc;
	}
	*out = v;
	*n = nv;
	return DC_OK;
}

enum dc_err words_append_clean(struct buf *b, const char *s, size_t n)
{
	size_t i = 0, run, cl;
	unsigned long cp;
	int any = 0, gap = 0;
	enum dc_err rc;

	while (i < n) {
		if (is_ws(s[i])) {
			gap = any;
			i++;
			continue;
		}
		if (gap) {
			rc = buf_append(b, " ", 1);
			if (rc != DC_OK)
				return rc;
			gap = 0;
		}
		for (run = i; run < n && !is_ws(s[run]); run += cl) {
			cl = words_utf8_char(s + run, n - run, &cp);
			if (cp == WORDS_BAD_CHAR && cl == 1)
				break;
		}
		if (run > i) {
			rc = buf_append(b, s + i, run - i);
			i = run;
		} else {
			rc = buf_append(b, replacement_char, sizeof(replacement_char) - 1);
			i++;
		}
		if (rc != DC_OK)
			return rc;
		any = 1;
	}
	return DC_OK;
}
