/* worker.c - process identities for answers being written (see worker.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker.h"

/* Start time of pid in clock ticks since boot, or 0 when it cannot be read. */
static unsigned long long start_time(long pid)
{
	char path[64], line[1024];
	unsigned long long t = 0;
	const char *p;
	FILE *f;
	int field;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(line, sizeof line, f)) {
		fclose(f);
		return 0;
	}
	fclose(f);
	/* The command name (field 2) may hold spaces and parentheses: count from the last
	 * ')'. Field 3 follows it; the start time is field 22. */
	p = strrchr(line, ')');
	for (field = 2; p && *p && field < 22; p++)
		if (*p == ' ')
			field++;
	if (p && field == 22)
		t = strtoull(p, NULL, 10);
	return t;
}

void worker_self(char *out, size_t outlen)
{
	long pid = (long)getpid();

	snprintf(out, outlen, "%ld:%llu", pid, start_time(pid));
}

int worker_alive(void *ud, const char *id)
{
	char *end;
	long pid;
	unsigned long long start, now;

	(void)ud;
	if (!id)
		return 0;
	errno = 0;
	pid = strtol(id, &end, 10);
	if (errno || pid <= 0 || *end != ':')
		return 0;
	start = strtoull(end + 1, &end, 10);
	if (*end)
		return 0;
	now = start_time(pid);
	if (now)
		return now == start;
	/* No /proc: the pid alone, which may have been reused. */
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}
