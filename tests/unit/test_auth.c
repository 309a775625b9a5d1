/* test_auth.c - who is asking (auth.c) and which origins may ask (cors.c).
 *
 * Identity order on a real in-memory store: REMOTE_USER with AUTH_TYPE before a bearer
 * token before the local user, REMOTE_USER without AUTH_TYPE ignored, invalid, revoked
 * and malformed tokens refused in both modes, unusable user names refused. Tokens:
 * their shape, what is stored (prefix and the SHA-256, never the text), last use.
 * Authorization header parsing, the constant-time comparison's results, user names.
 * CORS: the verdict for every kind of request, the allowlist checks with their exact
 * messages, and the exact header lines. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "buf.h"
#include "check.h"
#include "cors.h"
#include "sha256.h"
#include "store.h"

#define GOOD_TOKEN "dc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static struct store *open_memory(void)
{
	struct store *st = NULL;
	char err[DC_ERRMAX];

	if (store_open(":memory:", &st, err, sizeof err) != DC_OK)
		printf("# store_open: %s\n", err);
	return st;
}

/* ---- Authorization header and token shape ---- */

static void test_bearer_parse(void)
{
	const char *t = NULL;
	size_t n = 0;

	CHECK_INT(auth_bearer(NULL, &t, &n), 0);
	CHECK_INT(auth_bearer("", &t, &n), 0);
	CHECK_INT(auth_bearer("Basic YWxpY2U6cw==", &t, &n), 0);
	CHECK_INT(auth_bearer("Digest username=\"a\"", &t, &n), 0);
	CHECK_INT(auth_bearer("Bearertoken", &t, &n), 0);
	CHECK_INT(auth_bearer("Bearer", &t, &n), -1);
	CHECK_INT(auth_bearer("Bearer   ", &t, &n), -1);
	CHECK_INT(auth_bearer("Bearer a b", &t, &n), -1);
	CHECK_INT(auth_bearer("Bearer " GOOD_TOKEN, &t, &n), 1);
	CHECK_INT(n, strlen(GOOD_TOKEN));
	CHECK(t && strncmp(t, GOOD_TOKEN, n) == 0);
	/* The scheme in any case, several spaces before the token, blanks after it. */
	CHECK_INT(auth_bearer("bEaReR  " GOOD_TOKEN " \t", &t, &n), 1);
	CHECK_INT(n, strlen(GOOD_TOKEN));
	CHECK(t && strncmp(t, GOOD_TOKEN, n) == 0);
}

static void test_token_shape(void)
{
	char t[AUTH_TOKEN_LEN + 2];

	CHECK_INT(strlen(GOOD_TOKEN), AUTH_TOKEN_LEN);
	CHECK(auth_token_wellformed(GOOD_TOKEN, AUTH_TOKEN_LEN));
	CHECK(!auth_token_wellformed(GOOD_TOKEN, AUTH_TOKEN_LEN - 1));
	CHECK(!auth_token_wellformed(NULL, 0));
	memcpy(t, GOOD_TOKEN, AUTH_TOKEN_LEN + 1);
	t[0] = 'D';
	CHECK(!auth_token_wellformed(t, AUTH_TOKEN_LEN));	/* the tag is "dc_" */
	memcpy(t, GOOD_TOKEN "A", AUTH_TOKEN_LEN + 2);
	CHECK(!auth_token_wellformed(t, AUTH_TOKEN_LEN + 1));	/* one too long */
	memcpy(t, GOOD_TOKEN, AUTH_TOKEN_LEN + 1);
	t[10] = '+';	/* base64, not base64url */
	CHECK(!auth_token_wellformed(t, AUTH_TOKEN_LEN));
	t[10] = '=';
	CHECK(!auth_token_wellformed(t, AUTH_TOKEN_LEN));
	t[10] = '-';
	CHECK(auth_token_wellformed(t, AUTH_TOKEN_LEN));
	t[10] = '_';
	CHECK(auth_token_wellformed(t, AUTH_TOKEN_LEN));
}

