/* auth.c - identities and API tokens (see auth.h for the order of the checks).
 *
 * A presented token is handled without timing differences that would help to guess
 * one: its shape is checked, its hash computed, the candidates sharing its prefix (the
 * displayed part, no secret) are read, and each stored hash is compared with
 * auth_equal, which looks at every byte whatever the first difference. */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "auth.h"
#include "sha256.h"
#include "store.h"
#include "utf8.h"

#define TOKEN_BODY_LEN (AUTH_TOKEN_LEN - (sizeof(AUTH_TOKEN_TAG) - 1))
#define BEARER "Bearer"

_Static_assert(STORE_TOKEN_HASH_LEN == SHA256_DIGEST_LEN, "tokens are stored as SHA-256");
_Static_assert(TOKEN_BODY_LEN == (AUTH_TOKEN_RANDOM_BYTES * 4 + 2) / 3,
	       "AUTH_TOKEN_LEN is the tag and the unpadded base64url of the random bytes");

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int auth_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char diff = 0;
	size_t i;

	for (i = 0; i < n; i++)
		diff |= (unsigned char)(x[i] ^ y[i]);
	return diff == 0;
}

int auth_user_valid(const char *s, size_t n)
{
	unsigned long cp;
	size_t i, len;

	if (!s || n == 0 || n > AUTH_USER_MAX || !utf8_valid(s, n))
		return 0;
	for (i = 0; i < n; i += len) {
		len = utf8_decode(s + i, n - i, &cp);
		if (len == 0)
			return 0;
		/* C0 and C1 controls, DEL: they would break log lines and terminal tables. */
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return 0;
	}
	return 1;
}

static int b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

int auth_token_wellformed(const char *t, size_t n)
{
	size_t tag = sizeof(AUTH_TOKEN_TAG) - 1, i;

	if (!t || n != AUTH_TOKEN_LEN || memcmp(t, AUTH_TOKEN_TAG, tag) != 0)
		return 0;
	for (i = tag; i < n; i++)
		if (!b64url_char(t[i]))
			return 0;
	return 1;
}

int auth_bearer(const char *value, const char **token, size_t *len)
{
	size_t n = sizeof(BEARER) - 1, start, end;

	*token = NULL;
	*len = 0;
	if (!value || !*value)
		return 0;
	/* RFC 9110: the scheme is case-insensitive; one or more spaces follow it. */
	if (strncasecmp(value, BEARER, n) != 0 || (value[n] != ' ' && value[n] != '\0'))
		return 0;
	start = n + strspn(value + n, " ");
	end = start + strcspn(value + start, " \t");
	if (end == start)
		return -1;
	if (value[end + strspn(value + end, " \t")] != '\0')
		return -1;	/* something after the token */
	*token = value + start;
	*len = end - start;
	return 1;
}

void auth_token_hash(const char *token, size_t n, unsigned char out[32])
{
	sha256(token, n, out);
}

/* Check token t (well-formed) against the stored hashes; fills who on success. */
static enum auth_result check_token(struct store *st, const char *t, size_t n,
				    struct auth_identity *who, char *err, size_t errlen)
{
	char prefix[AUTH_TOKEN_PREFIX_LEN + 1], sub[DC_ERRMAX];
	unsigned char hash[SHA256_DIGEST_LEN];
	struct store_token *rows = NULL;
	const struct store_token *found = NULL;
	enum auth_result res = AUTH_INVALID;
	size_t nrows = 0, i;
	long long now;

	if (!st) {
		dc_fail(err, errlen, DC_DB, "the token cannot be checked: the database is "
			"unavailable");
		return AUTH_UNAVAILABLE;
	}
	memcpy(prefix, t, AUTH_TOKEN_PREFIX_LEN);
	prefix[AUTH_TOKEN_PREFIX_LEN] = '\0';
	auth_token_hash(t, n, hash);
	if (store_token_find(st, prefix, &rows, &nrows, sub, sizeof sub) != DC_OK) {
		dc_fail(err, errlen, DC_DB, "the token cannot be checked: %s", sub);
		res = AUTH_UNAVAILABLE;
		goto out;
	}
	/* Every candidate is compared, so the time taken does not say which one matched. */
	for (i = 0; i < nrows; i++)
		if (auth_equal(rows[i].hash, hash, sizeof hash))
			found = &rows[i];
	if (!found || found->revoked_at) {
		dc_fail(err, errlen, DC_BADREQ, "the token is invalid or revoked");
		goto out;
	}
	if (!auth_user_valid(found->user, strlen(found->user))) {
		/* Only a database edited by hand gets here (token create checks names). */
		dc_fail(err, errlen, DC_BADREQ, "the token is invalid or revoked");
		goto out;
	}
	memcpy(who->user, found->user, strlen(found->user) + 1);
	who->source = AUTH_SOURCE_TOKEN;
	who->token_id = found->id;
	/* last_used_at is for people reading `docchat token list`; writing it on every
	 * request would queue every reader behind SQLite's write lock, and a failed write
	 * must not lock the user out. */
	now = (long long)time(NULL);
	if (now - found->last_used_at >= AUTH_TOUCH_S)
		(void)store_token_touch(st, found->id, now, sub, sizeof sub);
	res = AUTH_OK;
out:
	store_tokens_free(rows, nrows);
	return res;
}

