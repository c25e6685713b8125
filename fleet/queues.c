/* The per-queue report of `warrenctl status` and GET /v1/admin/queues:
 * the workers the running warren-fleet wants and runs (its control socket;
 * without a fleet, the topology's queues), and what the broker sees
 * (management API): consumers, ready and unacked messages, publish and
 * deliver rates, and the depth of each queue's dead-letter queue. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "broker/broker.h"
#include "fleet/fleet.h"
#include "topology/topology.h"

/* The rows without a fleet: each topology queue and its dead-letter queue. */
static json_t *topology_rows(const char *path, json_t *doc)
{
    struct topo_model *model = NULL;
    struct topo_diags diags = {0};
    json_t *rows = json_array();
    if (topo_load_file(path, &model, &diags) != WR_OK) {
        json_object_set_new(
            doc, "topology_error",
            json_sprintf("%s: cannot be read (warrenctl topology validate %s)", path, path));
        goto out;
    }
    for (size_t i = 0; i < model->queue_count; i++) {
        char dead[160];
        const struct topo_queue *q = &model->queues[i];
        json_array_append_new(rows, json_pack("{s:s, s:s}", "queue", q->name, "service",
                                              topo_service_name(q->service)));
        if (topo_dead_queue_name(q->name, dead, sizeof dead) == WR_OK)
            json_array_append_new(rows,
                                  json_pack("{s:s, s:s}", "queue", dead, "service", "deadletter"));
    }
out:
    topo_diags_free(&diags);
    topo_model_free(model);
    return rows;
}

/* The fleet's part of the document and the rows it runs (NULL: no fleet). */
static json_t *fleet_rows(const char *control_socket, json_t *doc)
{
    struct fleet_status fs;
    struct wr_error err;
    if (fleet_status_fetch(control_socket, &fs, &err) != WR_OK) {
        json_object_set_new(doc, "fleet",
                            json_pack("{s:b, s:s}", "running", 0, "detail", err.message));
        return NULL;
    }
    json_object_set_new(doc, "fleet",
                        json_pack("{s:b, s:i, s:I, s:i}", "running", 1, "pid", (int)fs.pid,
                                  "uptime_s", (json_int_t)fs.uptime_s, "api_pid", (int)fs.api_pid));
    json_t *rows = json_array();
    for (size_t i = 0; i < fs.queue_count; i++)
        json_array_append_new(rows,
                              json_pack("{s:s, s:s, s:i, s:i}", "queue", fs.queues[i].name,
                                        "service", fs.queues[i].service, "desired",
                                        fs.queues[i].desired, "running", fs.queues[i].running));
    fleet_status_free(&fs);
    return rows;
}

static const struct mq_live_queue *live_queue(const struct mq_live_state *live, const char *name)
{
    for (size_t i = 0; i < live->queue_count; i++)
        if (strcmp(live->queues[i].spec.name, name) == 0)
            return &live->queues[i];
    return NULL;
}

/* Adds the broker's figures to each row (null where the broker has no such queue). */
static void add_broker_figures(json_t *rows, const struct mq_live_state *live)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *name = json_string_value(json_object_get(row, "queue"));
        const struct mq_live_queue *q = live_queue(live, name);
        char dead_name[160];
        const struct mq_live_queue *dead =
            topo_dead_queue_name(name, dead_name, sizeof dead_name) == WR_OK
                ? live_queue(live, dead_name)
                : NULL;
        json_object_set_new(row, "consumers",
                            q ? json_integer((json_int_t)q->consumers) : json_null());
        json_object_set_new(row, "ready",
                            q ? json_integer((json_int_t)(q->messages - q->messages_unacked))
                              : json_null());
        json_object_set_new(row, "unacked",
                            q ? json_integer((json_int_t)q->messages_unacked) : json_null());
        json_object_set_new(row, "publish_per_s", q ? json_real(q->publish_rate) : json_null());
        json_object_set_new(row, "deliver_per_s", q ? json_real(q->deliver_rate) : json_null());
        json_object_set_new(row, "dead",
                            dead ? json_integer((json_int_t)dead->messages) : json_null());
    }
}

json_t *fleet_queues_report(const struct fleet_report_source *source, bool *ok)
{
    json_t *doc = json_object();
    json_t *rows = fleet_rows(source->control_socket, doc);
    if (!rows)
        rows = topology_rows(source->topology_file, doc);
    struct mq_live_state live;
    struct wr_error err;
    *ok = json_object_get(doc, "topology_error") == NULL;
    if (mq_live_state_fetch(source->management_url, source->vhost, &live, &err) ==
        WR_OK) {
        json_object_set_new(doc, "broker", json_pack("{s:b}", "reachable", 1));
        add_broker_figures(rows, &live);
        mq_live_state_free(&live);
    } else {
        json_object_set_new(doc, "broker",
                            json_pack("{s:b, s:s}", "reachable", 0, "detail", err.message));
        *ok = false;
    }
    json_object_set_new(doc, "queues", rows);
    return doc;
}
