/* worker.h - who is writing an answer: an identity for this process that survives pid
 * reuse, and whether a recorded identity still runs.
 *
 * An answer is stored as 'streaming' while it is being written, tagged with the writing
 * process's identity. When a process starts it marks as interrupted only the rows
 * whose writer is gone, so a new process spawned beside busy ones (mod_fcgid starts
 * one per concurrent request, spawn-fcgi -F N starts several) leaves their running
 * answers alone. The identity is "PID:START", START being the process's start time in
 * clock ticks since boot (/proc/PID/stat field 22), so a recycled pid does not pass
 * for the old process. */
#ifndef DC_WORKER_H
#define DC_WORKER_H

#include <stddef.h>

#define WORKER_ID_MAX 48

/* This process's identity into out (WORKER_ID_MAX bytes). */
void worker_self(char *out, size_t outlen);

/* Does the process an identity names still run? An identity that does not parse is
 * treated as gone. ud is unused (the signature fits store_recover_streaming). */
int worker_alive(void *ud, const char *id);

#endif
