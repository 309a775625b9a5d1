/* server.h - the FastCGI worker pool: threads in FCGX_Accept_r loops, signals, and a
 * graceful stop. See server.c. */
#ifndef DC_SERVER_H
#define DC_SERVER_H

struct config;

/* Serve FastCGI requests on listen_fd until SIGTERM/SIGINT (then drain) with
 * cfg->threads threads. Returns the process exit status. */
int server_run(const struct config *cfg, int listen_fd);

/* Has a stop been requested and the grace period for running streams run out? Streams
 * poll this from their tick and end as interrupted when it says so. */
int server_grace_expired(void);

#endif
