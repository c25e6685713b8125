/* Prometheus metrics of warren-api: requests by route and status, a
 * latency histogram, publishes, confirms, nacks and requests in flight.
 * Counters are lock-free atomics, safe from every request thread. */
#ifndef WARREN_API_METRICS_H
#define WARREN_API_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* The routes the API knows; API_ROUTE_OTHER for everything else (404/405). */
enum api_route {
    API_ROUTE_ORDERS_POST,
    API_ROUTE_ORDERS_GET,
    API_ROUTE_HEALTHZ,
    API_ROUTE_READYZ,
    API_ROUTE_METRICS,
    API_ROUTE_ADMIN,
    API_ROUTE_OTHER,
    API_ROUTE_COUNT
};

enum api_publish_outcome { API_PUBLISH_CONFIRMED, API_PUBLISH_NACKED, API_PUBLISH_FAILED };

struct api_metrics;

/* Allocates zeroed metrics; NULL when out of memory. Free with api_metrics_free(). */
struct api_metrics *api_metrics_create(void);
void api_metrics_free(struct api_metrics *metrics);

/* Name of a route as used in the metric label ("POST /v1/orders"). */
const char *api_route_label(enum api_route route);

void api_metrics_request_started(struct api_metrics *metrics);
void api_metrics_request_done(struct api_metrics *metrics, enum api_route route, int status,
                              double seconds);
void api_metrics_published(struct api_metrics *metrics, enum api_publish_outcome outcome);
/* Requests currently being handled. */
long api_metrics_in_flight(const struct api_metrics *metrics);

/* Renders every metric in the Prometheus text format. Returns a malloc'd
 * NUL-terminated string (the caller frees it), NULL when out of memory. */
char *api_metrics_render(const struct api_metrics *metrics);

#endif
