/* warren-fleet's process slots: the plan from the topology (the API, each
 * queue's workers, a deadletter worker per dead-letter queue), starting,
 * reaping and restarting with a doubling backoff (a process that keeps
 * dying at once is reported as crash-looping, never restarted in a tight
 * loop), live scaling, and retiring everything at shutdown. Every start,
 * exit and restart is logged with its reason. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "fleet/internal.h"
#include "topology/topology.h"

#define STABLE_MS 10000 /* a child that lived this long was healthy */
#define MAX_BACKOFF_MS 60000
#define CRASH_LOOP_AFTER 5   /* quick deaths in a row before we call it a crash loop */
#define RETIRE_GRACE_MS 5000 /* beyond worker.shutdown_timeout, before SIGKILL */

static void child_name(const struct fleet *f, const struct fleet_child *c, char *out, size_t size)
{
    if (c->group < 0)
        snprintf(out, size, "api");
    else
        snprintf(out, size, "worker %s#%d", f->groups[c->group].queue, c->ordinal);
}

/* A free slot set WAITING to start at once, or NULL when all are used. */
static struct fleet_child *new_child(struct fleet *f, int group, int ordinal)
{
    struct fleet_child *c = NULL;
    for (size_t i = 0; i < f->child_count && !c; i++)
        if (f->children[i].state == FLEET_CHILD_FREE)
            c = &f->children[i];
    if (!c && f->child_count < FLEET_MAX_CHILDREN)
        c = &f->children[f->child_count++];
    if (!c)
        return NULL;
    *c = (struct fleet_child){.state = FLEET_CHILD_WAITING, .group = group, .ordinal = ordinal};
    return c;
}

static int add_group(struct fleet *f, const char *queue, const char *service, int desired)
{
    if (f->group_count == FLEET_MAX_GROUPS)
        return -1;
    struct fleet_group *g = &f->groups[f->group_count];
    snprintf(g->queue, sizeof g->queue, "%s", queue);
    snprintf(g->service, sizeof g->service, "%s", service);
    g->desired = desired;
    for (int i = 1; i <= desired; i++)
        if (!new_child(f, (int)f->group_count, i))
            return -1;
    f->group_count++;
    return 0;
}

wr_status fleet__plan(struct fleet *f)
{
    struct topo_model *model = NULL;
    struct topo_diags diags = {0};
    wr_status status = topo_load_file(cfg_str(f->cfg, CFG_TOPOLOGY_FILE), &model, &diags);
    if (status != WR_OK)
        topo_diags_print(&diags, stderr);
    topo_diags_free(&diags);
    if (status != WR_OK)
        return WR_ERR_TOPOLOGY;
    (void)new_child(f, -1, 1);
    for (size_t q = 0; q < model->queue_count && status == WR_OK; q++) {
        const struct topo_queue *queue = &model->queues[q];
        char dead[160];
        if (add_group(f, queue->name, topo_service_name(queue->service), queue->workers) != 0 ||
            topo_dead_queue_name(queue->name, dead, sizeof dead) != WR_OK ||
            add_group(f, dead, "deadletter", 1) != 0) {
            fprintf(stderr, "warren-fleet: the topology has more queues or workers than %d/%d\n",
                    FLEET_MAX_GROUPS, FLEET_MAX_CHILDREN);
            status = WR_ERR_TOPOLOGY;
        }
    }
    topo_model_free(model);
    return status;
}