static void test_constant_time_equal(void)
{
	unsigned char a[32], b[32];

	memset(a, 0x5a, sizeof a);
	memcpy(b, a, sizeof b);
	CHECK_INT(auth_equal(a, b, sizeof a), 1);
	CHECK_INT(auth_equal(a, b, 0), 1);
	b[0] ^= 1;	/* a difference in the first byte ... */
	CHECK_INT(auth_equal(a, b, sizeof a), 0);
	b[0] ^= 1;
	b[31] ^= 0x80;	/* ... and in the last are both found */
	CHECK_INT(auth_equal(a, b, sizeof a), 0);
	CHECK_INT(auth_equal(a, b, 31), 1);
}

static void test_user_names(void)
{
	char longest[AUTH_USER_MAX + 2];

	memset(longest, 'u', sizeof longest);
	CHECK(auth_user_valid("alice", 5));
	CHECK(auth_user_valid("José Müller", strlen("José Müller")));
	CHECK(auth_user_valid("日本", strlen("日本")));
	CHECK(auth_user_valid("alice@example.org", 17));
	CHECK(auth_user_valid(longest, AUTH_USER_MAX));
	CHECK(!auth_user_valid(longest, AUTH_USER_MAX + 1));
	CHECK(!auth_user_valid("", 0));
	CHECK(!auth_user_valid(NULL, 0));
	CHECK(!auth_user_valid("a\nb", 3));
	CHECK(!auth_user_valid("a\tb", 3));
	CHECK(!auth_user_valid("a\x7f", 2));
	CHECK(!auth_user_valid("a\xc2\x85", 3));	/* U+0085, a C1 control */
	CHECK(!auth_user_valid("a\xff", 2));		/* not UTF-8 */
	CHECK(!auth_user_valid("a\0b", 3));
}

/* ---- tokens in the store ---- */

static void test_token_create_stores_only_the_hash(void)
{
	struct store *st = open_memory();
	char token[AUTH_TOKEN_LEN + 1], other[AUTH_TOKEN_LEN + 1], err[DC_ERRMAX];
	unsigned char hash[SHA256_DIGEST_LEN];
	struct store_token *rows = NULL;
	size_t n = 0;
	long long id = 0, id2 = 0;

	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_INT(auth_token_create(st, "alice", token, &id, err, sizeof err), DC_OK);
	CHECK_INT(id, 1);
	CHECK_INT(strlen(token), AUTH_TOKEN_LEN);
	CHECK(auth_token_wellformed(token, strlen(token)));
	CHECK_INT(auth_token_create(st, "alice", other, &id2, err, sizeof err), DC_OK);
	CHECK_INT(id2, 2);
	CHECK(strcmp(token, other) != 0);
	CHECK_INT(store_token_list(st, &rows, &n, err, sizeof err), DC_OK);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(rows[0].user, "alice");
		CHECK_INT(strlen(rows[0].prefix), AUTH_TOKEN_PREFIX_LEN);
		CHECK(strncmp(rows[0].prefix, token, AUTH_TOKEN_PREFIX_LEN) == 0);
		sha256(token, strlen(token), hash);
		CHECK(memcmp(rows[0].hash, hash, sizeof hash) == 0);
		CHECK_INT(rows[0].last_used_at, 0);
		CHECK_INT(rows[0].revoked_at, 0);
		CHECK(rows[0].created_at > 0);
	}
	store_tokens_free(rows, n);
	/* No token for the shared owner "" or for names that are not user names. */
	CHECK_INT(auth_token_create(st, "", token, &id, err, sizeof err), DC_BADREQ);
	CHECK_STR(err, "a user name is 1 to 128 bytes of UTF-8 without control characters");
	CHECK_STR(token, "");
	CHECK_INT(auth_token_create(st, "a\nb", token, &id, err, sizeof err), DC_BADREQ);
	CHECK_INT(store_token_list(st, &rows, &n, err, sizeof err), DC_OK);
	CHECK_INT(n, 2);
	store_tokens_free(rows, n);
	store_close(st);
}

/* auth_identify with these credentials; returns the result, fills who and err. */
static enum auth_result identify(struct store *st, int required, const char *remote_user,
				 const char *auth_type, const char *authorization,
				 struct auth_identity *who, char *err)
{
	struct auth_credentials c = { remote_user, auth_type, authorization };

