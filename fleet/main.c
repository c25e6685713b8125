/* warren-fleet: the supervisor for one host. It starts warren-api and, per
 * topology queue, the queue's count of warren-worker processes and one
 * deadletter worker for its dead-letter queue (supervisor.c); answers
 * `warrenctl scale` and `warrenctl status` on its control socket
 * (control.c); and on SIGTERM stops the API first, then the workers, all
 * within fleet.shutdown_timeout, then kills what is left. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "config/config.h"
#include "core/cli.h"
#include "core/clock.h"
#include "core/log.h"
#include "fleet/internal.h"

static void usage(FILE *out)
{
    fputs("usage: warren-fleet [--config FILE]\n"
          "\n"
          "Runs warren on this host: warren-api and, for every queue of the topology\n"
          "(topology.file), its `workers` count of warren-worker processes, plus one\n"
          "deadletter worker per dead-letter queue. Restarts a process that dies, with\n"
          "backoff. `warrenctl scale` and `warrenctl status` talk to it through the unix\n"
          "socket fleet.control_socket (mode 0600). SIGTERM or SIGINT stops the API,\n"
          "then the workers (each finishes and acks what it holds), and kills what is\n"
          "left after fleet.shutdown_timeout.\n"
          "\n"
          "  --config FILE  YAML configuration (WARREN_* variables override it)\n"
          "  --help, --version\n",
          out);
}

/* The directory of this executable: warren-api and warren-worker live beside it. */
static int find_bin_dir(struct fleet *f)
{
    ssize_t n = readlink("/proc/self/exe", f->bin_dir, sizeof f->bin_dir - 1);
    if (n <= 0)
        return -1;
    f->bin_dir[n] = '\0';
    char *slash = strrchr(f->bin_dir, '/');
    if (slash)
        *slash = '\0';
    return 0;
}

/* Reads the pending signals; returns SIGTERM or SIGINT if one came, else 0
 * (a SIGCHLD only: the caller reaps). */
static int read_signals(int sfd)
{
    struct signalfd_siginfo info;
    int stop = 0;
    while (read(sfd, &info, sizeof info) == (ssize_t)sizeof info)
        if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT)
            stop = (int)info.ssi_signo;
    return stop;
}

/* Why one loop and poll(): the fleet must answer the control socket at
 * once, restart a dead child when its backoff ends, and use no CPU while
 * nothing happens (target: under 1% of a core idle). Signals arrive on a
 * signalfd and control clients on sockets, so poll() sleeps until one of
 * them or the next scheduled start/kill, with no periodic tick. Returns
 * the stopping signal. */
