/* `warrenctl status [--json] [--watch [SECONDS]]`: per queue, the workers
 * the running warren-fleet wants and runs (its control socket), and what
 * the broker sees (management API): consumers, ready and unacked
 * messages, publish and deliver rates, and the depth of the queue's
 * dead-letter queue. Built once as a JSON document, then printed as a
 * table or as JSON; --watch redraws it until Ctrl-C. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "fleet/fleet.h"

#define DEFAULT_WATCH_S 2

struct status_args {
    bool json, watch, help;
    int interval_s;
};

static void print_help(void)
{
    puts("usage: warrenctl [--config FILE] status [--json] [--watch [SECONDS]]\n"
         "\n"
         "Per queue: WORKERS running/desired (from the running warren-fleet, through\n"
         "fleet.control_socket), CONSUMERS the broker sees, READY and UNACKED messages,\n"
         "PUBLISH/s and DELIVER/s (the broker's last rates), and DEAD, the depth of the\n"
         "queue's dead-letter queue. Each dead-letter queue has a row of its own for its\n"
         "deadletter worker. Without a running fleet it says so and still shows the\n"
         "broker's figures for the topology's queues (topology.file).\n"
         "\n"
         "  --json             one JSON document (with --watch: one per line)\n"
         "  --watch [SECONDS]  redraw every SECONDS (default 2, 1-3600) until Ctrl-C\n"
         "\n"
         "Exit status: 0 shown, 1 the broker or the topology could not be read\n"
         "(what could be read is still shown), 2 usage error.");
}

static int parse_interval(const char *text, int *out)
{
    char *end = NULL;
    long n = strtol(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end || n < 1 || n > 3600)
        return -1;
    *out = (int)n;
    return 0;
}

static int parse_args(int argc, char **argv, struct status_args *a)
{
    a->interval_s = DEFAULT_WATCH_S;
    for (int i = 1; i < argc; i++) {
        if (ctl_is_help(argv[i]))
            a->help = true;
        else if (strcmp(argv[i], "--json") == 0)
            a->json = true;
        else if (strncmp(argv[i], "--watch=", 8) == 0) {
            a->watch = true;
            if (parse_interval(argv[i] + 8, &a->interval_s) != 0)
                return ctl_usage_error("status", "--watch: expected 1 to 3600 seconds, not '%s'",
                                       argv[i] + 8);
        } else if (strcmp(argv[i], "--watch") == 0) {
            a->watch = true;
            if (i + 1 < argc && argv[i + 1][0] != '-' &&
                parse_interval(argv[++i], &a->interval_s) != 0)
                return ctl_usage_error("status", "--watch: expected 1 to 3600 seconds, not '%s'",
                                       argv[i]);
        } else
            return ctl_usage_error("status", "unexpected argument '%s'", argv[i]);
    }
    return CTL_EXIT_OK;
}

/* ---- printing ---------------------------------------------------------------------------- */

static void cell_int(const json_t *row, const char *key, int width)
{
    const json_t *v = json_object_get(row, key);
    if (json_is_integer(v))
        printf(" %*lld", width, (long long)json_integer_value(v));
    else
        printf(" %*s", width, "-");
}

static void cell_rate(const json_t *row, const char *key)
{
    const json_t *v = json_object_get(row, key);
    if (json_is_number(v))
        printf(" %10.1f", json_number_value(v));
    else
        printf(" %10s", "-");
}

static void print_fleet_line(const json_t *doc)
{
    const json_t *fleet = json_object_get(doc, "fleet");
    if (!json_is_true(json_object_get(fleet, "running"))) {
        printf("fleet: %s; broker figures only\n",
               json_string_value(json_object_get(fleet, "detail")));
        return;
    }
    long long up = json_integer_value(json_object_get(fleet, "uptime_s"));
    long long api = json_integer_value(json_object_get(fleet, "api_pid"));
    printf("fleet: running (pid %lld, up %lldh%02lldm%02llds), api %s",
           (long long)json_integer_value(json_object_get(fleet, "pid")), up / 3600, up / 60 % 60,
           up % 60, api ? "running" : "not running (restarting)");
    if (api)
        printf(" (pid %lld)", api);
    putchar('\n');
}