	err[0] = '\0';
	return auth_identify(st, required, &c, who, err, DC_ERRMAX);
}

static void test_identity_order(void)
{
	struct store *st = open_memory();
	char bob[AUTH_TOKEN_LEN + 1], header[64], err[DC_ERRMAX];
	struct auth_identity who;
	long long id;

	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_INT(auth_token_create(st, "bob", bob, &id, err, sizeof err), DC_OK);
	snprintf(header, sizeof header, "Bearer %s", bob);

	/* 1. The web server's own authentication wins over a token. */
	CHECK_INT(identify(st, 1, "alice", "Basic", header, &who, err), AUTH_OK);
	CHECK_STR(who.user, "alice");
	CHECK_INT(who.source, AUTH_SOURCE_SERVER);
	CHECK_INT(who.token_id, 0);
	CHECK_INT(identify(st, 0, "alice", "Digest", NULL, &who, err), AUTH_OK);
	CHECK_STR(who.user, "alice");

	/* REMOTE_USER without AUTH_TYPE is not the server's: the token decides ... */
	CHECK_INT(identify(st, 1, "alice", NULL, header, &who, err), AUTH_OK);
	CHECK_STR(who.user, "bob");
	CHECK_INT(who.source, AUTH_SOURCE_TOKEN);
	CHECK_INT(who.token_id, id);
	CHECK_INT(identify(st, 1, "alice", "", header, &who, err), AUTH_OK);
	CHECK_STR(who.user, "bob");
	/* ... or, with nothing else, it is as if nothing had been sent. */
	CHECK_INT(identify(st, 1, "alice", NULL, NULL, &who, err), AUTH_MISSING);
	CHECK_STR(err, "authentication required (REMOTE_USER came without AUTH_TYPE and is "
		  "not trusted)");
	CHECK_INT(identify(st, 0, "alice", NULL, NULL, &who, err), AUTH_OK);
	CHECK_STR(who.user, "");
	CHECK_INT(who.source, AUTH_SOURCE_LOCAL);

	/* 2. A token alone. */
	CHECK_INT(identify(st, 1, NULL, NULL, header, &who, err), AUTH_OK);
	CHECK_STR(who.user, "bob");
	CHECK_INT(identify(st, 0, "", "", header, &who, err), AUTH_OK);
	CHECK_STR(who.user, "bob");

	/* 3. Nothing: refused when required, the local user "" when not. A Basic header
	 * the web server did not check counts as nothing. */
	CHECK_INT(identify(st, 1, NULL, NULL, NULL, &who, err), AUTH_MISSING);
	CHECK_STR(err, "authentication required");
	CHECK_INT(identify(st, 1, NULL, NULL, "Basic Ym9iOng=", &who, err), AUTH_MISSING);
	CHECK_INT(identify(st, 0, NULL, NULL, NULL, &who, err), AUTH_OK);
	CHECK_STR(who.user, "");
	CHECK_INT(who.source, AUTH_SOURCE_LOCAL);
	CHECK_INT(identify(st, 0, NULL, NULL, "Basic Ym9iOng=", &who, err), AUTH_OK);
	CHECK_STR(who.user, "");
	store_close(st);
}