/* fork + exec of warren-api or warren-worker --service S --queue Q. */
static void start_child(struct fleet *f, struct fleet_child *c)
{
    char program[PATH_MAX + 32], name[192];
    const struct fleet_group *g = c->group >= 0 ? &f->groups[c->group] : NULL;
    snprintf(program, sizeof program, "%s/%s", f->bin_dir, g ? "warren-worker" : "warren-api");
    child_name(f, c, name, sizeof name);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* a fleet killed with SIGKILL still stops its children gracefully */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
            _exit(1);
        /* SIGTERM and SIGINT stay blocked across exec: warren-api and
         * warren-worker block them anyway and poll for them, so one that
         * arrives while the program is still starting waits for its first
         * poll and becomes a clean stop instead of a kill */
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigprocmask(SIG_UNBLOCK, &chld, NULL);
        char *argv[9];
        int n = 0;
        argv[n++] = program;
        if (g) {
            argv[n++] = "--service";
            argv[n++] = (char *)g->service;
            argv[n++] = "--queue";
            argv[n++] = (char *)g->queue;
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
        wr_log(WR_LOG_ERROR, "fleet", "fork for %s failed: %s", name, strerror(errno));
        c->next_start_ms = wr_monotonic_ms() + 1000;
        return;
    }
    c->state = FLEET_CHILD_RUNNING;
    c->pid = pid;
    c->started_ms = wr_monotonic_ms();
    wr_log(WR_LOG_INFO, "fleet", "started %s (pid %d)", name, (int)pid);
}

void fleet__start_due(struct fleet *f)
{
    int64_t now = wr_monotonic_ms();
    for (size_t i = 0; i < f->child_count; i++)
        if (f->children[i].state == FLEET_CHILD_WAITING && f->children[i].next_start_ms <= now)
            start_child(f, &f->children[i]);
}

