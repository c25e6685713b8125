/* Private to ctl/: what warrenctl's command groups share (the parsed
 * global options, exit codes, usage errors, broker addresses). Each group
 * (topology, later dlq, scale, ...) is one file with one entry point. */
#ifndef WARREN_CTL_H
#define WARREN_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/db.h"
#include "core/status.h"

/* Exit status of every warrenctl command (SPEC: 0, 1, 2). */
enum ctl_exit {
    CTL_EXIT_OK = 0,     /* the operation succeeded */
    CTL_EXIT_FAILED = 1, /* it failed, or found errors or drift */
    CTL_EXIT_USAGE = 2,  /* the command line was wrong */
};

/* Global options, parsed before the command. */
struct ctl_context {
    const char *config_path; /* --config FILE, or NULL */
};

/* Broker addresses and limits from the configuration (config/: defaults,
 * --config file, WARREN_* environment). Strings are owned by the struct. */
struct ctl_broker {
    char url[1024];            /* broker.url (AMQP) */
    char management_url[1024]; /* broker.management_url */
    char vhost[256];           /* the vhost named by url ("/" by default) */
    int64_t connect_timeout_ms;
};

/* Loads the configuration and fills *out. On failure the problems have
 * been written to stderr, one per line; returns WR_ERR_CONFIG. */
wr_status ctl_broker_settings(const struct ctl_context *ctx, struct ctl_broker *out) WR_MUST_CHECK;

/* What `warrenctl scale` and `status` need: the broker, the fleet's
 * control socket (fleet.control_socket) and the topology file. */
struct ctl_fleet {
    struct ctl_broker broker;
    char control_socket[1024];
    char topology_file[1024];
};

/* Loads the configuration and fills *out, as ctl_broker_settings. */
wr_status ctl_fleet_settings(const struct ctl_context *ctx, struct ctl_fleet *out) WR_MUST_CHECK;

/* Prints "warrenctl: <message>" and a hint to `warrenctl <command> --help`
 * (command may be NULL) to stderr; returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True for "-h" and "--help". */
bool ctl_is_help(const char *arg);

/* The words after `warrenctl GROUP SUBCOMMAND`. */
struct ctl_args {
    const char *arg[2]; /* the positionals, in order */
    size_t count;
    bool flag; /* the subcommand's one option (--verbose, --json) was given */
};

/* One subcommand of a command group: its help and how to run it. */
struct ctl_subcommand {
    const char *name;
    const char *usage;  /* "warrenctl [--config FILE] catalog show SKU [--json]" */
    const char *help;   /* the lines after the usage, each ending in '\n' */
    size_t positionals; /* exactly this many (at most 2) */
    const char *flag;   /* the one option it takes ("--json"), or NULL */
    int (*run)(const struct ctl_context *ctx, const struct ctl_args *args);
};

/* A command group made of subcommands (topology, catalog). */
struct ctl_group {
    const char *name;    /* "catalog" */
    const char *intro;   /* `GROUP --help` before the subcommands */
    const char *epilog;  /* `GROUP --help` after them: the exit statuses */
    const char *missing; /* "missing <this>" when positionals lack; NULL:
                          * "missing arguments (usage: <usage>)" */
    const struct ctl_subcommand *subcommands;
    size_t count;
};

/* Runs `warrenctl GROUP SUBCOMMAND ARGS...` (argv[0] is GROUP): prints
 * the group's or the subcommand's help, reports a usage error (an unknown
 * subcommand or option; an argument starting with '-' and a digit is a
 * positional), or calls the subcommand's run(). Returns an exit status.
 * (ctl/subcommands.c) */
int ctl_group_main(const struct ctl_group *group, const struct ctl_context *ctx, int argc,
                   char **argv);

/* `warrenctl topology ...`: argv[0] is "topology". Returns an exit status. */
int ctl_topology_main(const struct ctl_context *ctx, int argc, char **argv);

/* `warrenctl catalog ...` (ctl/catalog_cmd.c) and `warrenctl report ...`
 * (ctl/report_cmd.c): argv[0] is the command. Return an exit status. */
int ctl_catalog_main(const struct ctl_context *ctx, int argc, char **argv);
int ctl_report_main(const struct ctl_context *ctx, int argc, char **argv);

/* `warrenctl scale NAME=N ...` (ctl/scale_cmd.c) and `warrenctl status`
 * (ctl/status_cmd.c): argv[0] is the command. Return an exit status. */
int ctl_scale_main(const struct ctl_context *ctx, int argc, char **argv);
int ctl_status_main(const struct ctl_context *ctx, int argc, char **argv);

/* `warrenctl dlq list|show|stats` (ctl/dlq_cmd.c): argv[0] is "dlq".
 * Returns an exit status. */
int ctl_dlq_main(const struct ctl_context *ctx, int argc, char **argv);

struct wrk_service;

/* Loads the configuration and opens the database that url_key names
 * (CFG_DB_INVENTORY_URL, ...), then applies service's migrations to it, as
 * its workers do at start (skipped when NULL). NULL after printing why on
 * stderr. Close with db_close(). (ctl/database.c) */
struct db_conn *ctl_database_open(const struct ctl_context *ctx, enum cfg_key url_key,
                                  const struct wrk_service *service);

/* Writes minor units of currency for people: "12.99 EUR", "1299 JPY"
 * (ISO 4217 decimals). Always NUL-terminates. (ctl/money.c) */
void ctl_format_amount(long long minor, const char *currency, char *out, size_t size);

#endif
