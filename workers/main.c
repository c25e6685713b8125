/* warren-worker: one worker process of one service (order, inventory,
 * payment, notification, analytics, deadletter) on the shared runtime. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/cli.h"
#include "core/log.h"
#include "workers/runtime.h"

/* Each service and the configuration key of its own database. */
static const struct {
    const char *name;
    enum cfg_key database;
} service_databases[] = {
    {"order", CFG_DB_ORDER_URL},          {"inventory", CFG_DB_INVENTORY_URL},
    {"payment", CFG_DB_PAYMENT_URL},      {"notification", CFG_DB_NOTIFICATION_URL},
    {"analytics", CFG_DB_ANALYTICS_URL},  {"deadletter", CFG_DB_DEADLETTER_URL},
};

static void usage(FILE *out)
{
    fputs("usage: warren-worker --service NAME [--queue QUEUE] [--config FILE]\n"
          "\n"
          "Runs one worker of a warren service on its queue until SIGTERM, then finishes\n"
          "and acks the messages it holds and exits 0.\n"
          "\n"
          "  --service NAME  order, inventory, payment, notification, analytics or deadletter\n"
          "  --queue QUEUE   the topology queue to consume (default: the service's name)\n"
          "  --config FILE   YAML configuration (WARREN_* variables override it)\n"
          "  --help, --version\n",
          out);
}

struct args {
    const char *service;
    const char *queue;
    const char *config;
};

static enum wr_cli_result parse_args(int argc, char **argv, struct args *args)
{
    const struct wr_cli_option options[] = {
        {"service", &args->service}, {"queue", &args->queue}, {"config", &args->config}};
    enum wr_cli_result parsed = wr_cli_parse("warren-worker", argc, argv, options, 3);
    if (parsed == WR_CLI_RUN && !args->service) {
        fprintf(stderr, "warren-worker: --service is required (see --help)\n");
        return WR_CLI_USAGE_ERROR;
    }
    return parsed;
}

static int service_index(const char *name)
{
    for (size_t i = 0; i < sizeof service_databases / sizeof service_databases[0]; i++)
        if (strcmp(service_databases[i].name, name) == 0)
            return (int)i;
    return -1;
}

int main(int argc, char **argv)
{
    struct args args = {.config = getenv("WARREN_CONFIG")};
    enum wr_cli_result parsed = parse_args(argc, argv, &args);
    if (parsed == WR_CLI_HELP)
        usage(stdout);
    else if (parsed == WR_CLI_VERSION)
        printf("warren-worker %s\n", WARREN_VERSION);
    if (parsed != WR_CLI_RUN)
        return parsed == WR_CLI_USAGE_ERROR ? 2 : 0;
    int index = service_index(args.service);
    const struct wrk_service *service = wrk_service_find(args.service);
    if (index < 0 || !service) {
        fprintf(stderr, "warren-worker: unknown service '%s' (order, inventory, payment, "
                        "notification, analytics, deadletter)\n", args.service);
        return 2;
    }
    struct cfg *cfg = NULL;
    if (cfg_load(args.config, stderr, &cfg) != WR_OK) {
        fprintf(stderr, "warren-worker: bad configuration (see above)\n");
        return 1;
    }
    enum wr_log_level level = WR_LOG_INFO;
    (void)wr_log_level_parse(cfg_str(cfg, CFG_LOG_LEVEL), &level);
    wr_log_set_level(level);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigprocmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct wrk_options options = {
        .cfg = cfg,
        .service = service,
        .queue = args.queue ? args.queue : args.service,
        .topology_file = cfg_str(cfg, CFG_TOPOLOGY_FILE),
        .database_url = cfg_str(cfg, service_databases[index].database),
    };
    int rc = wrk_run(&options);
    cfg_free(cfg);
    return rc;
}
