/* fuzz_html.c - the HTML extractor (extract_html.c, through extract_bytes as uploads
 * reach it) and the chunking of what it extracts, on any file.
 *
 * Checked: the file is refused exactly when it is not valid UTF-8 (judged by fuzz.h's
 * own decoder), and then as INGEST_NOT_UTF8; otherwise the text keeps extract.h's
 * promises (valid UTF-8, no NUL, no CR, len is its length) and every heading is a
 * whole line of it, in order, at level 1..6; chunk_doc accepts that layout (it refuses
 * any other) and its chunks keep check_chunks.h's rules. The chunk size and overlap
 * are drawn from the input so that small and large chunks are both exercised. */
#include "fuzz.h"
#include "check_chunks.h"

#include "extract.h"

#define FUZZ_TARGET_MAX 64

static void check_layout(const struct extract_doc *doc)
{
	size_t prev_end = 0;

	FUZZ_CHECK(doc->text != NULL);
	FUZZ_CHECK(strlen(doc->text) == doc->len);
	FUZZ_CHECK(fuzz_utf8_valid(doc->text, doc->len));
	FUZZ_CHECK(memchr(doc->text, '\r', doc->len) == NULL);
	FUZZ_CHECK(doc->nheadings == 0 || doc->headings != NULL);
	for (size_t i = 0; i < doc->nheadings; i++) {
		const struct extract_heading *h = &doc->headings[i];

		FUZZ_CHECK(h->level >= 1 && h->level <= 6);
		FUZZ_CHECK(h->len > 0 && h->off <= doc->len && h->len <= doc->len - h->off);
		FUZZ_CHECK(i == 0 || h->off > prev_end);
		FUZZ_CHECK(h->off == 0 || doc->text[h->off - 1] == '\n');
		FUZZ_CHECK(h->off + h->len == doc->len || doc->text[h->off + h->len] == '\n');
		FUZZ_CHECK(memchr(doc->text + h->off, '\n', h->len) == NULL);
		prev_end = h->off + h->len;
	}
	FUZZ_CHECK(doc->npages == 0 && doc->pages == NULL);
	FUZZ_CHECK(!doc->markdown);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct extract_doc doc;
	enum ingest_problem why;
	struct chunk *chunks = NULL;
	struct fuzz_rng rng;
	size_t n = 0;
	char err[DC_ERRMAX] = "";
	int target, overlap;
	enum dc_err rc;

	rc = extract_bytes(EXTRACT_HTML, (const char *)data, size, NULL, &doc, &why, err,
			   sizeof err);
	if (rc != DC_OK) {
		FUZZ_CHECK(rc == DC_BADREQ && why == INGEST_NOT_UTF8);
		FUZZ_CHECK(!fuzz_utf8_valid((const char *)data, size));
		FUZZ_CHECK(err[0] != '\0' && fuzz_utf8_valid(err, strlen(err)));
		return 0;
	}
	FUZZ_CHECK(fuzz_utf8_valid((const char *)data, size));
	check_layout(&doc);

	fuzz_rng_seed(&rng, data, size);
	target = 1 + (int)(fuzz_rng_next(&rng) % FUZZ_TARGET_MAX);
	overlap = (int)(fuzz_rng_next(&rng) % (FUZZ_TARGET_MAX + 1));
	rc = chunk_doc(&doc, target, overlap, &chunks, &n);
	FUZZ_CHECK(rc == DC_OK);
	fuzz_check_chunks(doc.text, doc.len, chunks, n, 1, 0, target, overlap);
	chunks_free(chunks, n);
	extract_doc_free(&doc);
	return 0;
}