int fleet__next_due_ms(const struct fleet *f)
{
    int64_t now = wr_monotonic_ms(), next = -1;
    for (size_t i = 0; i < f->child_count; i++) {
        const struct fleet_child *c = &f->children[i];
        int64_t at = c->state == FLEET_CHILD_WAITING                     ? c->next_start_ms
                     : c->state == FLEET_CHILD_RETIRING && c->kill_at_ms ? c->kill_at_ms
                                                                         : -1;
        if (at >= 0 && (next < 0 || at < next))
            next = at;
    }
    if (next < 0)
        return -1;
    return next <= now ? 0 : next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

void fleet__kill_overdue(struct fleet *f)
{
    int64_t now = wr_monotonic_ms();
    char name[192];
    for (size_t i = 0; i < f->child_count; i++) {
        struct fleet_child *c = &f->children[i];
        if (c->state == FLEET_CHILD_RETIRING && c->kill_at_ms && c->kill_at_ms <= now) {
            child_name(f, c, name, sizeof name);
            wr_log(WR_LOG_WARN, "fleet", "%s did not stop in time: killing it", name);
            kill(c->pid, SIGKILL);
            c->kill_at_ms = 0;
        }
    }
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

/* A RUNNING child died by itself: when to start it again. */
static void schedule_restart(const struct fleet *f, struct fleet_child *c, const char *how)
{
    char name[192];
    int64_t now = wr_monotonic_ms();
    child_name(f, c, name, sizeof name);
    c->quick_deaths = now - c->started_ms < STABLE_MS ? c->quick_deaths + 1 : 0;
    int64_t backoff = 1000;
    for (int i = 1; i < c->quick_deaths && backoff < MAX_BACKOFF_MS; i++)
        backoff *= 2;
    backoff = backoff > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff;
    c->state = FLEET_CHILD_WAITING;
    c->next_start_ms = now + (c->quick_deaths ? backoff : 200);
    if (c->quick_deaths >= CRASH_LOOP_AFTER)
        wr_log(WR_LOG_ERROR, "fleet",
               "%s is crash-looping: %s %d times within %d s of starting; next try in %lld s", name,
               how, c->quick_deaths, STABLE_MS / 1000, (long long)backoff / 1000);
    else
        wr_log(WR_LOG_WARN, "fleet", "%s %s; restarting in %lld ms", name, how,
               (long long)(c->next_start_ms - now));
}

static void child_died(struct fleet *f, struct fleet_child *c, int wstatus, bool shutting_down)
{
    char how[96], name[192];
    describe_exit(wstatus, how, sizeof how);
    child_name(f, c, name, sizeof name);
    c->pid = 0;
    if (c->state == FLEET_CHILD_RUNNING && !shutting_down) {
        schedule_restart(f, c, how);
        return;
    }
    /* a retired child should drain, ack and exit 0: anything else is worth a look */
    bool clean = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
    wr_log(clean ? WR_LOG_INFO : WR_LOG_WARN, "fleet", "%s %s (%s)", name, how,
           shutting_down ? "shutdown" : "scaled down: not restarted");
    c->state = FLEET_CHILD_FREE;
}

size_t fleet__reap(struct fleet *f, bool shutting_down)
{
    int wstatus;
    pid_t pid;
    size_t reaped = 0;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
        for (size_t i = 0; i < f->child_count; i++) {
            struct fleet_child *c = &f->children[i];
            if (c->pid == pid && c->state != FLEET_CHILD_FREE && c->state != FLEET_CHILD_WAITING) {
                child_died(f, c, wstatus, shutting_down);
                break;
            }
        }
        reaped++;
    }
    return reaped;
}

/* SIGTERM and RETIRING (a RUNNING child) or FREE (a WAITING one). */
static void retire(struct fleet_child *c, int64_t kill_at_ms)
{
    if (c->state == FLEET_CHILD_WAITING) {
        c->state = FLEET_CHILD_FREE;
    } else if (c->state == FLEET_CHILD_RUNNING) {
        kill(c->pid, SIGTERM);
        c->state = FLEET_CHILD_RETIRING;
        c->kill_at_ms = kill_at_ms;
    }
}

void fleet__retire_all(struct fleet *f, bool api, int64_t kill_at_ms)
{
    for (size_t i = 0; i < f->child_count; i++) {
        struct fleet_child *c = &f->children[i];
        if ((c->group < 0) == api) {
            retire(c, kill_at_ms);
            if (c->state == FLEET_CHILD_RETIRING)
                c->kill_at_ms = kill_at_ms; /* scaled-down ones too: the fleet's bound wins */
        }
    }
}

void fleet__kill_all(struct fleet *f)
{
    char name[192];
    for (size_t i = 0; i < f->child_count; i++) {
        struct fleet_child *c = &f->children[i];
        if (c->state == FLEET_CHILD_RUNNING || c->state == FLEET_CHILD_RETIRING) {
            child_name(f, c, name, sizeof name);
            wr_log(WR_LOG_WARN, "fleet", "%s did not stop in time: killing it", name);
            kill(c->pid, SIGKILL);
        }
    }
}

size_t fleet__alive(const struct fleet *f, bool api_only)
{
    size_t n = 0;
    for (size_t i = 0; i < f->child_count; i++) {
        const struct fleet_child *c = &f->children[i];
        n += (c->state == FLEET_CHILD_RUNNING || c->state == FLEET_CHILD_RETIRING) &&
             (!api_only || c->group < 0);
    }
    return n;
}

int fleet__running(const struct fleet *f, int group)
{
    int n = 0;
    for (size_t i = 0; i < f->child_count; i++)
        n += f->children[i].state == FLEET_CHILD_RUNNING && f->children[i].group == group;
    return n;
}

pid_t fleet__api_pid(const struct fleet *f)
{
    for (size_t i = 0; i < f->child_count; i++)
        if (f->children[i].group < 0 && f->children[i].state == FLEET_CHILD_RUNNING)
            return f->children[i].pid;
    return 0;
}

/* ---- scaling ---------------------------------------------------------------------------- */

/* The group a name means: a queue's name, or a service's that runs on
 * exactly one queue. -1 after writing why into reply. */
static int find_group(const struct fleet *f, const char *name, char *reply, size_t size)
{
    int by_service = -1, services = 0;
    for (size_t i = 0; i < f->group_count; i++) {
        if (strcmp(f->groups[i].queue, name) == 0)
            return (int)i;
        if (strcmp(f->groups[i].service, name) == 0) {
            by_service = (int)i;
            services++;
        }
    }
    if (services == 1)
        return by_service;
    if (services > 1)
        snprintf(reply, size, "usage '%s' runs on %d queues: name the queue (e.g. %s)\n", name,
                 services, f->groups[by_service].queue);
    else
        snprintf(reply, size, "usage no queue or service '%s' in the fleet's topology\n", name);
    return -1;
}

/* Every assignment checked before anything changes. */
static wr_status check_assignments(const struct fleet *f, char *const *assignments, size_t count,
                                   int *groups, int *counts, char *reply, size_t size)
{
    char name[128];
    struct wr_error err;
    if (count == 0) {
        snprintf(reply, size, "usage nothing to scale: give NAME=COUNT, e.g. payment=4\n");
        return WR_ERR_INVALID;
    }
    for (size_t i = 0; i < count; i++) {
        if (fleet_parse_assignment(assignments[i], name, &counts[i], &err) != WR_OK) {
            snprintf(reply, size, "usage %s\n", err.message);
            return WR_ERR_INVALID;
        }
        if ((groups[i] = find_group(f, name, reply, size)) < 0)
            return WR_ERR_INVALID;
        for (size_t j = 0; j < i; j++) {
            if (groups[j] == groups[i]) {
                snprintf(reply, size, "usage queue %s is named twice\n",
                         f->groups[groups[i]].queue);
                return WR_ERR_INVALID;
            }
        }
    }
    return WR_OK;
}

/* Slots the new counts need beyond those there are. */
static size_t slots_needed(const struct fleet *f, const int *groups, const int *counts,
                           size_t count)
{
    size_t free_slots = FLEET_MAX_CHILDREN - f->child_count, needed = 0;
    for (size_t i = 0; i < f->child_count; i++)
        free_slots += f->children[i].state == FLEET_CHILD_FREE;
    for (size_t i = 0; i < count; i++)
        if (counts[i] > f->groups[groups[i]].desired)
            needed += (size_t)(counts[i] - f->groups[groups[i]].desired);
    return needed > free_slots ? needed - free_slots : 0;
}

/* The group's kept slot with the highest ordinal (not RETIRING). */
static struct fleet_child *last_kept(struct fleet *f, int group)
{
    struct fleet_child *last = NULL;
    for (size_t i = 0; i < f->child_count; i++) {
        struct fleet_child *c = &f->children[i];
        if (c->group == group &&
            (c->state == FLEET_CHILD_WAITING || c->state == FLEET_CHILD_RUNNING) &&
            (!last || c->ordinal > last->ordinal))
            last = c;
    }
    return last;
}

static void set_count(struct fleet *f, int group, int want)
{
    struct fleet_group *g = &f->groups[group];
    int64_t kill_at =
        wr_monotonic_ms() + cfg_int(f->cfg, CFG_WORKER_SHUTDOWN_TIMEOUT) + RETIRE_GRACE_MS;
    for (; g->desired > want; g->desired--) {
        struct fleet_child *last = last_kept(f, group);
        if (last)
            retire(last, kill_at);
    }
    for (; g->desired < want; g->desired++)
        (void)new_child(f, group, g->desired + 1); /* room was checked */
}

wr_status fleet__scale(struct fleet *f, char *const *assignments, size_t count, char *reply,
                       size_t reply_size)
{
    int groups[64], counts[64];
    if (count > 64) {
        snprintf(reply, reply_size, "usage at most 64 assignments at once\n");
        return WR_ERR_INVALID;
    }
    wr_status status = check_assignments(f, assignments, count, groups, counts, reply, reply_size);
    if (status != WR_OK)
        return status;
    if (slots_needed(f, groups, counts, count) > 0) {
        snprintf(reply, reply_size, "usage the fleet runs at most %d processes\n",
                 FLEET_MAX_CHILDREN);
        return WR_ERR_INVALID;
    }
    size_t used = 0;
    reply[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        struct fleet_group *g = &f->groups[groups[i]];
        int old = g->desired;
        set_count(f, groups[i], counts[i]);
        wr_log(WR_LOG_INFO, "fleet", "scale %s (%s): %d -> %d workers", g->queue, g->service, old,
               counts[i]);
        int n = snprintf(reply + used, reply_size - used, "scaled %s %s %d %d\n", g->queue,
                         g->service, old, counts[i]);
        used += n > 0 && (size_t)n < reply_size - used ? (size_t)n : 0;
    }
    fleet__start_due(f);
    return WR_OK;
}