static int supervise(struct fleet *f, struct fleet_control *control, int sfd)
{
    struct pollfd fds[2 + FLEET_CONTROL_CLIENTS];
    for (;;) {
        fleet__start_due(f);
        fleet__kill_overdue(f);
        fds[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
        size_t n = 1 + fleet__control_pollfds(control, fds + 1);
        int timeout = fleet__next_due_ms(f);
        if (n > 2 && (timeout < 0 || timeout > 250))
            timeout = 250; /* a client is open: check its time limit */
        if (poll(fds, n, timeout) < 0 && errno != EINTR) {
            wr_log(WR_LOG_ERROR, "fleet", "poll: %s", strerror(errno));
            return SIGTERM;
        }
        int stop = fds[0].revents ? read_signals(sfd) : 0;
        fleet__reap(f, false);
        if (stop)
            return stop;
        fleet__control_service(control, fds + 1, n - 1, f);
    }
}

/* Reaps until no process (api_only: no API) is alive or deadline passes. */
static void wait_until(struct fleet *f, int sfd, int64_t deadline, bool api_only)
{
    while (fleet__alive(f, api_only) > 0) {
        int64_t left = deadline - wr_monotonic_ms();
        if (left <= 0)
            return;
        struct pollfd pfd = {.fd = sfd, .events = POLLIN};
        if (poll(&pfd, 1, left > 100 ? 100 : (int)left) > 0 && read_signals(sfd))
            wr_log(WR_LOG_INFO, "fleet", "already stopping; %lld ms left before killing",
                   (long long)left);
        fleet__reap(f, true);
    }
}

/* The API stops accepting and drains its requests first, so nothing new
 * enters while workers still run; then every worker gets SIGTERM (each
 * cancels its consumer, finishes and acks what it holds). The workers'
 * turn comes when the API has exited, or at half the bound at the latest.
 * What is alive at the bound is SIGKILLed. */
static void shut_down(struct fleet *f, int sfd)
{
    int64_t start = wr_monotonic_ms(), bound = cfg_int(f->cfg, CFG_FLEET_SHUTDOWN_TIMEOUT);
    int64_t deadline = start + bound;
    fleet__retire_all(f, true, 0);
    wait_until(f, sfd, start + bound / 2, true);
    fleet__retire_all(f, false, 0);
    wait_until(f, sfd, deadline, false);
    if (fleet__alive(f, false) > 0)
        fleet__kill_all(f);
    while (fleet__alive(f, false) > 0) {
        struct pollfd pfd = {.fd = sfd, .events = POLLIN};
        (void)poll(&pfd, 1, 50);
        (void)read_signals(sfd);
        fleet__reap(f, true);
    }
    wr_log(WR_LOG_INFO, "fleet", "stopped in %lld ms", (long long)(wr_monotonic_ms() - start));
}

static int run(struct fleet *f)
{
    static struct fleet_control control;
    struct wr_error err;
    int rc = 1, sfd = -1;
    if (fleet__control_open(&control, cfg_str(f->cfg, CFG_FLEET_CONTROL_SOCKET), &err) != WR_OK) {
        fprintf(stderr, "warren-fleet: %s\n", err.message);
        goto out;
    }
    if ((sfd = signalfd(-1, &f->blocked, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
        fprintf(stderr, "warren-fleet: signalfd: %s\n", strerror(errno));
        goto out_control;
    }
    wr_log(WR_LOG_INFO, "fleet", "supervising %zu processes (programs in %s, control socket %s)",
           f->child_count, f->bin_dir, control.path);
    int sig = supervise(f, &control, sfd);
    wr_log(WR_LOG_INFO, "fleet", "%s: stopping %zu processes",
           sig == SIGTERM ? "SIGTERM" : "SIGINT", fleet__alive(f, false));
    fleet__control_close(&control); /* no scaling while stopping */
    shut_down(f, sfd);
    rc = 0;
    close(sfd);
out_control:
    fleet__control_close(&control);
out:
    return rc;
}

int main(int argc, char **argv)
{
    static struct fleet f;
    f.config_path = getenv("WARREN_CONFIG");
    const struct wr_cli_option options[] = {{"config", &f.config_path}};
    enum wr_cli_result parsed = wr_cli_parse("warren-fleet", argc, argv, options, 1);
    if (parsed == WR_CLI_HELP)
        usage(stdout);
    else if (parsed == WR_CLI_VERSION)
        printf("warren-fleet %s\n", WARREN_VERSION);
    if (parsed != WR_CLI_RUN)
        return parsed == WR_CLI_USAGE_ERROR ? 2 : 0;
    struct cfg *cfg = NULL;
    if (cfg_load(f.config_path, stderr, &cfg) != WR_OK) {
        fprintf(stderr, "warren-fleet: bad configuration (see above)\n");
        return 1;
    }
    enum wr_log_level level;
    if (wr_log_level_parse(cfg_str(cfg, CFG_LOG_LEVEL), &level) == 0)
        wr_log_set_level(level);
    f.cfg = cfg;
    f.started_ms = wr_monotonic_ms();
    sigemptyset(&f.blocked);
    sigaddset(&f.blocked, SIGTERM);
    sigaddset(&f.blocked, SIGINT);
    sigaddset(&f.blocked, SIGCHLD);
    sigprocmask(SIG_BLOCK, &f.blocked, NULL);
    int rc = 1;
    if (find_bin_dir(&f) != 0 || fleet__plan(&f) != WR_OK)
        fprintf(stderr, "warren-fleet: cannot plan the fleet (see above)\n");
    else
        rc = run(&f);
    cfg_free(cfg);
    return rc;
}
