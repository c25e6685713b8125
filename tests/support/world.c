/* Broker worlds (see world.h): the real topology's queues of some services
 * copied onto a private exchange, applied with warrenctl, and removed
 * again. */
#include "tests/support/world.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker.h"
#include "tests/support/broker.h"
#include "tests/support/ctl.h"
#include "tests/support/support.h"
#include "topology/topology.h"

static const char *const databases[] = {"order",        "inventory", "payment",
                                        "notification", "analytics", "deadletter"};

/* The queue of the real topology that service consumes (asserts). */
static const struct topo_queue *real_queue(const struct topo_model *model, const char *service)
{
    for (size_t i = 0; i < model->queue_count; i++)
        if (strcmp(topo_service_name(model->queues[i].service), service) == 0)
            return &model->queues[i];
    ck_abort_msg("no queue for service %s in topology/topology.yaml", service);
    return NULL;
}

/* One queue of the world's topology: the real queue of service, renamed
 * and moved onto the world's exchange. */
static void write_queue(FILE *out, const struct ts_world *w, const struct topo_queue *q,
                        const char *service, const char *workers)
{
    fprintf(out,
            "  - name: %s-%s\n    type: %s\n    service: %s\n    prefetch: %d\n"
            "    workers: %s\n    retry: {max_attempts: %d, delays: [",
            w->prefix, service, mq_queue_type_name(q->type), service, q->prefetch,
            workers ? workers : "1", q->max_attempts);
    for (size_t i = 0; i < q->retry_delay_count; i++)
        fprintf(out, "%s%lldms", i ? ", " : "", (long long)q->retry_delays_ms[i]);
    fputs("]}\n    bindings:\n", out);
    for (size_t i = 0; i < q->binding_count; i++)
        fprintf(out, "      - {exchange: %s, routing_key: \"%s\"}\n", w->prefix,
                q->bindings[i].routing_key);
}

static void write_topology(const struct ts_world *w, const char *services)
{
    char path[512], list[256], *save = NULL;
    struct topo_model *model = NULL;
    struct topo_diags diags = {0};
    ck_assert_int_eq(
        topo_load_file(ts_source_path("topology/topology.yaml", path, sizeof path), &model, &diags),
        WR_OK);
    topo_diags_free(&diags);
    FILE *out = fopen(w->topology, "w");
    ck_assert_msg(out != NULL, "cannot write %s", w->topology);
    fprintf(out, "exchanges:\n  - {name: %s, type: topic}\nqueues:\n", w->prefix);
    snprintf(list, sizeof list, "%s", services);
    for (char *s = strtok_r(list, " ", &save); s; s = strtok_r(NULL, " ", &save)) {
        char *workers = strchr(s, ':'); /* "order:2" */
        if (workers)
            *workers++ = '\0';
        write_queue(out, w, real_queue(model, s), s, workers);
    }
    fclose(out);
    topo_model_free(model);
}

static void set_environment(const struct ts_world *w)
{
    char url[256], name[64];
    setenv("WARREN_BROKER_URL", ts_broker_url(), 1);
    setenv("WARREN_BROKER_MANAGEMENT_URL", ts_management_url(), 1);
    setenv("WARREN_BROKER_EXCHANGE", w->prefix, 1);
    setenv("WARREN_TOPOLOGY_FILE", w->topology, 1);
    setenv("WARREN_LOG_LEVEL", "warn", 1);
    for (size_t i = 0; i < sizeof databases / sizeof databases[0]; i++) {
        snprintf(name, sizeof name, "WARREN_DATABASE_%s_URL", databases[i]);
        for (char *p = name; *p; p++)
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        setenv(name, ts_db_url(databases[i], url, sizeof url), 1);
    }
}

void ts_world_create(struct ts_world *w, const char *services, const char *const *reader_keys)
{
    char prefix[48], first[32];
    memset(w, 0, sizeof *w);
    snprintf(first, sizeof first, "%.*s", (int)strcspn(services, " :"), services);
    snprintf(w->prefix, sizeof w->prefix, "%s", ts_unique_name("it-world", prefix, sizeof prefix));
    snprintf(w->queue, sizeof w->queue, "%s-%s", w->prefix, first);
    snprintf(w->reader, sizeof w->reader, "%s-reader", w->prefix);
    char name[80];
    snprintf(name, sizeof name, "%s.yaml", w->prefix);
    ts_scratch_path(name, w->topology, sizeof w->topology);
    ts_broker_wait_up();
    write_topology(w, services);
    set_environment(w);
    ts_ctl_apply_topology(w->topology);
    struct mq_conn *conn = ts_broker_connect("warren-test-setup");
    ts_declare_reader(conn, w->prefix, w->reader, reader_keys);
    mq_conn_close(conn);
}

/* A connection once the broker is up (another test may be restarting it),
 * or NULL after 30 s. */
static struct mq_conn *connect_when_up(void)
{
    struct mq_conn_options options = {.url = ts_broker_url(), .name = "warren-test-teardown"};
    struct wr_error err;
    struct mq_conn *conn = NULL;
    for (int waited = 0; !conn && waited < 30000; waited += 500) {
        if (!(conn = mq_conn_open(&options, &err)))
            ts_sleep_ms(500);
    }
    return conn;
}

/* Deletes the queues the world's topology derives, the reader and the exchange. */
static void delete_objects(struct mq_conn *conn, const struct ts_world *w)
{
    struct topo_model *model = NULL;
    struct topo_derived derived = {0};
    struct topo_diags diags = {0};
    struct wr_error err;
    if (topo_load_file(w->topology, &model, &diags) == WR_OK &&
        topo_derive(model, &derived, &err) == WR_OK) {
        for (size_t i = 0; i < derived.queue_count; i++)
            (void)mq_delete_queue(conn, derived.queues[i].name, &err);
    }
    (void)mq_delete_queue(conn, w->reader, &err);
    (void)mq_delete_exchange(conn, w->prefix, &err);
    topo_derived_free(&derived);
    topo_model_free(model);
    topo_diags_free(&diags);
}

void ts_world_destroy(struct ts_world *w)
{
    struct mq_conn *conn = connect_when_up();
    if (conn)
        delete_objects(conn, w);
    mq_conn_close(conn);
    unlink(w->topology);
}

const char *ts_world_queue(const struct ts_world *w, const char *service, const char *suffix,
                           char *out, size_t size)
{
    snprintf(out, size, "%s-%s%s", w->prefix, service, suffix);
    return out;
}
