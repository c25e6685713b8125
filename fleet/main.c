/* warren-fleet: the supervisor for one host. It starts warren-api and, per
 * topology queue, the queue's count of warren-worker processes and one
 * deadletter worker for its dead-letter queue; restarts
 * a process that dies, with a doubling backoff (a process that keeps dying
 * at once is reported as crash-looping, never restarted in a tight loop);
 * and on SIGTERM stops them all gracefully within fleet.shutdown_timeout,
 * then kills what is left. Every start, exit and restart is logged. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/cli.h"
#include "core/clock.h"
#include "core/log.h"
#include "topology/topology.h"

#define MAX_CHILDREN 512
#define STABLE_MS 10000      /* a child that lived this long was healthy */
#define MAX_BACKOFF_MS 60000
#define CRASH_LOOP_AFTER 5   /* quick deaths in a row before we call it a crash loop */

/* One supervised process slot. */
struct child {
    char name[96];        /* "api", "worker payment#2" */
    char service[32];     /* NULL-like "" for the API */
    char queue[128];
    pid_t pid;            /* 0 = not running */
    int64_t started_ms;
    int64_t next_start_ms;
    int quick_deaths;
};

struct fleet {
    const struct cfg *cfg;
    const char *config_path;
    char bin_dir[PATH_MAX];
    struct child children[MAX_CHILDREN];
    size_t count;
};

