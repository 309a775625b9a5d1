/* testpdf.h - a minimal valid PDF for the extraction and ingestion tests, written the
 * way the PDF reference lays one out: a catalog, a page tree, one page per entry of
 * pages (NULL: a page without text) showing the text in Helvetica, and a cross-reference
 * table with every object's byte offset. Include it after buf.h. */
#ifndef DC_TESTPDF_H
#define DC_TESTPDF_H

static void make_pdf(struct buf *b, const char *const *pages, size_t n)
{
	long offs[32];
	size_t nobj = 0, i;
	struct buf s;

	buf_init(b, 1 << 20);
	buf_init(&s, 1 << 16);
	buf_appends(b, "%PDF-1.4\n");
	offs[nobj++] = (long)b->len;
	buf_printf(b, "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
	offs[nobj++] = (long)b->len;
	buf_printf(b, "2 0 obj\n<< /Type /Pages /Kids [");
	for (i = 0; i < n; i++)
		buf_printf(b, "%s%zu 0 R", i ? " " : "", 3 + 2 * i);
	buf_printf(b, "] /Count %zu >>\nendobj\n", n);
	for (i = 0; i < n; i++) {
		buf_reset(&s);
		if (pages[i])
			buf_printf(&s, "BT /F1 18 Tf 72 700 Td (%s) Tj ET", pages[i]);
		offs[nobj++] = (long)b->len;
		buf_printf(b, "%zu 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
			   " /Resources << /Font << /F1 %zu 0 R >> >> /Contents %zu 0 R >>\n"
			   "endobj\n", 3 + 2 * i, 3 + 2 * n, 4 + 2 * i);
		offs[nobj++] = (long)b->len;
		buf_printf(b, "%zu 0 obj\n<< /Length %zu >>\nstream\n%s\nendstream\nendobj\n",
			   4 + 2 * i, s.len, buf_str(&s));
	}
	offs[nobj++] = (long)b->len;
	buf_printf(b, "%zu 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\n"
		   "endobj\n", 3 + 2 * n);
	i = b->len;
	buf_printf(b, "xref\n0 %zu\n0000000000 65535 f \n", nobj + 1);
	for (size_t k = 0; k < nobj; k++)
		buf_printf(b, "%010ld 00000 n \n", offs[k]);
	buf_printf(b, "trailer\n<< /Size %zu /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n",
		   nobj + 1, i);
	buf_free(&s);
}

#endif
