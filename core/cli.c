/* getopt_long behind warren's common command line (see cli.h). */
#include "core/cli.h"

#include <getopt.h>
#include <stdio.h>

#define CLI_MAX_OPTIONS 8

enum wr_cli_result wr_cli_parse(const char *program, int argc, char **argv,
                                const struct wr_cli_option *options, size_t count)
{
    struct option table[CLI_MAX_OPTIONS + 3] = {{0}};
    size_t n = count < CLI_MAX_OPTIONS ? count : CLI_MAX_OPTIONS;
    for (size_t i = 0; i < n; i++)
        table[i] = (struct option){options[i].name, required_argument, NULL, (int)i};
    table[n] = (struct option){"help", no_argument, NULL, 'h'};
    table[n + 1] = (struct option){"version", no_argument, NULL, 'V'};
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", table, NULL)) != -1) {
        if (opt >= 0 && (size_t)opt < n) {
            *options[opt].value = optarg;
        } else if (opt == 'h') {
            return WR_CLI_HELP;
        } else if (opt == 'V') {
            return WR_CLI_VERSION;
        } else {
            fprintf(stderr, "%s: unknown or incomplete option '%s' (see --help)\n", program,
                    argv[optind - 1]);
            return WR_CLI_USAGE_ERROR;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", program, argv[optind]);
        return WR_CLI_USAGE_ERROR;
    }
    return WR_CLI_RUN;
}
