/* auth.h - who is asking: the user name every session, message and uploaded document is
 * stored under.
 *
 * In this order:
 *   1. REMOTE_USER, when the web server authenticated the request itself (Basic or
 *      Digest auth, an SSO module). It is believed only together with AUTH_TYPE, which
 *      CGI (RFC 3875) servers set when they authenticated: nginx's stock fastcgi_params
 *      passes the user name of any Basic header as REMOTE_USER without checking a
 *      password, and without AUTH_TYPE that name is ignored.
 *   2. A bearer token (Authorization: Bearer dc_...) issued by `docchat token create`.
 *      A token that is malformed, unknown or revoked is refused (401), whatever
 *      DOCCHAT_AUTH says: a client that presents a credential means it.
 *   3. With DOCCHAT_AUTH=none only: the single local user "", the owner of the shared
 *      library. With DOCCHAT_AUTH=required (the default) the request is refused (401).
 *
 * Tokens are "dc_" and 43 base64url characters (32 random bytes from getrandom). Only
 * their SHA-256 is stored (store.h); a presented token is looked up by its first
 * AUTH_TOKEN_PREFIX_LEN characters and its hash compared in constant time. SHA-256
 * rather than a slow password hash: the token is 256 random bits, not something a
 * person chose, so a fast hash leaves nothing to guess.
 *
 * User names (from REMOTE_USER or `token create`) are 1 to AUTH_USER_MAX bytes of UTF-8
 * without control characters. The same name reached either way is the same user.
 * Knows nothing of HTTP: api.c reads the request's headers and answers. */
#ifndef DC_AUTH_H
#define DC_AUTH_H

#include <stddef.h>
#include "dc.h"

struct store;

#define AUTH_USER_MAX 128
#define AUTH_TOKEN_TAG "dc_"
#define AUTH_TOKEN_RANDOM_BYTES 32
#define AUTH_TOKEN_LEN 46		/* "dc_" + 43 base64url characters */
#define AUTH_TOKEN_PREFIX_LEN 8		/* "dc_" + 5: what lists show */
#define AUTH_TOUCH_S 60			/* last_used_at is written at most this often */
#define AUTH_REALM "docchat"

/* Where a request's user came from. */
enum auth_source {
	AUTH_SOURCE_LOCAL,	/* nothing presented, DOCCHAT_AUTH=none: user "" */
	AUTH_SOURCE_SERVER,	/* REMOTE_USER with AUTH_TYPE */
	AUTH_SOURCE_TOKEN	/* a bearer token */
};

/* A request's credentials as the web server passed them; NULL when not set. */
struct auth_credentials {
	const char *remote_user;	/* REMOTE_USER */
	const char *auth_type;		/* AUTH_TYPE */
	const char *authorization;	/* HTTP_AUTHORIZATION */
};

enum auth_result {
	AUTH_OK,
	AUTH_MISSING,		/* no credentials and DOCCHAT_AUTH=required: 401 */
	AUTH_INVALID,		/* a bearer token that is malformed, unknown or revoked: 401 */
	AUTH_BAD_USER,		/* REMOTE_USER is not a usable user name: 403 */
	AUTH_UNAVAILABLE	/* a token could not be checked (database): 503 */
};

struct auth_identity {
	char user[AUTH_USER_MAX + 1];
	enum auth_source source;
	long long token_id;	/* AUTH_SOURCE_TOKEN: the token's id, else 0 */
};

/* Decide who sends credentials c. required: DOCCHAT_AUTH=required. st is needed only
 * to check a token (NULL then gives AUTH_UNAVAILABLE). A token's last use is recorded
 * at most every AUTH_TOUCH_S seconds; failing to record it does not fail the request.
 * On AUTH_OK *who is filled; otherwise err says why (never quoting a token). */
enum auth_result auth_identify(struct store *st, int required, const struct auth_credentials *c,
			       struct auth_identity *who, char *err, size_t errlen);

/* Parse an Authorization header value: 1 when it is "Bearer" (any case), spaces and a
 * token (*token, *len point into value; the token's form is not checked here), 0 when
 * value is NULL, empty or another scheme (Basic, Digest: the web server's business),
 * -1 when it is "Bearer" without a token. */
int auth_bearer(const char *value, const char **token, size_t *len);

/* Is t[0..n) shaped like a docchat token ("dc_" and 43 base64url characters)? */
int auth_token_wellformed(const char *t, size_t n);

/* 1 when a[0..n) equals b[0..n), in time that depends on n only. */
int auth_equal(const void *a, const void *b, size_t n);

/* Is s[0..n) usable as a user name (see above)? */
int auth_user_valid(const char *s, size_t n);

/* Make a new token for user and store it. token gets its text, which exists nowhere
 * else: the caller shows it once and forgets it. *id gets the token's id. DC_BADREQ
 * for an unusable user name, DC_SYSTEM when no random bytes could be had. */
enum dc_err auth_token_create(struct store *st, const char *user,
			      char token[AUTH_TOKEN_LEN + 1], long long *id, char *err,
			      size_t errlen);

/* The SHA-256 of a token's text, as stored. */
void auth_token_hash(const char *token, size_t n, unsigned char out[32]);

#endif
