/* warren's own programs started by tests against the stack: warren-worker
 * (WARREN_WORKER_BIN) per service, on a world's queue or on the real
 * topology's, optionally with a crash point; and warren-api
 * (WARREN_API_BIN) on a free port, with the test keys of
 * tests/support/api-keys.yaml (shop-a-key, limited-key, admin-key). Every
 * process started here is tracked (ts_track_begin in support.h). */
#ifndef WARREN_TESTS_SUPPORT_PROGRAMS_H
#define WARREN_TESTS_SUPPORT_PROGRAMS_H

#include <stddef.h>
#include <sys/types.h>

#include "tests/support/world.h"

/* Starts warren-worker --service service: on w's queue of service (w's
 * WARREN_* variables were set by ts_world_create), or with w NULL on the
 * real topology/topology.yaml's queue and exchange. crash_at (or NULL)
 * becomes WARREN_CRASH_AT ("payment:after_charge"). Sets the service's
 * WARREN_DATABASE_*_URL and, for sanitizer builds, the libesmtp suppression
 * of tests/support/asan.supp. Its log goes to
 * <scratch>/<service>-worker-<test pid>-<n>.log (ts_scratch_log). Returns
 * its pid. */
pid_t ts_worker_start(const struct ts_world *w, const char *service, const char *crash_at);

/* The same on any queue of the current world (e.g. a deadletter worker on
 * "<queue>.dead"). */
pid_t ts_worker_start_on(const char *service, const char *queue);

/* True when the log of a worker of service that this test started contains
 * needle. */
int ts_worker_logs_contain(const char *service, const char *needle);

/* SIGTERM; returns the worker's exit status (SIGKILL after 15 s: 137). */
int ts_worker_stop(pid_t pid);

/* Stops count workers at once (SIGTERM to all, then waits for each, SIGKILL
 * after 15 s); pids of 0 are skipped, and every pid becomes 0. Returns 0
 * when all exited 0, else the first other exit status. */
int ts_workers_stop(pid_t *pids, size_t count);

struct ts_api {
    pid_t pid;
    char base_url[64]; /* "http://localhost:PORT" (https with a certificate) */
    char log[256];     /* its log file */
};

/* Starts warren-api on ts_free_port() publishing to exchange, serving https
 * when tls_cert and tls_key are not NULL, with the test keys and the
 * stack's broker and databases; waits up to 10 s for /healthz (asserts).
 * Other WARREN_* variables the test set are inherited. */
void ts_api_start(struct ts_api *api, const char *exchange, const char *tls_cert,
                  const char *tls_key);

/* Waits up to timeout_ms for /readyz (broker and database reachable); asserts. */
void ts_api_wait_ready(const struct ts_api *api, int timeout_ms);

/* SIGTERM (SIGKILL after 10 s); returns the exit status; pid becomes 0.
 * Nothing to do when pid is 0. */
int ts_api_stop(struct ts_api *api);

/* warren-fleet (WARREN_FLEET_BIN) on a world: its API on a free port with
 * the test keys, its control socket in the scratch folder, the world's queues and their
 * topology counts (world.h: "order:2"). */
struct ts_fleet {
    pid_t pid;
    char base_url[64]; /* its API: "http://localhost:PORT" */
    char socket[108];  /* fleet.control_socket (WARREN_FLEET_CONTROL_SOCKET is set) */
    char log[256];     /* its log file (and its children's) */
};

/* Starts warren-fleet for w (its WARREN_* variables were set by
 * ts_world_create) and waits up to 20 s for the API's /readyz and the
 * control socket (asserts). Other WARREN_* variables are inherited. */
void ts_fleet_start(struct ts_fleet *fleet, const struct ts_world *w);

/* SIGTERM; waits up to timeout_ms (then SIGKILL); returns the exit status
 * (0-255, or 128+signal); pid becomes 0. Nothing to do when pid is 0. */
int ts_fleet_stop(struct ts_fleet *fleet, int timeout_ms);

#endif
