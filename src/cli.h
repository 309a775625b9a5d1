/* cli.h - the admin subcommands: ingest, search, ask, sessions, config. */
#ifndef DC_CLI_H
#define DC_CLI_H

#include <stdio.h>

/* Run the subcommand in argv[1]; returns the process exit status. */
int cli_main(int argc, char **argv);

/* Print the --help text. */
void cli_usage(FILE *f);

#endif