static void test_bad_tokens_refused_in_both_modes(void)
{
	struct store *st = open_memory();
	char bob[AUTH_TOKEN_LEN + 1], header[64], err[DC_ERRMAX];
	struct auth_identity who;
	long long id;
	int required;

	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_INT(auth_token_create(st, "bob", bob, &id, err, sizeof err), DC_OK);
	for (required = 0; required <= 1; required++) {
		/* Well-formed but never issued; malformed; empty. */
		CHECK_INT(identify(st, required, NULL, NULL, "Bearer " GOOD_TOKEN, &who, err),
			  AUTH_INVALID);
		CHECK_STR(err, "the token is invalid or revoked");
		CHECK_STR(who.user, "");
		CHECK_INT(identify(st, required, NULL, NULL, "Bearer dc_short", &who, err),
			  AUTH_INVALID);
		CHECK_STR(err, "the token is invalid or revoked");
		CHECK_INT(identify(st, required, NULL, NULL, "Bearer", &who, err), AUTH_INVALID);
		/* Bob's token with one character changed. */
		snprintf(header, sizeof header, "Bearer %s", bob);
		header[20] = header[20] == 'A' ? 'B' : 'A';
		CHECK_INT(identify(st, required, NULL, NULL, header, &who, err), AUTH_INVALID);
	}
	/* Revoked: refused from then on, and the message never quotes the token. */
	snprintf(header, sizeof header, "Bearer %s", bob);
	CHECK_INT(identify(st, 1, NULL, NULL, header, &who, err), AUTH_OK);
	CHECK_INT(store_token_revoke(st, id, err, sizeof err), DC_OK);
	CHECK_INT(store_token_revoke(st, id, err, sizeof err), DC_NOTFOUND);
	CHECK_INT(identify(st, 1, NULL, NULL, header, &who, err), AUTH_INVALID);
	CHECK_STR(err, "the token is invalid or revoked");
	CHECK(strstr(err, bob + 3) == NULL);
	CHECK_INT(identify(st, 0, NULL, NULL, header, &who, err), AUTH_INVALID);
	/* A token cannot be checked without the database. */
	CHECK_INT(auth_token_create(st, "carol", bob, &id, err, sizeof err), DC_OK);
	snprintf(header, sizeof header, "Bearer %s", bob);
	CHECK_INT(identify(NULL, 1, NULL, NULL, header, &who, err), AUTH_UNAVAILABLE);
	CHECK_STR(err, "the token cannot be checked: the database is unavailable");
	store_close(st);
}

static void test_unusable_remote_user(void)
{
	struct auth_identity who;
	char err[DC_ERRMAX], longest[AUTH_USER_MAX + 2];

	CHECK_INT(identify(NULL, 1, "a\nb", "Basic", NULL, &who, err), AUTH_BAD_USER);
	CHECK_STR(err, "the user name the web server authenticated is not usable (over 128 "
		  "bytes, not UTF-8, or control characters)");
	memset(longest, 'u', sizeof longest - 1);
	longest[sizeof longest - 1] = '\0';
	CHECK_INT(identify(NULL, 1, longest, "Basic", NULL, &who, err), AUTH_BAD_USER);
	longest[AUTH_USER_MAX] = '\0';
	CHECK_INT(identify(NULL, 1, longest, "Basic", NULL, &who, err), AUTH_OK);
	CHECK_STR(who.user, longest);
}

static void test_last_use_recorded(void)
{
	struct store *st = open_memory();
	char tok[AUTH_TOKEN_LEN + 1], header[64], err[DC_ERRMAX];
	struct auth_identity who;
	struct store_token *rows = NULL;
	size_t n = 0;
	long long id, before = (long long)time(NULL);

	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_INT(auth_token_create(st, "dave", tok, &id, err, sizeof err), DC_OK);
	snprintf(header, sizeof header, "Bearer %s", tok);
	CHECK_INT(identify(st, 1, NULL, NULL, header, &who, err), AUTH_OK);
	CHECK_INT(store_token_find(st, "nothing", &rows, &n, err, sizeof err), DC_OK);
	CHECK_INT(n, 0);
	memcpy(header, tok, AUTH_TOKEN_PREFIX_LEN);
	header[AUTH_TOKEN_PREFIX_LEN] = '\0';
	CHECK_INT(store_token_find(st, header, &rows, &n, err, sizeof err), DC_OK);
	CHECK_INT(n, 1);
	if (n == 1) {
		CHECK(rows[0].last_used_at >= before);
		CHECK(rows[0].last_used_at <= (long long)time(NULL));
	}
	store_tokens_free(rows, n);
	store_close(st);
}

/* ---- CORS ---- */

static enum cors_verdict decide(const char *list, const char *method, const char *origin,
				const char *acrm, const char *site)
{
	struct cors_request q = { method, origin, acrm, site };

	return cors_decide(list, &q);
}

