/* warrenctl: the operator and support CLI of warren. main() parses the
 * global options and hands the rest of the command line to one command
 * group from the table below; each group lives in its own file. */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"

struct ctl_command {
    const char *name;
    const char *synopsis;
    const char *summary;
    int (*run)(const struct ctl_context *ctx, int argc, char **argv);
};

static const struct ctl_command commands[] = {
    {"topology", "topology validate|plan|apply FILE",
     "check the topology file, compare it with the broker, declare it", ctl_topology_main},
    {"catalog", "catalog import|list|show|set-stock",
     "the inventory service's catalog: import a CSV, list, show, set stock", ctl_catalog_main},
    {"report", "report [--since T] [--json]",
     "orders by status, revenue, funnel, failure reasons, per-minute series", ctl_report_main},
    {"dlq", "dlq list|show|stats", "dead letters: list and filter, show one in full, counts",
     ctl_dlq_main},
    {"status", "status [--json] [--watch [SECONDS]]",
     "per queue: fleet workers, consumers, depth, rates, dead letters", ctl_status_main},
    {"scale", "scale NAME=COUNT ...",
     "change a running fleet's workers per queue or service, live", ctl_scale_main},
};

static void print_help(FILE *out)
{
    fputs("usage: warrenctl [--config FILE] COMMAND [ARGS...]\n"
          "\n"
          "The operator and support CLI of warren, the order-processing worker fleet.\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-36s %s\n", commands[i].synopsis, commands[i].summary);
    fputs("\n"
          "Options:\n"
          "  --config FILE   warren's YAML configuration (broker addresses, ...); WARREN_*\n"
          "                  environment variables override it, e.g. WARREN_BROKER_URL,\n"
          "                  WARREN_BROKER_MANAGEMENT_URL\n"
          "  -h, --help      show this help; `warrenctl COMMAND --help` for a command\n"
          "  --version       show the version\n"
          "\n"
          "Exit status: 0 success, 1 the operation failed or found problems, 2 usage error.\n",
          out);
}

/* Parses global options; returns the index of the command, or a negative
 * exit status to return at once (-1 - status). */
static int parse_globals(int argc, char **argv, struct ctl_context *ctx)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (ctl_is_help(argv[i])) {
            print_help(stdout);
            return -1 - CTL_EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("warrenctl %s\n", WARREN_VERSION);
            return -1 - CTL_EXIT_OK;
        } else if (strcmp(argv[i], "--config") == 0) {
            if (++i == argc)
                return -1 - ctl_usage_error(NULL, "--config needs a FILE");
            ctx->config_path = argv[i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            ctx->config_path = argv[i] + 9;
        } else {
            return -1 - ctl_usage_error(NULL, "unknown option '%s'", argv[i]);
        }
    }
    if (i == argc)
        return -1 - ctl_usage_error(NULL, "missing COMMAND");
    return i;
}

int main(int argc, char **argv)
{
    struct ctl_context ctx = {0};
    int first = parse_globals(argc, argv, &ctx);
    if (first < 0)
        return -1 - first;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[first], commands[i].name) == 0)
            return commands[i].run(&ctx, argc - first, argv + first);
    }
    return ctl_usage_error(NULL, "unknown command '%s'", argv[first]);
}
