/* Lock-free counters for warren-api and their Prometheus text rendering. */
#include "api/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* Status codes counted separately; anything else lands in the last slot. */
static const int counted_statuses[] = {200, 202, 400, 401, 403, 404, 405, 409, 413,
                                       415, 422, 429, 500, 503, 0};
#define STATUS_SLOTS (sizeof counted_statuses / sizeof counted_statuses[0])

static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,   0.25,   0.5,   1,    2.5, 5};
#define LATENCY_BUCKETS (sizeof latency_bounds / sizeof latency_bounds[0])

struct api_metrics {
    atomic_ulong requests[API_ROUTE_COUNT][STATUS_SLOTS];
    atomic_ulong latency_buckets[LATENCY_BUCKETS + 1]; /* last: +Inf */
    atomic_ulong latency_count;
    atomic_ullong latency_sum_us;
    atomic_ulong published[3];
    atomic_long in_flight;
};

static const char *const route_labels[API_ROUTE_COUNT] = {
    [API_ROUTE_ORDERS_POST] = "POST /v1/orders", [API_ROUTE_ORDERS_GET] = "GET /v1/orders/{id}",
    [API_ROUTE_HEALTHZ] = "GET /healthz",        [API_ROUTE_READYZ] = "GET /readyz",
    [API_ROUTE_METRICS] = "GET /metrics",
    [API_ROUTE_ADMIN] = "/v1/admin/*",        [API_ROUTE_OTHER] = "other",
};

struct api_metrics *api_metrics_create(void)
{
    return calloc(1, sizeof(struct api_metrics));
}

void api_metrics_free(struct api_metrics *metrics)
{
    free(metrics);
}

const char *api_route_label(enum api_route route)
{
    return route_labels[route];
}

void api_metrics_request_started(struct api_metrics *metrics)
{
    atomic_fetch_add(&metrics->in_flight, 1);
}

static size_t status_slot(int status)
{
    size_t i = 0;
    while (i < STATUS_SLOTS - 1 && counted_statuses[i] != status)
        i++;
    return i;
}

void api_metrics_request_done(struct api_metrics *metrics, enum api_route route, int status,
                              double seconds)
{
    size_t bucket = 0;
    while (bucket < LATENCY_BUCKETS && seconds > latency_bounds[bucket])
        bucket++;
    atomic_fetch_add(&metrics->requests[route][status_slot(status)], 1);
    atomic_fetch_add(&metrics->latency_buckets[bucket], 1);
    atomic_fetch_add(&metrics->latency_count, 1);
    atomic_fetch_add(&metrics->latency_sum_us, (unsigned long long)(seconds * 1e6));
    atomic_fetch_sub(&metrics->in_flight, 1);
}

void api_metrics_published(struct api_metrics *metrics, enum api_publish_outcome outcome)
{
    atomic_fetch_add(&metrics->published[outcome], 1);
}

long api_metrics_in_flight(const struct api_metrics *metrics)
{
    return atomic_load(&metrics->in_flight);
}

static void render_requests(const struct api_metrics *m, FILE *out)
{
    fputs("# HELP warren_api_requests_total HTTP requests by route and status.\n"
          "# TYPE warren_api_requests_total counter\n",
          out);
    for (int r = 0; r < API_ROUTE_COUNT; r++) {
        for (size_t s = 0; s < STATUS_SLOTS; s++) {
            unsigned long n = atomic_load(&m->requests[r][s]);
            if (n == 0)
                continue;
            char status[8];
            snprintf(status, sizeof status, "%d", counted_statuses[s]);
            fprintf(out, "warren_api_requests_total{route=\"%s\",status=\"%s\"} %lu\n",
                    route_labels[r], counted_statuses[s] ? status : "other", n);
        }
    }
}

static void render_latency(const struct api_metrics *m, FILE *out)
{
    unsigned long cumulative = 0;
    fputs("# HELP warren_api_request_duration_seconds Time from request to answer.\n"
          "# TYPE warren_api_request_duration_seconds histogram\n",
          out);
    for (size_t b = 0; b <= LATENCY_BUCKETS; b++) {
        cumulative += atomic_load(&m->latency_buckets[b]);
        if (b < LATENCY_BUCKETS)
            fprintf(out, "warren_api_request_duration_seconds_bucket{le=\"%g\"} %lu\n",
                    latency_bounds[b], cumulative);
        else
            fprintf(out, "warren_api_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n",
                    cumulative);
    }
    fprintf(out, "warren_api_request_duration_seconds_sum %.6f\n",
            (double)atomic_load(&m->latency_sum_us) / 1e6);
    fprintf(out, "warren_api_request_duration_seconds_count %lu\n",
            atomic_load(&m->latency_count));
}

char *api_metrics_render(const struct api_metrics *m)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out)
        return NULL;
    render_requests(m, out);
    render_latency(m, out);
    fprintf(out,
            "# HELP warren_api_publishes_total order.placed publishes sent to the broker.\n"
            "# TYPE warren_api_publishes_total counter\n"
            "warren_api_publishes_total %lu\n"
            "# HELP warren_api_confirms_total Publishes confirmed by the broker.\n"
            "# TYPE warren_api_confirms_total counter\n"
            "warren_api_confirms_total %lu\n"
            "# HELP warren_api_nacks_total Publishes nacked by the broker.\n"
            "# TYPE warren_api_nacks_total counter\n"
            "warren_api_nacks_total %lu\n"
            "# HELP warren_api_publish_failures_total Publishes lost to timeouts, returns or "
            "a broken connection.\n"
            "# TYPE warren_api_publish_failures_total counter\n"
            "warren_api_publish_failures_total %lu\n"
            "# HELP warren_api_in_flight Requests being handled now.\n"
            "# TYPE warren_api_in_flight gauge\n"
            "warren_api_in_flight %ld\n",
            atomic_load(&m->published[0]) + atomic_load(&m->published[1]) +
                atomic_load(&m->published[2]),
            atomic_load(&m->published[API_PUBLISH_CONFIRMED]),
            atomic_load(&m->published[API_PUBLISH_NACKED]),
            atomic_load(&m->published[API_PUBLISH_FAILED]), atomic_load(&m->in_flight));
    fclose(out);
    return text;
}
