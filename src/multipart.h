/* multipart.h - splitting a multipart/form-data request body (RFC 7578) into its parts,
 * and the rule that turns a client's file name into one docchat may store.
 *
 * The whole body is in memory (request.c reads it within DOCCHAT_MAX_UPLOAD); parts
 * point into it, so nothing large is copied. Malformed input is DC_BADREQ with a cause
 * naming the part, never a crash or a read past the body. What the parts mean (which
 * are files, what to do with them) is left to the handlers. */
#ifndef DC_MULTIPART_H
#define DC_MULTIPART_H

#include <stddef.h>
#include "dc.h"

#define MULTIPART_MAX_HEADER 8192	/* bytes of one part's header block */
#define MULTIPART_BOUNDARY_MAX 70	/* RFC 2046's longest boundary */
#define MULTIPART_FILENAME_MAX 255	/* bytes of a cleaned file name */

struct multipart_part {
	char *name;		/* form field name, "" when the part gives none; owned */
	char *filename;		/* cleaned file name (see multipart_clean_filename), or NULL
				 * for a part that carries no file (no or an empty filename) */
	char *content_type;	/* the part's Content-Type value, or NULL; owned */
	const char *data;	/* the part's bytes: points into the parsed body, not owned */
	size_t len;
};

struct multipart {
	struct multipart_part *parts;	/* nparts entries, owned */
	size_t nparts;
};

/* Is content_type (a Content-Type header value, may be NULL) multipart/form-data? */
int multipart_is_form_data(const char *content_type);

/* Parse body[0..len) as multipart/form-data with the boundary named in content_type.
 * At most max_parts parts are accepted. On DC_OK *out holds the parts in order (none
 * when the body closes right after the first delimiter); their data points into body,
 * which must outlive *out. Free *out with multipart_free whatever the result (on error
 * it is empty). Errors: DC_BADREQ (malformed, too many parts, headers over
 * MULTIPART_MAX_HEADER, a file name that cannot be cleaned) with the cause in err;
 * DC_NOMEM. */
enum dc_err multipart_parse(const char *content_type, const char *body, size_t len,
			    size_t max_parts, struct multipart *out, char *err, size_t errlen);

/* Free what multipart_parse filled in and leave *mp empty. */
void multipart_free(struct multipart *mp);

/* Make a client's file name raw[0..n) safe to store and show: the directory part is
 * removed (everything up to the last '/' or '\'), control characters (C0, DEL, C1)
 * and bidirectional formatting characters become '_'. The result never contains a
 * path separator and is never "." or "..". On DC_OK *out is a malloc'd string the
 * caller frees. DC_BADREQ when the name is not UTF-8, is empty or only dots once its
 * directory is removed, or is longer than MULTIPART_FILENAME_MAX bytes; DC_NOMEM. */
enum dc_err multipart_clean_filename(const char *raw, size_t n, char **out,
				     char *err, size_t errlen);

#endif
