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

extern char **environ;

/* One CGI request: the web server started us with the request in the environment. */
static int run_cgi(const struct config *cfg)
{
	struct store *st = NULL;
	char dberr[DC_ERRMAX] = "";
	struct conn c;

	if (store_open(cfg->db_path, &st, dberr, sizeof dberr) != DC_OK)
		log_msg("database: %s", dberr);
	conn_init_cgi(&c, environ);
	api_handle(&c, cfg, st, dberr);
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
