/* fuzz_markdown.c - Markdown and plain text files: the text extractor (extract.c) and
 * the chunker with Markdown headings (chunk_text / chunk_doc, markdown = 1).
 *
 * Checked: the file is refused exactly when it is not valid UTF-8 or holds a NUL
 * (judged by fuzz.h's own decoder), and then as INGEST_NOT_UTF8; otherwise the text is
 * the file without a UTF-8 byte order mark and with CRLF and CR made "\n", and its
 * chunks keep check_chunks.h's rules. The raw bytes, CRs included, are also chunked
 * directly with chunk_text, up to the first byte that is not UTF-8 or is a NUL.
 * The chunk size and overlap are drawn from the input. */
#include "fuzz.h"
#include "check_chunks.h"

#include "extract.h"
#include "utf8.h"

#define FUZZ_TARGET_MAX 64

/* What extract.c should make of a valid file: no BOM, CRLF and CR as "\n". */
static char *normalized(const uint8_t *data, size_t size, size_t *len)
{
	char *out = malloc(size + 1);
	size_t i = size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0, o = 0;

	if (!out)
		abort();
	for (; i < size; i++) {
		if (data[i] == '\r' && i + 1 < size && data[i + 1] == '\n')
			continue;
		out[o++] = data[i] == '\r' ? '\n' : (char)data[i];
	}
	out[o] = '\0';
	*len = o;
	return out;
}

static void chunk_and_check(const char *text, size_t len, struct fuzz_rng *rng,
			    const struct extract_doc *doc)
{
	struct chunk *chunks = NULL;
	size_t n = 0;
	int target = 1 + (int)(fuzz_rng_next(rng) % FUZZ_TARGET_MAX);
	int overlap = (int)(fuzz_rng_next(rng) % (FUZZ_TARGET_MAX + 1));

	if (doc)
		FUZZ_CHECK(chunk_doc(doc, target, overlap, &chunks, &n) == DC_OK);
	else
		FUZZ_CHECK(chunk_text(text, len, 1, target, overlap, &chunks, &n) == DC_OK);
	fuzz_check_chunks(text, len, chunks, n, 1, 0, target, overlap);
	chunks_free(chunks, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct extract_doc doc;
	enum ingest_problem why;
	struct fuzz_rng rng;
	char err[DC_ERRMAX] = "";
	int acceptable = fuzz_utf8_valid(p, size) && !memchr(data, '\0', size);
	const char *nul;
	size_t raw;
	enum dc_err rc;

	fuzz_rng_seed(&rng, data, size);
	rc = extract_bytes(EXTRACT_MARKDOWN, p, size, NULL, &doc, &why, err, sizeof err);
	if (rc != DC_OK) {
		FUZZ_CHECK(!acceptable);
		FUZZ_CHECK(rc == DC_BADREQ && why == INGEST_NOT_UTF8);
		FUZZ_CHECK(err[0] != '\0' && fuzz_utf8_valid(err, strlen(err)));
	} else {
		size_t want_len;
		char *want = normalized(data, size, &want_len);

		FUZZ_CHECK(acceptable);
		FUZZ_CHECK(doc.markdown == 1 && doc.nheadings == 0 && doc.npages == 0);
		FUZZ_CHECK(doc.len == want_len && memcmp(doc.text, want, want_len) == 0);
		FUZZ_CHECK(doc.text[doc.len] == '\0');
		free(want);
		chunk_and_check(doc.text, doc.len, &rng, &doc);
		extract_doc_free(&doc);
	}
	/* Raw text up to the first invalid byte or NUL (a heading path is a C string). */
	raw = utf8_valid_prefix(p, size);
	nul = memchr(p, '\0', raw);
	chunk_and_check(p, nul ? (size_t)(nul - p) : raw, &rng, NULL);
	return 0;
}
