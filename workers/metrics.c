/* A worker's Prometheus metrics (see metrics.h) and the small HTTP
 * endpoint that serves them. The endpoint uses libmicrohttpd, as
 * warren-api does; its types stay in this file. It is here rather than in
 * api/ because a worker links none of the API: it answers GET /metrics
 * only, from one thread, and renders from atomics the runtime updates. */
#include "workers/metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wrk_metrics {
    char service[64];
    char queue[256];
    atomic_ulong messages[WRK_METRIC_COUNT];
    atomic_int outage_state; /* enum wrk_outage_state */
    atomic_int consecutive;
    atomic_ulong outages;
    atomic_ulong probes;
    struct MHD_Daemon *daemon;
};

static const char *const metric_labels[WRK_METRIC_COUNT] = {
    [WRK_METRIC_ACKED] = "acked",        [WRK_METRIC_RETRIED] = "retried",
    [WRK_METRIC_DEAD] = "dead_lettered", [WRK_METRIC_REQUEUED] = "requeued",
    [WRK_METRIC_RETURNED] = "returned",
};

struct wrk_metrics *wrk_metrics_create(const char *service, const char *queue)
{
    struct wrk_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    snprintf(m->service, sizeof m->service, "%s", service);
    snprintf(m->queue, sizeof m->queue, "%s", queue);
    return m;
}

void wrk_metrics_destroy(struct wrk_metrics *metrics)
{
    if (!metrics)
        return;
    if (metrics->daemon)
        MHD_stop_daemon(metrics->daemon);
    free(metrics);
}

void wrk_metrics_count(struct wrk_metrics *metrics, enum wrk_metric what)
{
    if (metrics && what < WRK_METRIC_COUNT)
        atomic_fetch_add(&metrics->messages[what], 1);
}

void wrk_metrics_outage(struct wrk_metrics *metrics, const struct wrk_outage *outage)
{
    if (!metrics)
        return;
    atomic_store(&metrics->outage_state, (int)outage->state);
    atomic_store(&metrics->consecutive, outage->consecutive);
    atomic_store(&metrics->outages, (unsigned long)outage->outages);
    atomic_store(&metrics->probes, (unsigned long)outage->probes);
}

static void render_messages(const struct wrk_metrics *m, const char *labels, FILE *out)
{
    fputs("# HELP warren_worker_messages_total Deliveries by what became of them.\n"
          "# TYPE warren_worker_messages_total counter\n",
          out);
    for (int i = 0; i < WRK_METRIC_COUNT; i++)
        fprintf(out, "warren_worker_messages_total{%s,outcome=\"%s\"} %lu\n", labels,
                metric_labels[i], atomic_load(&m->messages[i]));
}

static void render_outage(const struct wrk_metrics *m, const char *labels, FILE *out)
{
    static const enum wrk_outage_state states[] = {WRK_OUTAGE_NONE, WRK_OUTAGE_PAUSED,
                                                   WRK_OUTAGE_PROBING};
    int state = atomic_load(&m->outage_state);
    fprintf(out,
            "# HELP warren_worker_outage 1 while the worker is in outage mode (its downstream "
            "keeps failing), else 0.\n"
            "# TYPE warren_worker_outage gauge\n"
            "warren_worker_outage{%s} %d\n"
            "# HELP warren_worker_outage_state The outage state: 1 for the current one.\n"
            "# TYPE warren_worker_outage_state gauge\n",
            labels, state != WRK_OUTAGE_NONE);
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        fprintf(out, "warren_worker_outage_state{%s,state=\"%s\"} %d\n", labels,
                wrk_outage_state_name(states[i]), state == (int)states[i]);
    fprintf(out,
            "# HELP warren_worker_downstream_failures_consecutive Downstream failures in a row.\n"
            "# TYPE warren_worker_downstream_failures_consecutive gauge\n"
            "warren_worker_downstream_failures_consecutive{%s} %d\n"
            "# HELP warren_worker_outages_total Outages entered.\n"
            "# TYPE warren_worker_outages_total counter\n"
            "warren_worker_outages_total{%s} %lu\n"
            "# HELP warren_worker_outage_probes_total Probe messages taken during outages.\n"
            "# TYPE warren_worker_outage_probes_total counter\n"
            "warren_worker_outage_probes_total{%s} %lu\n",
            labels, atomic_load(&m->consecutive), labels, atomic_load(&m->outages), labels,
            atomic_load(&m->probes));
}

char *wrk_metrics_render(const struct wrk_metrics *metrics)
{
    char *text = NULL, labels[400];
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out)
        return NULL;
    snprintf(labels, sizeof labels, "service=\"%s\",queue=\"%s\"", metrics->service,
             metrics->queue);
    render_messages(metrics, labels, out);
    render_outage(metrics, labels, out);
    fclose(out);
    return text;
}

/* ---- the endpoint ----------------------------------------------------------------- */

static enum MHD_Result answer(struct MHD_Connection *connection, unsigned status, const char *type,
                              char *body)
{
    if (!body)
        return MHD_NO;
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    const struct wrk_metrics *metrics = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 || strcmp(url, "/metrics") != 0)
        return answer(connection, MHD_HTTP_NOT_FOUND, "text/plain", strdup("not found\n"));
    char *text = wrk_metrics_render(metrics);
    if (!text)
        return MHD_NO;
    return answer(connection, MHD_HTTP_OK, "text/plain; version=0.0.4", text);
}

wr_status wrk_metrics_serve(struct wrk_metrics *metrics, const char *address, int port,
                            struct wr_error *err)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, address, &addr.sin_addr) != 1)
        return wr_error_set(err, WR_ERR_CONFIG,
                            "worker.metrics_address: %s is not an IPv4 "
                            "address",
                            address);
    metrics->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, (uint16_t)port, NULL, NULL, on_request,
        metrics, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)16, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!metrics->daemon)
        return wr_error_set(err, WR_ERR_IO, "cannot listen on %s:%d for metrics (in use?)", address,
                            port);
    return WR_OK;
}
