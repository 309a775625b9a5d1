/* main.c - decides what docchat is this time: the admin tool (a subcommand on the
 * command line), a FastCGI responder (a listening socket on fd 0), or a plain CGI
 * program answering one request. Nothing else happens here. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <curl/curl.h>
#include <fcgiapp.h>

#include "api.h"
#include "cli.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "worker.h"

extern char **environ;

/* Tag this process's answers and interrupt those of CGI processes that died (a CGI
 * process has no start-up of its own, so every request does it; the query uses an
 * index of streaming rows and is cheap). */
static void claim_answers(struct store *st)
{
	char self[WORKER_ID_MAX], err[DC_ERRMAX];
	int n = 0;

	worker_self(self, sizeof self);
	if (store_set_worker(st, self) != DC_OK ||
	    store_recover_streaming(st, worker_alive, NULL, &n, err, sizeof err) != DC_OK)
		log_msg("database: cannot recover unfinished answers");
	else if (n > 0)
		log_msg("marked %d unfinished answer%s as interrupted", n, n == 1 ? "" : "s");
}

/* One CGI request: the web server started us with the request in the environment. */
static int run_cgi(const struct config *cfg)
{
	struct store *st = NULL;
	char dberr[DC_ERRMAX] = "";
	struct conn c;
	int after;

	if (store_open(cfg->db_path, &st, dberr, sizeof dberr) != DC_OK)
		log_msg("database: %s", dberr);
	else
		claim_answers(st);
	conn_init_cgi(&c, environ);
	after = api_handle(&c, cfg, st, dberr);
	/* Plain CGI: the web server sees the response end when the process exits. */
	api_after_run(after, cfg, st);
	store_close(st);
	return 0;
}

/* A configuration error under a web server: log it and, as CGI, answer it. */
static int config_failed(const char *err, int cgi)
{
	log_msg("configuration: %s", err);
	if (cgi)
		printf("Status: 500 Internal Server Error\r\nContent-Type: application/json\r\n\r\n"
		       "{\"error\":\"docchat is misconfigured; see the server's error log\"}\n");
	return 1;
}

int main(int argc, char **argv)
{
	struct config cfg;
	char err[DC_ERRMAX];
	int cgi, rc;

	/* Before FCGX_Init: a client that left must turn writes into EPIPE, not a kill. */
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1)
		return cli_main(argc, argv);
	cgi = FCGX_IsCGI();
	if (cgi && !getenv("REQUEST_METHOD")) {
		cli_usage(stderr);
		return 2;
	}
	if (config_load(&cfg, err, sizeof err) != DC_OK)
		return config_failed(err, cgi);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_msg("cannot initialise libcurl");
		config_free(&cfg);
		return 1;
	}
	rc = cgi ? run_cgi(&cfg) : server_run(&cfg, STDIN_FILENO);
	curl_global_cleanup();
	config_free(&cfg);
	return rc;
}
