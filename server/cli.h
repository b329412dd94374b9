/* The administrative subcommands: `kibitka user ...` and `kibitka stream ...`. They open the
 * database directly (the same --db/--data as serve, also from KIBITKA_DB/KIBITKA_DATA), so they
 * work with the server stopped or running, on SQLite or PostgreSQL. */
#ifndef KIBITKA_SERVER_CLI_H
#define KIBITKA_SERVER_CLI_H

/* argv[0] is "user" or "stream". Returns the process exit code: 0, 1 on a failure (said on
 * stderr), 2 on bad usage. --help or -h anywhere a flag may stand prints the subcommand's help
 * (what it accepts) and returns 0. */
int cli_main(int argc, char **argv);
/* `kibitka help user [add]`: argv[0] is the group, argv[1] (optional) the subcommand. Help on
 * stdout and 0, or 2 for a subcommand that does not exist. */
int cli_help(int argc, char **argv);

#endif