enum auth_result auth_identify(struct store *st, int required, const struct auth_credentials *c,
			       struct auth_identity *who, char *err, size_t errlen)
{
	const char *token;
	size_t len;
	int bearer;

	memset(who, 0, sizeof *who);
	if (c->remote_user && *c->remote_user && c->auth_type && *c->auth_type) {
		len = strlen(c->remote_user);
		if (!auth_user_valid(c->remote_user, len)) {
			dc_fail(err, errlen, DC_BADREQ, "the user name the web server authenticated "
				"is not usable (over %d bytes, not UTF-8, or control characters)",
				AUTH_USER_MAX);
			return AUTH_BAD_USER;
		}
		memcpy(who->user, c->remote_user, len + 1);
		who->source = AUTH_SOURCE_SERVER;
		return AUTH_OK;
	}
	bearer = auth_bearer(c->authorization, &token, &len);
	if (bearer < 0 || (bearer > 0 && !auth_token_wellformed(token, len))) {
		dc_fail(err, errlen, DC_BADREQ, "the token is invalid or revoked");
		return AUTH_INVALID;
	}
	if (bearer > 0)
		return check_token(st, token, len, who, err, errlen);
	if (required) {
		if (c->remote_user && *c->remote_user)
			dc_fail(err, errlen, DC_BADREQ, "authentication required (REMOTE_USER came "
				"without AUTH_TYPE and is not trusted)");
		else
			dc_fail(err, errlen, DC_BADREQ, "authentication required");
		return AUTH_MISSING;
	}
	who->source = AUTH_SOURCE_LOCAL;
	return AUTH_OK;
}

/* n random bytes from the kernel, waiting for its pool at boot if it must. */
static enum dc_err random_bytes(unsigned char *p, size_t n, char *err, size_t errlen)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = getrandom(p + got, n - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return dc_fail(err, errlen, DC_SYSTEM, "getrandom: %s", strerror(errno));
		}
		got += (size_t)r;
	}
	return DC_OK;
}

/* Unpadded base64url of in[0..n) into out, which has room for (4n + 2) / 3 + 1. */
static void base64url(const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0;
	unsigned long v;

	for (i = 0; i + 3 <= n; i += 3) {
		v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned long)in[i] << 16;
		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
	} else if (n - i == 2) {
		v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8;
		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
	}
	out[o] = '\0';
}

enum dc_err auth_token_create(struct store *st, const char *user,
			      char token[AUTH_TOKEN_LEN + 1], long long *id, char *err,
			      size_t errlen)
{
	unsigned char raw[AUTH_TOKEN_RANDOM_BYTES], hash[SHA256_DIGEST_LEN];
	char prefix[AUTH_TOKEN_PREFIX_LEN + 1];
	size_t tag = sizeof(AUTH_TOKEN_TAG) - 1;
	enum dc_err rc;

	token[0] = '\0';
	*id = 0;
	if (!user || !auth_user_valid(user, strlen(user)))
		return dc_fail(err, errlen, DC_BADREQ, "a user name is 1 to %d bytes of UTF-8 "
			       "without control characters", AUTH_USER_MAX);
	rc = random_bytes(raw, sizeof raw, err, errlen);
	if (rc != DC_OK)
		goto out;
	memcpy(token, AUTH_TOKEN_TAG, tag);
	base64url(raw, sizeof raw, token + tag);
	auth_token_hash(token, AUTH_TOKEN_LEN, hash);
	memcpy(prefix, token, AUTH_TOKEN_PREFIX_LEN);
	prefix[AUTH_TOKEN_PREFIX_LEN] = '\0';
	rc = store_token_add(st, user, prefix, hash, id, err, errlen);
out:
	explicit_bzero(raw, sizeof raw);
	if (rc != DC_OK)
		explicit_bzero(token, AUTH_TOKEN_LEN + 1);
	return rc;
}
