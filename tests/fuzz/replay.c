/* replay.c - a main for the fuzz harnesses without libFuzzer: feed every file of the
 * given directories (or files) to LLVMFuzzerTestOneInput, once each, in name order.
 *
 * This is how the committed corpora run in every test: the harness is built with the
 * normal compiler and flags (ASan and UBSan under --enable-sanitizers), so a crash,
 * a sanitizer report, a failed invariant or (with LeakSanitizer) a leak fails the run
 * and names the input. Without arguments it replays $srcdir/tests/fuzz/corpus/<target>
 * (srcdir as `make check` sets it, else "."), where <target> is the program's name
 * without "fuzz_". Prints "PASS replay_<target>: N inputs" or "FAIL replay_<target>:
 * <input>". */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#define REPLAY_MAX_INPUT (64 * 1024 * 1024)

/* The sanitizers' hooks, present only in a sanitized build. */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

/* UBSan has no death callback of its own here: make its halt an abort, which the
 * SIGABRT handler reports (UBSAN_OPTIONS from the environment still apply on top). */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "abort_on_error=1";
}

static const char *target = "?";
static char death_line[4352];	/* "FAIL ...: <the input being run>", made beforehand */

/* Name the input that broke the harness, whatever the way it died (only write(2)
 * here: this may run in a signal handler). */
static void report_death(void)
{
	(void)!write(STDOUT_FILENO, death_line, strlen(death_line));
}

static void on_signal(int sig)
{
	report_death();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return -1;
	for (;;) {
		size_t got;

		if (n == cap) {
			uint8_t *grown;

			cap = cap ? cap * 2 : 4096;
			if (cap > REPLAY_MAX_INPUT)
				break;
			grown = realloc(buf, cap);
			if (!grown)
				break;
			buf = grown;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f) || !feof(f)) {
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	/* The harness gets exactly n bytes in an allocation of n, as under libFuzzer, so
	 * a read past the end is caught. */
	*out = n ? realloc(buf, n) : buf;
	if (n && !*out)
		*out = buf;
	*len = n;
	return 0;
}

static int replay_one(const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;

	snprintf(death_line, sizeof death_line, "FAIL replay_%s: %s\n", target, path);
	if (read_file(path, &data, &len) != 0) {
		printf("FAIL replay_%s: cannot read %s: %s\n", target, path, strerror(errno));
		return -1;
	}
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	if (__lsan_do_recoverable_leak_check && __lsan_do_recoverable_leak_check()) {
		printf("FAIL replay_%s: %s: memory leaked\n", target, path);
		return -1;
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replay path: a file, or every regular file in a directory. Returns the number of
 * inputs run, or -1 after a failure. */
static long replay_path(const char *path)
{
	struct stat st;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	long count = 0;
	DIR *d;

	if (stat(path, &st) != 0) {
		printf("FAIL replay_%s: %s: %s\n", target, path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_one(path) == 0 ? 1 : -1;
	d = opendir(path);
	if (!d) {
		printf("FAIL replay_%s: %s: %s\n", target, path, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		char full[4096];

		if (e->d_name[0] == '.')
			continue;
		snprintf(full, sizeof full, "%s/%s", path, e->d_name);
		if (stat(full, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			char **grown;

			cap = cap ? cap * 2 : 64;
			grown = realloc(names, cap * sizeof *names);
			if (!grown)
				abort();
			names = grown;
		}
		names[n] = strdup(full);
		if (!names[n])
			abort();
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, by_name);
	for (size_t i = 0; i < n; i++) {
		if (count >= 0 && replay_one(names[i]) == 0)
			count++;
		else
			count = -1;
		free(names[i]);
	}
	free(names);
	return count;
}

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');
	char dir[4096];
	long total = 0;

	base = base ? base + 1 : argv[0];
	target = strncmp(base, "fuzz_", 5) == 0 ? base + 5 : base;
	/* Under the sanitizers their report names the fault and the callback the input;
	 * their own handlers must keep the faults. A failed FUZZ_CHECK is an abort. */
	if (__sanitizer_set_death_callback) {
		__sanitizer_set_death_callback(report_death);
	} else {
		signal(SIGSEGV, on_signal);
		signal(SIGBUS, on_signal);
		signal(SIGFPE, on_signal);
	}
	signal(SIGABRT, on_signal);
	if (argc < 2) {
		const char *srcdir = getenv("srcdir");

		snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", srcdir && *srcdir ? srcdir : ".",
			 target);
		total = replay_path(dir);
	}
	for (int i = 1; i < argc && total >= 0; i++) {
		long n = replay_path(argv[i]);

		total = n < 0 ? -1 : total + n;
	}
	if (total < 0)
		return 1;
	if (total == 0) {
		printf("FAIL replay_%s: no inputs found\n", target);
		return 1;
	}
	printf("PASS replay_%s: %ld inputs\n", target, total);
	return 0;
}
