/* The command line shared by warren's programs: --help, --version and
 * options that take a value (--config FILE, --service NAME ...), with one
 * clear line for anything else. */
#ifndef WARREN_CORE_CLI_H
#define WARREN_CORE_CLI_H

#include <stddef.h>

/* An option taking a value: --name VALUE or --name=VALUE stores VALUE
 * (borrowed from argv) into *value. */
struct wr_cli_option {
    const char *name;
    const char **value;
};

enum wr_cli_result {
    WR_CLI_RUN,         /* options parsed: go on */
    WR_CLI_HELP,        /* --help was given */
    WR_CLI_VERSION,     /* --version was given */
    WR_CLI_USAGE_ERROR, /* one line was printed to stderr; exit 2 */
};

/* Parses argv against options (at most 8); no positional arguments are
 * accepted. program names the program in messages. */
enum wr_cli_result wr_cli_parse(const char *program, int argc, char **argv,
                                const struct wr_cli_option *options, size_t count);

#endif
