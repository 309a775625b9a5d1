/* fcgi_record.c - FastCGI record framing for handed-over requests (see fcgi_record.h).
 *
 * The layout is the FastCGI 1.0 specification's: an 8-byte header (version 1, type,
 * request id and content length big-endian, padding length, reserved) and the content.
 * No padding is added; the specification only recommends it. */
#include "fcgi_record.h"

#define FCGI_VERSION 1
#define FCGI_END_REQUEST 3
#define FCGI_STDOUT 6
#define FCGI_REQUEST_COMPLETE 0

static enum dc_err header(struct buf *out, int type, int request_id, size_t len)
{
	unsigned char h[FCGI_RECORD_HEADER] = {
		FCGI_VERSION, (unsigned char)type,
		(unsigned char)((request_id >> 8) & 0xff), (unsigned char)(request_id & 0xff),
		(unsigned char)((len >> 8) & 0xff), (unsigned char)(len & 0xff), 0, 0
	};

	return buf_append(out, h, sizeof h);
}

enum dc_err fcgi_record_stdout(struct buf *out, int request_id, const char *p, size_t n)
{
	enum dc_err rc = DC_OK;

	while (n > 0 && rc == DC_OK) {
		size_t part = n > FCGI_RECORD_CONTENT_MAX ? FCGI_RECORD_CONTENT_MAX : n;

		rc = header(out, FCGI_STDOUT, request_id, part);
		if (rc == DC_OK)
			rc = buf_append(out, p, part);
		p += part;
		n -= part;
	}
	return rc;
}

enum dc_err fcgi_record_end(struct buf *out, int request_id, int app_status)
{
	unsigned int st = (unsigned int)app_status;
	unsigned char body[8] = {
		(unsigned char)(st >> 24), (unsigned char)(st >> 16), (unsigned char)(st >> 8),
		(unsigned char)st, FCGI_REQUEST_COMPLETE, 0, 0, 0
	};
	enum dc_err rc = header(out, FCGI_STDOUT, request_id, 0);

	if (rc == DC_OK)
		rc = header(out, FCGI_END_REQUEST, request_id, sizeof body);
	if (rc == DC_OK)
		rc = buf_append(out, body, sizeof body);
	return rc;
}
