/* coord_cli.h - the client verbs of couler-coord. */
#ifndef COULER_COORD_CLI_H
#define COULER_COORD_CLI_H

#include <stdio.h>

/* coord_cli_main - run client verb `verb` with argv[0] = the verb. Returns
 * the process exit status. */
int coord_cli_main(const char *verb, int argc, char **argv);
void coord_cli_usage(FILE *f);

#endif
