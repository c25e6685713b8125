/* Prometheus metrics of one warren-worker: messages by what became of
 * them, and outage mode (state, downstream failures in a row, outages and
 * probes), served as text on GET /metrics when worker.metrics_port is set.
 * The runtime's thread writes; the HTTP thread reads (lock-free atomics). */
#ifndef WARREN_WORKERS_METRICS_H
#define WARREN_WORKERS_METRICS_H

#include "core/status.h"
#include "workers/outage.h"

/* What became of a delivery. */
enum wrk_metric {
    WRK_METRIC_ACKED,    /* handled (or a duplicate) and acked */
    WRK_METRIC_RETRIED,  /* moved to a retry tier (an attempt charged) */
    WRK_METRIC_DEAD,     /* moved to the dead-letter queue */
    WRK_METRIC_REQUEUED, /* nacked back to the queue (database or broker trouble) */
    WRK_METRIC_RETURNED, /* handed back uncharged because of outage mode */
    WRK_METRIC_COUNT
};

struct wrk_metrics;

/* Zeroed metrics labelled service and queue (copied). NULL when out of
 * memory. Free with wrk_metrics_destroy (which also stops serving). */
struct wrk_metrics *wrk_metrics_create(const char *service, const char *queue);
void wrk_metrics_destroy(struct wrk_metrics *metrics);

/* Serves GET /metrics on address (IPv4, "0.0.0.0" for all) and port from a
 * thread of its own until wrk_metrics_destroy. WR_ERR_CONFIG for a bad
 * address, WR_ERR_IO when the port cannot be bound. */
wr_status wrk_metrics_serve(struct wrk_metrics *metrics, const char *address, int port,
                            struct wr_error *err) WR_MUST_CHECK;

/* Counts one delivery's fate. */
void wrk_metrics_count(struct wrk_metrics *metrics, enum wrk_metric what);

/* Publishes outage's current state and totals. */
void wrk_metrics_outage(struct wrk_metrics *metrics, const struct wrk_outage *outage);

/* Every metric in the Prometheus text format; malloc'd (the caller frees
 * it), NULL when out of memory. */
char *wrk_metrics_render(const struct wrk_metrics *metrics);

#endif