static void print_workers(const json_t *row)
{
    const json_t *desired = json_object_get(row, "desired");
    char cell[32];
    if (json_is_integer(desired))
        snprintf(cell, sizeof cell, "%lld/%lld",
                 (long long)json_integer_value(json_object_get(row, "running")),
                 (long long)json_integer_value(desired));
    else
        snprintf(cell, sizeof cell, "-");
    printf(" %8s", cell);
}

static void print_table(const json_t *doc)
{
    const json_t *broker = json_object_get(doc, "broker");
    const json_t *topology_error = json_object_get(doc, "topology_error");
    print_fleet_line(doc);
    if (!json_is_true(json_object_get(broker, "reachable")))
        printf("broker: not reachable (%s)\n",
               json_string_value(json_object_get(broker, "detail")));
    if (topology_error)
        printf("topology: %s\n", json_string_value(topology_error));
    printf("\n%-24s %-12s %8s %9s %9s %8s %10s %10s %7s\n", "QUEUE", "SERVICE", "WORKERS",
           "CONSUMERS", "READY", "UNACKED", "PUBLISH/s", "DELIVER/s", "DEAD");
    size_t i;
    const json_t *row;
    json_array_foreach(json_object_get(doc, "queues"), i, row)
    {
        printf("%-24s %-12s", json_string_value(json_object_get(row, "queue")),
               json_string_value(json_object_get(row, "service")));
        print_workers(row);
        cell_int(row, "consumers", 9);
        cell_int(row, "ready", 9);
        cell_int(row, "unacked", 8);
        cell_rate(row, "publish_per_s");
        cell_rate(row, "deliver_per_s");
        cell_int(row, "dead", 7);
        putchar('\n');
    }
    puts("\nWORKERS is running/desired; rates are the broker's last sample (every 5 s).");
}

static bool show(const struct ctl_fleet *settings, const struct status_args *a)
{
    bool ok;
    struct fleet_report_source source = {
        .control_socket = settings->control_socket,
        .topology_file = settings->topology_file,
        .management_url = settings->broker.management_url,
        .vhost = settings->broker.vhost,
    };
    json_t *doc = fleet_queues_report(&source, &ok);
    if (a->json) {
        (void)json_dumpf(doc, stdout, a->watch ? JSON_COMPACT : JSON_INDENT(2));
        putchar('\n');
    } else {
        if (a->watch)
            fputs("\033[H\033[2J", stdout); /* home, clear: redraw in place */
        print_table(doc);
    }
    json_decref(doc);
    fflush(stdout);
    return ok;
}

/* Redraws until SIGINT or SIGTERM: they stay blocked and are waited for
 * between rounds, so an interrupted round never leaves a half table. */
static int watch(const struct ctl_fleet *settings, const struct status_args *a)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    for (;;) {
        (void)show(settings, a);
        if (!a->json)
            printf("every %d s; Ctrl-C to stop\n", a->interval_s);
        fflush(stdout);
        struct timespec wait = {.tv_sec = a->interval_s};
        if (sigtimedwait(&stop, NULL, &wait) > 0)
            break;
    }
    if (!a->json)
        putchar('\n');
    return CTL_EXIT_OK;
}

int ctl_status_main(const struct ctl_context *ctx, int argc, char **argv)
{
    struct status_args a = {0};
    int code = parse_args(argc, argv, &a);
    if (code != CTL_EXIT_OK || a.help) {
        if (a.help)
            print_help();
        return code;
    }
    struct ctl_fleet settings;
    if (ctl_fleet_settings(ctx, &settings) != WR_OK)
        return CTL_EXIT_FAILED;
    if (a.watch)
        return watch(&settings, &a);
    return show(&settings, &a) ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}
