/* fleet/: warren-fleet's control path as seen by its clients (warrenctl
 * scale and status). warren-fleet listens on a unix socket
 * (fleet.control_socket, mode 0600: only its own user may connect) and
 * answers one request line per connection:
 *
 *   "status\n"            -> "fleet PID UPTIME_S API_PID\n"
 *                            "queue NAME SERVICE DESIRED RUNNING\n" (one per queue)
 *                            "ok\n"
 *   "scale NAME=N ...\n"  -> "scaled NAME SERVICE OLD NEW\n" (one per NAME), "ok\n"
 *                            or one "usage MESSAGE\n" (bad input, nothing changed)
 *   anything else         -> "usage MESSAGE\n"
 *
 * NAME is a queue name ("payment", "order.dead") or a service name that
 * names exactly one queue ("payment"). The functions here speak it. */
#ifndef WARREN_FLEET_H
#define WARREN_FLEET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/status.h"

/* Most workers one queue may have (the topology's limit too). */
#define FLEET_MAX_WORKERS 64

/* One queue's workers as the fleet reports them. */
struct fleet_queue {
    char name[128];
    char service[32];
    int desired; /* the count the fleet keeps (topology, then `warrenctl scale`) */
    int running; /* live worker processes, not counting those being stopped */
};

/* What `status` answers. Free with fleet_status_free(). */
struct fleet_status {
    pid_t pid;        /* warren-fleet's */
    int64_t uptime_s; /* since it started */
    pid_t api_pid;    /* 0: warren-api is not running (restarting) */
    struct fleet_queue *queues;
    size_t queue_count;
};

/* Asks the fleet at socket_path for its status (2 s limit). WR_OK with
 * *out filled (free with fleet_status_free); WR_ERR_NOT_FOUND when no
 * fleet listens there (no socket, or a stale one); WR_ERR_IO,
 * WR_ERR_TIMEOUT or WR_ERR_PROTOCOL otherwise; err says why. */
wr_status fleet_status_fetch(const char *socket_path, struct fleet_status *out,
                             struct wr_error *err) WR_MUST_CHECK;
void fleet_status_free(struct fleet_status *status);

/* Sends "scale" with assignments ("payment=4", ...) and writes the
 * fleet's answer lines (without the final "ok") into reply. WR_OK when
 * applied; WR_ERR_INVALID when the fleet refused the input (err holds its
 * one-line message; nothing changed); WR_ERR_NOT_FOUND / WR_ERR_IO /
 * WR_ERR_TIMEOUT / WR_ERR_PROTOCOL as for fleet_status_fetch. */
wr_status fleet_scale(const char *socket_path, const char *const *assignments, size_t count,
                      char *reply, size_t reply_size, struct wr_error *err) WR_MUST_CHECK;

/* Parses "NAME=N" (N a decimal 0..FLEET_MAX_WORKERS, NAME non-empty, at
 * most 127 bytes, no spaces): WR_OK with name and *workers set, else
 * WR_ERR_INVALID with a one-line reason in err. Used on both sides. */
wr_status fleet_parse_assignment(const char *text, char name[128], int *workers,
                                 struct wr_error *err) WR_MUST_CHECK;

/* Where the queue report's figures come from. */
struct fleet_report_source {
    const char *control_socket; /* fleet.control_socket */
    const char *topology_file;  /* for the queues when no fleet runs */
    const char *management_url; /* broker.management_url */
    const char *vhost;
};

/* {"fleet": {"running", "pid", "uptime_s", "api_pid"} or {"running": false,
 * "detail"}, "broker": {"reachable", "detail"?}, "queues": [{"queue",
 * "service", "desired"?, "running"?, "consumers", "ready", "unacked",
 * "publish_per_s", "deliver_per_s", "dead"}]} (broker figures null when
 * the broker has no such queue). *ok is false when the broker or the
 * topology could not be read. (fleet/queues.c) */
json_t *fleet_queues_report(const struct fleet_report_source *source, bool *ok);

#endif
