/* Private to fleet/: the supervisor's state (process slots grouped per
 * queue, supervisor.c) and the control socket's server side (control.c),
 * both driven by the one loop in main.c. */
#ifndef WARREN_FLEET_INTERNAL_H
#define WARREN_FLEET_INTERNAL_H

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "fleet/fleet.h"

#define FLEET_MAX_GROUPS 128
#define FLEET_MAX_CHILDREN 1024

/* The states of a process slot, changed only in supervisor.c. */
enum fleet_child_state {
    FLEET_CHILD_FREE,     /* an unused slot */
    FLEET_CHILD_WAITING,  /* not running: starts at next_start_ms (first start, or backoff) */
    FLEET_CHILD_RUNNING,  /* pid is alive and counted */
    FLEET_CHILD_RETIRING, /* scaled down or shutting down: SIGTERM sent, not restarted */
};

/* One supervised process: warren-api (group -1) or a worker of a group. */
struct fleet_child {
    enum fleet_child_state state;
    int group;   /* index into fleet.groups, -1 for the API */
    int ordinal; /* "worker payment#2": 2 */
    pid_t pid;   /* set while RUNNING or RETIRING */
    int64_t started_ms;
    int64_t next_start_ms; /* WAITING: when to start */
    int64_t kill_at_ms;    /* RETIRING: SIGKILL if still alive then (0: never) */
    int quick_deaths;
};

/* The workers of one queue. */
struct fleet_group {
    char queue[128];
    char service[32];
    int desired; /* the topology's count, then `warrenctl scale`'s */
};

/* The supervisor: what runs and what should. */
struct fleet {
    const struct cfg *cfg;
    const char *config_path;
    char bin_dir[PATH_MAX];
    int64_t started_ms;
    struct fleet_group groups[FLEET_MAX_GROUPS];
    size_t group_count;
    struct fleet_child children[FLEET_MAX_CHILDREN];
    size_t child_count; /* slots ever used (a high-water mark) */
    sigset_t blocked;   /* SIGTERM, SIGINT, SIGCHLD (only SIGCHLD is unblocked in children) */
};

/* ---- supervisor.c ------------------------------------------------------------------- */

/* Reads the topology (topology.file) and plans the API plus, per queue,
 * its count of workers and one deadletter worker for its dead-letter
 * queue. WR_ERR_TOPOLOGY after printing the problems to stderr. */
wr_status fleet__plan(struct fleet *f) WR_MUST_CHECK;

/* Starts every WAITING slot whose time has come. */
void fleet__start_due(struct fleet *f);

/* Milliseconds until the next start or kill is due (0 if overdue), or -1
 * when nothing is scheduled. */
int fleet__next_due_ms(const struct fleet *f);

/* SIGKILLs RETIRING processes past their kill_at_ms. */
void fleet__kill_overdue(struct fleet *f);

/* Reaps every exited child: a RUNNING one is restarted with backoff
 * (unless shutting_down), a RETIRING one frees its slot. Returns how many. */
size_t fleet__reap(struct fleet *f, bool shutting_down);

/* Sends SIGTERM to the API (api true) or to every worker (api false) and
 * marks them RETIRING with kill_at_ms; WAITING slots of that kind are freed. */
void fleet__retire_all(struct fleet *f, bool api, int64_t kill_at_ms);

/* SIGKILLs every process still alive. */
void fleet__kill_all(struct fleet *f);

/* Processes alive (RUNNING or RETIRING); api_only counts only the API. */
size_t fleet__alive(const struct fleet *f, bool api_only);

/* Workers RUNNING in group g. */
int fleet__running(const struct fleet *f, int group);

/* The pid of the running API, or 0. */
pid_t fleet__api_pid(const struct fleet *f);

/* Applies "NAME=N" assignments all or nothing: on bad input (unknown or
 * ambiguous name, bad count, a name twice) writes one line to reply and
 * returns WR_ERR_INVALID with nothing changed; else starts or retires
 * workers at once, writes one "scaled QUEUE SERVICE OLD NEW" line per
 * assignment and returns WR_OK. */
wr_status fleet__scale(struct fleet *f, char *const *assignments, size_t count, char *reply,
                       size_t reply_size);

/* ---- control.c ---------------------------------------------------------------------- */

#define FLEET_CONTROL_CLIENTS 8

struct fleet_control_client {
    int fd; /* -1: unused */
    int64_t opened_ms;
    size_t used;
    char request[4096];
};

/* The listening socket and the clients being read. */
struct fleet_control {
    int listen_fd; /* -1: closed */
    char path[108];
    struct fleet_control_client clients[FLEET_CONTROL_CLIENTS];
    char reply[65536]; /* the answer being sent (scratch space) */
};

/* Creates the parent folder if missing (0700), refuses a path another
 * fleet listens on (WR_ERR_CONFLICT), removes a stale socket, and listens
 * with mode 0600. WR_ERR_IO / WR_ERR_INVALID otherwise; err says why. */
wr_status fleet__control_open(struct fleet_control *c, const char *path,
                              struct wr_error *err) WR_MUST_CHECK;

/* Adds the listening socket and the clients to fds (room for
 * 1 + FLEET_CONTROL_CLIENTS); returns how many were added. */
size_t fleet__control_pollfds(const struct fleet_control *c, struct pollfd *fds);

/* After poll(): accepts, reads and answers whatever is ready (never
 * blocks), and drops clients silent for more than a second. */
void fleet__control_service(struct fleet_control *c, const struct pollfd *fds, size_t count,
                            struct fleet *f);

/* Closes every socket and removes the socket file. Safe to call twice. */
void fleet__control_close(struct fleet_control *c);

#endif