static void test_cors_decisions(void)
{
	static const char list[] = " https://app.example.com,http://localhost:8080\thttp://[::1]:3000 ";

	CHECK_INT(cors_enabled(list), 1);
	CHECK_INT(cors_enabled(""), 0);
	CHECK_INT(cors_enabled(" ,\t"), 0);
	CHECK_INT(cors_enabled(NULL), 0);
	CHECK(cors_allowed(list, "https://app.example.com"));
	CHECK(cors_allowed(list, "http://localhost:8080"));
	CHECK(cors_allowed(list, "http://[::1]:3000"));
	/* Exact, byte for byte. */
	CHECK(!cors_allowed(list, "https://app.example.co"));
	CHECK(!cors_allowed(list, "https://app.example.com.evil.net"));
	CHECK(!cors_allowed(list, "https://app.example.com/"));
	CHECK(!cors_allowed(list, "https://APP.example.com"));
	CHECK(!cors_allowed(list, "http://app.example.com"));
	CHECK(!cors_allowed(list, "http://localhost"));
	CHECK(!cors_allowed(list, ""));
	CHECK(!cors_allowed(list, NULL));

	/* Same-origin and non-browser requests. */
	CHECK_INT(decide(list, "GET", NULL, NULL, NULL), CORS_PASS);
	CHECK_INT(decide(list, "POST", NULL, NULL, "same-origin"), CORS_PASS);
	CHECK_INT(decide(list, "DELETE", NULL, NULL, NULL), CORS_PASS);
	/* An allowed origin, any method, any site. */
	CHECK_INT(decide(list, "GET", "https://app.example.com", NULL, "cross-site"), CORS_ALLOW);
	CHECK_INT(decide(list, "POST", "https://app.example.com", NULL, "cross-site"), CORS_ALLOW);
	CHECK_INT(decide(list, "DELETE", "http://localhost:8080", NULL, "same-site"), CORS_ALLOW);
	/* Preflights. */
	CHECK_INT(decide(list, "OPTIONS", "https://app.example.com", "DELETE", "cross-site"),
		  CORS_PREFLIGHT_OK);
	CHECK_INT(decide(list, "OPTIONS", "https://evil.example", "POST", "cross-site"),
		  CORS_PREFLIGHT_DENIED);
	CHECK_INT(decide("", "OPTIONS", "https://app.example.com", "POST", NULL),
		  CORS_PREFLIGHT_DENIED);
	/* OPTIONS without Access-Control-Request-Method is no preflight. */
	CHECK_INT(decide(list, "OPTIONS", "https://app.example.com", NULL, NULL), CORS_ALLOW);
	CHECK_INT(decide(list, "OPTIONS", "https://evil.example", NULL, NULL), CORS_PASS);
	CHECK_INT(decide(list, "OPTIONS", NULL, "POST", NULL), CORS_PASS);
	/* Another site's page: it may read nothing and change nothing. */
	CHECK_INT(decide(list, "GET", "https://evil.example", NULL, "cross-site"), CORS_PASS);
	CHECK_INT(decide(list, "POST", "https://evil.example", NULL, "cross-site"),
		  CORS_CROSS_SITE_DENIED);
	CHECK_INT(decide(list, "PATCH", "https://other.example.com", NULL, "same-site"),
		  CORS_CROSS_SITE_DENIED);
	CHECK_INT(decide("", "DELETE", NULL, NULL, "cross-site"), CORS_CROSS_SITE_DENIED);
	CHECK_INT(decide("", "POST", "https://evil.example", NULL, "same-origin"), CORS_PASS);
	CHECK_INT(decide("", "POST", "https://evil.example", NULL, "none"), CORS_PASS);
	CHECK_INT(decide("", "POST", "https://evil.example", NULL, NULL), CORS_PASS);
}

/* cors_check_list(list) and its message. */
static const char *list_problem(const char *list)
{
	static char err[DC_ERRMAX];

	err[0] = '\0';
	if (cors_check_list(list, err, sizeof err) == DC_OK)
		return "ok";
	return err;
}

