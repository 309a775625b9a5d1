/* server.h - the FastCGI worker pool: threads in FCGX_Accept_r loops, signals, and a
 * graceful stop. See server.c. */
#ifndef DC_SERVER_H
#define DC_SERVER_H

#include <stddef.h>

struct config;
struct store;

/* Serve FastCGI requests on listen_fd until SIGTERM/SIGINT (then drain) with
 * cfg->threads threads. Returns the process exit status. */
int server_run(const struct config *cfg, int listen_fd);

/* Has a stop been requested and the grace period for running streams run out? Streams
 * poll this from their tick and end as interrupted when it says so. */
int server_grace_expired(void);

/* A serving thread's database connection: st itself while it is usable, else st is
 * closed and the path opened again, marked with this process's identity (worker.h).
 * NULL (err says why, and it is logged) when the database cannot be opened. */
struct store *server_store(const struct config *cfg, struct store *st, char *err,
			   size_t errlen);

/* Write the answers whose end the database refused earlier (store.h), if any, with a
 * serving thread's connection st (may be NULL: nothing happens). */
void server_store_kept(struct store *st);

#endif
