/* check.h - the tiny assertion kit of docchat's unit tests.
 *
 * Each test binary prints one line per check group: "PASS name" or "FAIL name: why",
 * and exits non-zero when any failed. tests/run counts these lines. Usage:
 *
 *   static void test_thing(void) { CHECK(x == 1); CHECK_STR(s, "abc"); }
 *   int main(void) { RUN(test_thing); return check_summary(); }
 */
#ifndef DC_CHECK_H
#define DC_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failed_now;	/* failures within the running test */
static int check_passed_total, check_failed_total;

#define CHECK(cond) do { \
	if (!(cond)) { \
		if (!check_failed_now) \
			printf("FAIL %s: %s:%d: %s\n", check_current, __FILE__, __LINE__, #cond); \
		check_failed_now++; \
	} \
} while (0)

#define CHECK_STR(got, want) do { \
	const char *check_g_ = (got), *check_w_ = (want); \
	if (!check_g_ || strcmp(check_g_, check_w_) != 0) { \
		if (!check_failed_now) \
			printf("FAIL %s: %s:%d: got \"%s\", want \"%s\"\n", check_current, \
			       __FILE__, __LINE__, check_g_ ? check_g_ : "(null)", check_w_); \
		check_failed_now++; \
	} \
} while (0)

#define CHECK_INT(got, want) do { \
	long long check_g_ = (long long)(got), check_w_ = (long long)(want); \
	if (check_g_ != check_w_) { \
		if (!check_failed_now) \
			printf("FAIL %s: %s:%d: %s = %lld, want %lld\n", check_current, \
			       __FILE__, __LINE__, #got, check_g_, check_w_); \
		check_failed_now++; \
	} \
} while (0)

static const char *check_current = "";

#define RUN(fn) do { \
	check_current = #fn; check_failed_now = 0; fn(); \
	if (check_failed_now) check_failed_total++; \
	else { check_passed_total++; printf("PASS %s\n", #fn); } \
	fflush(stdout); \
} while (0)

static inline int check_summary(void)
{
	return check_failed_total ? 1 : 0;
}

#endif