static void test_cors_allowlist_checked(void)
{
	CHECK_STR(list_problem(""), "ok");
	CHECK_STR(list_problem("https://app.example.com, http://localhost:8080 http://[::1]:3000"),
		  "ok");
	CHECK_STR(list_problem("https://a-b.example.org:8443"), "ok");
	CHECK_STR(list_problem("*"), "DOCCHAT_CORS_ORIGINS: '*': \"*\" cannot be used because "
		  "docchat allows credentials; list each origin");
	CHECK_STR(list_problem("https://ok.example null"), "DOCCHAT_CORS_ORIGINS: 'null': "
		  "\"null\" would let any sandboxed page or local file in");
	CHECK_STR(list_problem("app.example.com"), "DOCCHAT_CORS_ORIGINS: 'app.example.com': "
		  "an origin starts with http:// or https://");
	CHECK_STR(list_problem("https://app.example.com/"), "DOCCHAT_CORS_ORIGINS: "
		  "'https://app.example.com/': an origin has no path, query or trailing slash, "
		  "only scheme://host[:port]");
	CHECK_STR(list_problem("https://App.example.com"), "DOCCHAT_CORS_ORIGINS: "
		  "'https://App.example.com': the host is missing or has characters other than "
		  "a-z, 0-9, '.' and '-' (browsers send host names in lower case)");
	CHECK_STR(list_problem("https://app.example.com:443"), "DOCCHAT_CORS_ORIGINS: "
		  "'https://app.example.com:443': browsers leave the default port out of an "
		  "origin; remove it");
	CHECK_STR(list_problem("http://localhost:80"), "DOCCHAT_CORS_ORIGINS: "
		  "'http://localhost:80': browsers leave the default port out of an origin; "
		  "remove it");
	CHECK_STR(list_problem("http://localhost:0"), "DOCCHAT_CORS_ORIGINS: "
		  "'http://localhost:0': the port is not a number from 1 to 65535");
	CHECK_STR(list_problem("http://localhost:65536"), "DOCCHAT_CORS_ORIGINS: "
		  "'http://localhost:65536': the port is not a number from 1 to 65535");
	CHECK_STR(list_problem("http://[::1"), "DOCCHAT_CORS_ORIGINS: 'http://[::1': a "
		  "bracketed IPv6 address is malformed");
	CHECK_STR(list_problem("ftp://files.example.com"), "DOCCHAT_CORS_ORIGINS: "
		  "'ftp://files.example.com': an origin starts with http:// or https://");
	CHECK_STR(list_problem("https://"), "DOCCHAT_CORS_ORIGINS: 'https://': the host is "
		  "missing or has characters other than a-z, 0-9, '.' and '-' (browsers send host "
		  "names in lower case)");
}

static void test_cors_header_lines(void)
{
	struct buf b;

	buf_init(&b, 4096);
	CHECK_INT(cors_response_headers("https://app.example.com", 1, &b), DC_OK);
	CHECK_STR(buf_str(&b), "Access-Control-Allow-Origin: https://app.example.com\r\n"
		  "Access-Control-Allow-Credentials: true\r\n"
		  "Access-Control-Expose-Headers: Retry-After\r\nVary: Origin\r\n");
	buf_free(&b);
	buf_init(&b, 4096);
	CHECK_INT(cors_response_headers(NULL, 1, &b), DC_OK);
	CHECK_STR(buf_str(&b), "Vary: Origin\r\n");
	buf_free(&b);
	buf_init(&b, 4096);
	CHECK_INT(cors_response_headers(NULL, 0, &b), DC_OK);
	CHECK_STR(buf_str(&b), "");
	buf_free(&b);
	buf_init(&b, 4096);
	CHECK_INT(cors_preflight_headers(&b), DC_OK);
	CHECK_STR(buf_str(&b), "Access-Control-Allow-Methods: GET, POST, PATCH, DELETE, OPTIONS\r\n"
		  "Access-Control-Allow-Headers: Authorization, Content-Type\r\n"
		  "Access-Control-Max-Age: 600\r\n");
	buf_free(&b);
}

int main(void)
{
	RUN(test_bearer_parse);
	RUN(test_token_shape);
	RUN(test_constant_time_equal);
	RUN(test_user_names);
	RUN(test_token_create_stores_only_the_hash);
	RUN(test_identity_order);
	RUN(test_bad_tokens_refused_in_both_modes);
	RUN(test_unusable_remote_user);
	RUN(test_last_use_recorded);
	RUN(test_cors_decisions);
	RUN(test_cors_allowlist_checked);
	RUN(test_cors_header_lines);
	return check_summary();
}