static void usage(FILE *out)
{
    fputs("usage: warren-fleet [--config FILE]\n"
          "\n"
          "Runs warren on this host: warren-api and, for every queue of the topology\n"
          "(topology.file), its `workers` count of warren-worker processes. Restarts a\n"
          "process that dies, with backoff; SIGTERM stops everything gracefully.\n"
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

static void add_child(struct fleet *f, const char *name, const char *service, const char *queue)
{
    if (f->count == MAX_CHILDREN)
        return;
    struct child *c = &f->children[f->count++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->service, sizeof c->service, "%s", service);
    snprintf(c->queue, sizeof c->queue, "%s", queue);
}

static int plan_children(struct fleet *f)
{
    struct topo_model *model = NULL;
    struct topo_diags diags = {0};
    wr_status loaded = topo_load_file(cfg_str(f->cfg, CFG_TOPOLOGY_FILE), &model, &diags);
    if (loaded != WR_OK)
        topo_diags_print(&diags, stderr);
    topo_diags_free(&diags);
    if (loaded != WR_OK)
        return -1;
    add_child(f, "api", "", "");
    for (size_t q = 0; q < model->queue_count; q++) {
        const struct topo_queue *queue = &model->queues[q];
        for (int i = 1; i <= queue->workers; i++) {
            char name[96];
            snprintf(name, sizeof name, "worker %s#%d", queue->name, i);
            add_child(f, name, topo_service_name(queue->service), queue->name);
        }
        /* its dead-letter queue goes to the deadletter service's store */
        char dead[160], name[192];
        if (topo_dead_queue_name(queue->name, dead, sizeof dead) == WR_OK) {
            snprintf(name, sizeof name, "worker %s#1", dead);
            add_child(f, name, "deadletter", dead);
        }
    }
    topo_model_free(model);
    return 0;
}

static void start_child(struct fleet *f, struct child *c, const sigset_t *blocked)
{
    char program[PATH_MAX + 32];
    snprintf(program, sizeof program, "%s/%s", f->bin_dir, c->service[0] ? "warren-worker" : "warren-api");
    pid_t pid = fork();
    if (pid == 0) {
        sigprocmask(SIG_UNBLOCK, blocked, NULL);
        char *argv[9];
        int n = 0;
        argv[n++] = program;
        if (c->service[0]) {
            argv[n++] = "--service";
            argv[n++] = c->service;
            argv[n++] = "--queue";
            argv[n++] = c->queue;
        }
        if (f->config_path) {
            argv[n++] = "--config";
            argv[n++] = (char *)f->config_path;
        }
        argv[n] = NULL;
        execv(program, argv);
        fprintf(stderr, "warren-fleet: cannot run %s: %s\n", program, strerror(errno));
        _exit(127);
    }
    if (pid < 0) {
        wr_log(WR_LOG_ERROR, "fleet", "fork for %s failed: %s", c->name, strerror(errno));
        c->next_start_ms = wr_monotonic_ms() + 1000;
        return;
    }
    c->pid = pid;
    c->started_ms = wr_monotonic_ms();
    wr_log(WR_LOG_INFO, "fleet", "started %s (pid %d)", c->name, (int)pid);
}

static void describe_exit(int wstatus, char *out, size_t size)
{
    if (WIFEXITED(wstatus))
        snprintf(out, size, "exited with status %d", WEXITSTATUS(wstatus));
    else if (WIFSIGNALED(wstatus))
        snprintf(out, size, "killed by signal %d (%s)", WTERMSIG(wstatus),
                 strsignal(WTERMSIG(wstatus)));
    else
        snprintf(out, size, "stopped (status %d)", wstatus);
}

/* Records a child's death and when to start it again. */
static void child_died(struct child *c, int wstatus, bool stopping)
{
    char how[96];
    int64_t now = wr_monotonic_ms();
    describe_exit(wstatus, how, sizeof how);
    c->pid = 0;
    if (stopping) {
        wr_log(WR_LOG_INFO, "fleet", "%s %s", c->name, how);
        return;
    }
    c->quick_deaths = now - c->started_ms < STABLE_MS ? c->quick_deaths + 1 : 0;
    int64_t backoff = 1000;
    for (int i = 1; i < c->quick_deaths && backoff < MAX_BACKOFF_MS; i++)
        backoff *= 2;
    backoff = backoff > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff;
    c->next_start_ms = now + (c->quick_deaths ? backoff : 200);
    if (c->quick_deaths >= CRASH_LOOP_AFTER)
        wr_log(WR_LOG_ERROR, "fleet",
               "%s is crash-looping: %s %d times within %d s of starting; next try in %lld s",
               c->name, how, c->quick_deaths, STABLE_MS / 1000, (long long)backoff / 1000);
    else
        wr_log(WR_LOG_WARN, "fleet", "%s %s; restarting in %lld ms", c->name, how,
               (long long)(c->next_start_ms - now));
}

static struct child *find_child(struct fleet *f, pid_t pid)
{
    for (size_t i = 0; i < f->count; i++)
        if (f->children[i].pid == pid)
            return &f->children[i];
    return NULL;
}

static size_t reap(struct fleet *f, bool stopping)
{
    int wstatus;
    pid_t pid;
    size_t reaped = 0;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
        struct child *c = find_child(f, pid);
        if (c)
            child_died(c, wstatus, stopping);
        reaped++;
    }
    return reaped;
}

static size_t running(const struct fleet *f)
{
    size_t n = 0;
    for (size_t i = 0; i < f->count; i++)
        n += f->children[i].pid != 0;
    return n;
}

/* Runs until SIGTERM/SIGINT: reaps, restarts when due. */
static void supervise(struct fleet *f, const sigset_t *signals)
{
    for (;;) {
        int64_t now = wr_monotonic_ms();
        for (size_t i = 0; i < f->count; i++)
            if (!f->children[i].pid && f->children[i].next_start_ms <= now)
                start_child(f, &f->children[i], signals);
        struct timespec tick = {.tv_nsec = 200 * 1000000};
        int sig = sigtimedwait(signals, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            wr_log(WR_LOG_INFO, "fleet", "%s: stopping %zu processes",
                   sig == SIGTERM ? "SIGTERM" : "SIGINT", running(f));
            return;
        }
        reap(f, false);
    }
}

/* SIGTERM to everyone (each drains), then SIGKILL at the deadline. */
static void shut_down(struct fleet *f, const sigset_t *signals)
{
    int64_t deadline = wr_monotonic_ms() + cfg_int(f->cfg, CFG_FLEET_SHUTDOWN_TIMEOUT);
    for (size_t i = 0; i < f->count; i++)
        if (f->children[i].pid)
            kill(f->children[i].pid, SIGTERM);
    while (running(f) > 0 && wr_monotonic_ms() < deadline) {
        struct timespec tick = {.tv_nsec = 100 * 1000000};
        (void)sigtimedwait(signals, NULL, &tick);
        reap(f, true);
    }
    for (size_t i = 0; i < f->count; i++) {
        if (f->children[i].pid) {
            wr_log(WR_LOG_WARN, "fleet", "%s did not stop in time: killing it", f->children[i].name);
            kill(f->children[i].pid, SIGKILL);
        }
    }
    while (running(f) > 0 && reap(f, true) == 0) {
        struct timespec tick = {.tv_nsec = 20 * 1000000};
        nanosleep(&tick, NULL);
    }
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
    f.cfg = cfg;
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGCHLD);
    sigprocmask(SIG_BLOCK, &signals, NULL);
    int rc = 1;
    if (find_bin_dir(&f) != 0 || plan_children(&f) != 0) {
        fprintf(stderr, "warren-fleet: cannot plan the fleet (see above)\n");
        goto out;
    }
    wr_log(WR_LOG_INFO, "fleet", "supervising %zu processes (programs in %s)", f.count, f.bin_dir);
    supervise(&f, &signals);
    shut_down(&f, &signals);
    wr_log(WR_LOG_INFO, "fleet", "stopped");
    rc = 0;
out:
    cfg_free(cfg);
    return rc;
}
