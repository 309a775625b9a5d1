/* fcgi_record.h - writing FastCGI records for a request whose connection docchat owns.
 *
 * libfcgi writes the records of requests it serves; once a stream is handed over to
 * relay.c (conn_detach), relay.c writes the rest itself, non-blocking, with these:
 * the response bytes as FCGI_STDOUT records, then the end of the stream and
 * FCGI_END_REQUEST. Only appends to a buffer; knows nothing of sockets. */
#ifndef DC_FCGI_RECORD_H
#define DC_FCGI_RECORD_H

#include <stddef.h>
#include "buf.h"
#include "dc.h"

#define FCGI_RECORD_HEADER 8
#define FCGI_RECORD_CONTENT_MAX 65535

/* Append p (n bytes, n may be 0: nothing is appended) as FCGI_STDOUT records of
 * request_id, split at FCGI_RECORD_CONTENT_MAX. DC_NOMEM/DC_TOOBIG from buf. */
enum dc_err fcgi_record_stdout(struct buf *out, int request_id, const char *p, size_t n);

/* Append the end of request_id: an empty FCGI_STDOUT record (end of output) and
 * FCGI_END_REQUEST with protocol status "request complete" and app_status. */
enum dc_err fcgi_record_end(struct buf *out, int request_id, int app_status);

#endif
