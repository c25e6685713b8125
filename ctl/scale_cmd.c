/* `warrenctl scale NAME=N ...`: changes how many workers the running
 * warren-fleet keeps on queues, at once and all or nothing, through its
 * control socket (fleet/fleet.h). Input is checked here first and again by
 * the fleet, which alone knows the queue and service names. */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "fleet/fleet.h"

#define MAX_ASSIGNMENTS 64

static void print_help(void)
{
    printf("usage: warrenctl [--config FILE] scale NAME=COUNT [NAME=COUNT ...]\n"
           "\n"
           "Changes the number of workers the running warren-fleet keeps on queues, at\n"
           "once, without touching any other worker. NAME is a queue name (payment,\n"
           "order.dead) or a service name that runs on exactly one queue (payment);\n"
           "COUNT is 0 to %d. Scaling up starts workers at once; scaling down sends\n"
           "SIGTERM to the surplus workers, which stop consuming, finish and ack the\n"
           "messages they hold, then exit (nothing is redelivered because of it). The\n"
           "new counts last for the fleet's lifetime: the topology file's `workers` is\n"
           "the count a fleet starts with. Either every assignment is applied or none.\n"
           "\n"
           "The fleet is reached through fleet.control_socket (default\n"
           "run/fleet/fleet.sock, relative to the directory the fleet runs in).\n"
           "\n"
           "Example: warrenctl scale payment=4 notification=2\n"
           "\n"
           "Exit status: 0 applied, 1 no fleet running or it could not be reached,\n"
           "2 bad input (nothing changed).\n",
           FLEET_MAX_WORKERS);
}

/* Checks every NAME=COUNT before talking to the fleet. */
static int check_args(int argc, char **argv)
{
    char name[128];
    int count;
    struct wr_error err;
    if (argc < 2)
        return ctl_usage_error("scale", "missing NAME=COUNT (e.g. payment=4)");
    if (argc - 1 > MAX_ASSIGNMENTS)
        return ctl_usage_error("scale", "at most %d assignments at once", MAX_ASSIGNMENTS);
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            return ctl_usage_error("scale", "unknown option '%s'", argv[i]);
        if (fleet_parse_assignment(argv[i], name, &count, &err) != WR_OK)
            return ctl_usage_error("scale", "%s", err.message);
    }
    return CTL_EXIT_OK;
}

/* "scaled payment payment 1 4" lines, for people. */
static void print_reply(char *reply)
{
    char *save = NULL, queue[128], service[32];
    int old, now;
    for (char *line = strtok_r(reply, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (sscanf(line, "scaled %127s %31s %d %d", queue, service, &old, &now) == 4)
            printf("%s (%s): %d -> %d workers%s\n", queue, service, old, now,
                   old == now ? " (unchanged)" : "");
    }
}

int ctl_scale_main(const struct ctl_context *ctx, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (ctl_is_help(argv[i])) {
            print_help();
            return CTL_EXIT_OK;
        }
    }
    int code = check_args(argc, argv);
    if (code != CTL_EXIT_OK)
        return code;
    struct ctl_fleet settings;
    if (ctl_fleet_settings(ctx, &settings) != WR_OK)
        return CTL_EXIT_FAILED;
    char reply[8192];
    struct wr_error err;
    wr_status status = fleet_scale(settings.control_socket, (const char *const *)(argv + 1),
                                   (size_t)(argc - 1), reply, sizeof reply, &err);
    if (status == WR_ERR_INVALID)
        return ctl_usage_error("scale", "%s", err.message);
    if (status != WR_OK) {
        fprintf(stderr, "warrenctl: scale: %s\n", err.message);
        return CTL_EXIT_FAILED;
    }
    print_reply(reply);
    return CTL_EXIT_OK;
}
