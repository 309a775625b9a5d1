/* http_stream.h - the HTTP transport to model servers, and quoting what they send.
 *
 * http_stream_run runs one request (a streaming POST or a short GET) on its own curl
 * multi handle, so that while the model is silent the caller's tick still runs at least
 * every 250 ms and can stop the transfer; stopping closes the TCP connection at once,
 * which is how the model server learns to stop generating. http_stream_start puts the
 * same request on a multi handle the caller drives (relay.c runs many at once on one
 * thread); the caller then reports its end, stops it, and asks for its outcome. Body bytes go to a data callback
 * as they arrive, in pieces of any size; this module knows nothing of SSE, NDJSON or
 * JSON bodies except for pulling the message out of an HTTP error reply.
 *
 * Error texts start with the provider name ("openai: ...") and never contain the URL's
 * user, password or query, nor the secret named in the request. curl_global_init is
 * the program's business (once, before threads), not this module's. */
#ifndef DC_HTTP_STREAM_H
#define DC_HTTP_STREAM_H

#include <stddef.h>
#include <curl/curl.h>
#include "dc.h"

struct json_object;

/* Receives n > 0 body bytes of a successful (status < 300) reply. On anything but DC_OK
 * the callback has written the cause into err; the transfer stops and the code is
 * returned by http_stream_run as is. */
typedef enum dc_err (*http_stream_data_fn)(void *ud, const char *p, size_t n,
					   char *err, size_t errlen);

struct http_stream_req {
	const char *provider;	/* starts every error text: "openai", "ollama" */
	const char *url;
	const char *body;	/* POST this; NULL makes a GET */
	size_t body_len;
	const char *const *headers;	/* NULL-terminated "Name: value" lines, or NULL */
	const char *secret;	/* replaced by "[redacted]" in any error text; may be NULL */
	int connect_s;		/* connect timeout (TCP and TLS); <= 0: curl's default */
	int idle_s;		/* longest silence once connected; <= 0: no limit */
	int total_s;		/* limit for the whole transfer; <= 0: none (streams) */
	http_stream_data_fn data;
	void *data_ud;
	enum dc_err (*tick)(void *ud);	/* may be NULL; see backend.h's tick */
	void *tick_ud;
};

/* Run the request. Returns:
 * - DC_OK when the reply's body ended, normally or because the connection broke after
 *   the reply began: only the body's parser knows whether it got a complete answer, so
 *   it must check at its own end of stream;
 * - the data callback's or the tick's code when one of them stopped the transfer
 *   (for a tick, err reads "<provider>: stopped: <dc_strerror text>");
 * - DC_UPSTREAM for HTTP status >= 300, err "<provider>: HTTP 404: <upstream's message>"
 *   (see http_stream_http_error), or when the server cannot be reached, err
 *   "<provider>: cannot reach <url>: <curl's text>", or answers nothing;
 * - DC_TIMEOUT after idle_s of silence, err "<provider>: no data from the model server
 *   for N s", or when total_s ran out;
 * - DC_NOMEM, DC_SYSTEM when curl itself fails.
 * *status (if non-NULL) gets the HTTP status, 0 if none arrived. */
enum dc_err http_stream_run(const struct http_stream_req *req, long *status,
			    char *err, size_t errlen);

/* One transfer on a caller's multi handle. */
struct http_stream;

/* Add req's transfer to multi. req, multi and err (errlen bytes) must outlive it: the
 * data callback and the outcome write err. On failure nothing is left behind. The
 * caller drives multi, and for every CURLMSG_DONE calls http_stream_done on
 * http_stream_of(msg->easy_handle); tick is not called (the caller ticks). */
enum dc_err http_stream_start(const struct http_stream_req *req, CURLM *multi,
			      struct http_stream **out, char *err, size_t errlen);

/* The transfer an easy handle belongs to (NULL if none). */
struct http_stream *http_stream_of(CURL *easy);

/* A pointer the caller keeps with the transfer (NULL until set). */
void http_stream_set_owner(struct http_stream *x, void *owner);
void *http_stream_owner(const struct http_stream *x);

/* curl reported the transfer's end with result. */
void http_stream_done(struct http_stream *x, CURLcode result);

/* Has the connected transfer been silent for req->idle_s at now (CLOCK_MONOTONIC ms)?
 * Once it has, the outcome is the silence error; the caller ends it. A paused transfer
 * is never silent. */
int http_stream_silent(struct http_stream *x, long long now);

/* The caller stops the transfer for why (DC_HUP, DC_ABORT, ...): the outcome becomes
 * why with err "<provider>: stopped: <dc_strerror text>". End it next. */
void http_stream_stop(struct http_stream *x, enum dc_err why);

/* Pause (1) or resume (0) receiving, e.g. while the client's side is backed up. */
void http_stream_pause(struct http_stream *x, int pause);

/* Take the transfer off its multi handle (closing an unfinished connection), free it and
 * return its outcome as http_stream_run would. */
enum dc_err http_stream_end(struct http_stream *x, long *status);

/* Build the error for an HTTP reply with the given status and body (body need not be
 * NUL-terminated): "<provider>: HTTP <status>: <message>", where the message is
 * OpenAI's error.message, Ollama's error string, a "message" or "detail" string, or
 * else a short excerpt of the body with markup and control characters removed; just
 * "<provider>: HTTP <status>" for an empty body. Returns DC_UPSTREAM. */
enum dc_err http_stream_http_error(const char *provider, long status, const char *body,
				   size_t len, char *err, size_t errlen);

/* Copy at most max bytes of upstream text p (n bytes) into out (outlen bytes, always
 * NUL-terminated) so that it is safe to show: runs of control characters and
 * whitespace become one space, the ends are trimmed, bytes that are not valid UTF-8
 * become "?", a character is never cut, and "..." marks a cut. */
void http_stream_quote(const char *p, size_t n, size_t max, char *out, size_t outlen);

/* Parse upstream bytes p (n, need not be NUL-terminated) as exactly one JSON object,
 * whitespace around it allowed. Returns a new reference the caller puts, or NULL when
 * it is anything else (or on no memory). */
struct json_object *http_stream_json_object(const char *p, size_t n);

/* Read a model server's list of models: body must be a JSON object whose member
 * array_key is an array of objects, each with a non-empty string member name_key (OpenAI
 * {"data":[{"id":..}]}, Ollama {"models":[{"name":..}]}); entries without one are
 * skipped. *names gets the names sorted, a malloc'd array of malloc'd strings (free
 * each, then the array). A body of any other shape is DC_UPSTREAM, err
 * "<provider>: the model list from the model server is malformed: <excerpt>". */
enum dc_err http_stream_names(const char *provider, const char *body, size_t len,
			      const char *array_key, const char *name_key, char ***names,
			      size_t *n, char *err, size_t errlen);

#endif
