/* The administrative subcommands: `kibitka user ...` and `kibitka stream ...`. They open the
 * database directly (the same --db/--data as serve, also from KIBITKA_DB/KIBITKA_DATA), so they
 * work with the server stopped or running, on SQLite or PostgreSQL. */
#ifndef KIBITKA_SERVER_CLI_H
#define KIBITKA_SERVER_CLI_H

/* argv[0] is "user" or "stream". Returns the process exit code: 0, 1 on a failure (said on
 * stderr), 2 on bad usage. */
int cli_main(int argc, char **argv);

#endif
