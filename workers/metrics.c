/* A worker's Prometheus metrics (see metrics.h) and the small HTTP/1.0
 * endpoint that serves them. The endpoint answers GET /metrics (404 for
 * anything else) one connection at a time from a thread of its own and
 * closes each connection after its answer: that is all a Prometheus scrape
 * needs, so the worker links no HTTP server library (libmicrohttpd stays
 * with warren-api) and carries none of its dependencies. The runtime's
 * thread updates atomics; the endpoint's thread renders from them. */
#include "workers/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define REQUEST_MAX 4096   /* bytes of a request head read; the rest is ignored */
#define CLIENT_TIMEOUT_S 5 /* a client that sends or reads nothing for this long is dropped */
#define SERVER_STACK 65536 /* the endpoint's thread needs little stack */

struct wrk_metrics {
    char service[64];
    char queue[256];
    atomic_ulong messages[WRK_METRIC_COUNT];
    atomic_int outage_state; /* enum wrk_outage_state */
    atomic_int consecutive;
    atomic_ulong outages;
    atomic_ulong probes;
    int listener; /* -1 when not serving */
    int wake[2];  /* a pipe: writing to wake[1] stops the endpoint's thread */
    pthread_t thread;
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
    m->listener = m->wake[0] = m->wake[1] = -1;
    return m;
}

void wrk_metrics_destroy(struct wrk_metrics *metrics)
{
    if (!metrics)
        return;
    if (metrics->listener >= 0) {
        (void)!write(metrics->wake[1], "x", 1);
        pthread_join(metrics->thread, NULL);
        close(metrics->listener);
        close(metrics->wake[0]);
        close(metrics->wake[1]);
    }
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

/* Writes all of text (len bytes); false when the client went away. */
static bool send_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, text, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        text += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads a request head (up to the blank line, at most REQUEST_MAX - 1
 * bytes) into buf as a string; false when the client sent none in time. */
static bool read_head(int fd, char *buf, size_t size)
{
    size_t have = 0;
    buf[0] = '\0';
    while (have + 1 < size && !strstr(buf, "\r\n\r\n") && !strstr(buf, "\n\n")) {
        ssize_t n = recv(fd, buf + have, size - 1 - have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return have > 0;
        have += (size_t)n;
        buf[have] = '\0';
    }
    return true;
}

/* Answers one connection: 200 with the metrics for "GET /metrics" (a query
 * string is ignored), 404 for any other target, 405 for another method. */
static void answer(const struct wrk_metrics *metrics, int fd)
{
    char head[REQUEST_MAX], method[16] = "", target[256] = "";
    if (!read_head(fd, head, sizeof head) || sscanf(head, "%15s %255s", method, target) != 2)
        return;
    target[strcspn(target, "?")] = '\0';
    bool get = strcmp(method, "GET") == 0, found = strcmp(target, "/metrics") == 0;
    char *body = get && found ? wrk_metrics_render(metrics) : NULL;
    const char *status = !get     ? "405 Method Not Allowed"
                         : !found ? "404 Not Found"
                         : body   ? "200 OK"
                                  : "503 Service Unavailable";
    const char *text = body     ? body
                       : !get   ? "method not allowed\n"
                       : !found ? "not found\n"
                                : "out of memory\n";
    char reply[256];
    int len = snprintf(reply, sizeof reply,
                       "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                       "Connection: close\r\n\r\n",
                       status, body ? "text/plain; version=0.0.4" : "text/plain", strlen(text),
                       get ? "" : "Allow: GET\r\n");
    if (len > 0 && (size_t)len < sizeof reply && send_all(fd, reply, (size_t)len))
        (void)send_all(fd, text, strlen(text));
    free(body);
}

/* The endpoint's thread: accepts and answers until woken through wake[0]. */
static void *serve(void *arg)
{
    struct wrk_metrics *metrics = arg;
    struct pollfd fds[2] = {{.fd = metrics->listener, .events = POLLIN},
                            {.fd = metrics->wake[0], .events = POLLIN}};
    for (;;) {
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        if (fds[1].revents)
            break;
        if (!(fds[0].revents & POLLIN))
            continue;
        int fd = accept(metrics->listener, NULL, NULL);
        if (fd < 0)
            continue;
        struct timeval timeout = {.tv_sec = CLIENT_TIMEOUT_S};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
        answer(metrics, fd);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    return NULL;
}

/* A listening TCP socket on addr; -1 when it cannot be bound. */
static int listen_on(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        bind(fd, (const struct sockaddr *)addr, sizeof *addr) != 0 || listen(fd, 16) != 0) {
        close(fd);
        return -1;
    }
    return fd;
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
    if (metrics->listener >= 0)
        return wr_error_set(err, WR_ERR_INVALID, "metrics are already served");
    wr_status status = WR_OK;
    pthread_attr_t attr;
    int listener = listen_on(&addr);
    if (listener < 0)
        return wr_error_set(err, WR_ERR_IO, "cannot listen on %s:%d for metrics (%s)", address,
                            port, strerror(errno));
    if (pipe(metrics->wake) != 0) {
        status = wr_error_set(err, WR_ERR_IO, "pipe: %s", strerror(errno));
        goto fail_pipe;
    }
    metrics->listener = listener;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, SERVER_STACK);
    int rc = pthread_create(&metrics->thread, &attr, serve, metrics);
    pthread_attr_destroy(&attr);
    if (rc == 0)
        return WR_OK;
    status = wr_error_set(err, WR_ERR_NOMEM, "metrics thread: %s", strerror(rc));
    metrics->listener = -1;
    close(metrics->wake[0]);
    close(metrics->wake[1]);
    metrics->wake[0] = metrics->wake[1] = -1;
fail_pipe:
    close(listener);
    return status;
}
