/* bench_loadgen: an open-loop HTTP load generator for the benchmarks. It
 * sends keep-alive POSTs of an order at a fixed total rate over C
 * connections for D seconds and measures each request's latency from the
 * moment it was scheduled (not sent), so a slow server cannot hide its
 * queueing (no coordinated omission). With --keyed every request carries a
 * fresh Idempotency-Key.
 *
 * One thread drives every connection with epoll and writes the requests
 * itself (HTTP/1.1, one request in flight per connection): the generator
 * shares the machine with the API and the broker it measures, so it must
 * cost little per request. Connection i sends its j-th request at
 * start + (i + j*C) / RATE, or as soon as its previous answer is in if
 * that is later.
 *
 *   bench_loadgen URL KEY BODY_FILE RATE CONNECTIONS SECONDS [--keyed] [--count N]
 *                 [--trace FILE]
 * URL is http://HOST:PORT/PATH. With --count, it stops after N requests in
 * all (or at SECONDS). A request counts as ok when it is answered 202. With
 * --trace, every request's scheduled time (seconds from the start) and
 * latency (ms) are written to FILE, one request per line, to see when a
 * tail happened.
 * prints: sent=N ok=N failed=N rate_per_s=R p50_ms=X p99_ms=Y */
#define _GNU_SOURCE /* memmem, strcasestr, epoll_pwait2 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_TIMEOUT_S 30.0
#define RESPONSE_MAX (64 * 1024)

struct connection {
    int fd;     /* -1 while closed */
    bool busy;  /* a request is out and its answer not yet complete */
    double due; /* when the request now out was scheduled */
    double next_due;
    char *request; /* the bytes of the request now out (request_size) */
    size_t request_len, written;
    bool watching_writes; /* EPOLLOUT is on while a request waits for room */
    char response[RESPONSE_MAX];
    size_t received;
};

struct loadgen {
    struct addrinfo *address;
    char *head;          /* request line and headers before the per-request ones */
    size_t request_size; /* room for head, an Idempotency-Key and the body */
    const char *body;
    size_t body_len;
    bool keyed;
    FILE *trace; /* --trace */
    long limit;  /* requests in all, 0 = no limit */
    long issued;
    double start, stop_issuing, interval_s;
    int epoll_fd;
    struct connection *connections;
    double *latencies, *scheduled; /* scheduled only with --trace */
    size_t count, capacity, ok, failed;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_loadgen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void record(struct loadgen *g, double due, double latency, bool ok)
{
    if (g->count == g->capacity) {
        g->capacity = g->capacity ? g->capacity * 2 : 65536;
        g->latencies = realloc(g->latencies, g->capacity * sizeof *g->latencies);
        if (g->trace)
            g->scheduled = realloc(g->scheduled, g->capacity * sizeof *g->scheduled);
        if (!g->latencies || (g->trace && !g->scheduled))
            die("out of memory");
    }
    if (g->trace)
        g->scheduled[g->count] = due - g->start;
    g->latencies[g->count++] = latency;
    if (ok)
        g->ok++;
    else
        g->failed++;
}

static void close_connection(struct loadgen *g, struct connection *c)
{
    if (c->fd >= 0) {
        epoll_ctl(g->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->busy = false;
    c->watching_writes = false;
    c->received = 0;
}

/* Connects (blocking: loopback, at start or after the server closed). */
static bool open_connection(struct loadgen *g, struct connection *c)
{
    int fd = socket(g->address->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, g->address->ai_addr, g->address->ai_addrlen) != 0) {
        close(fd);
        return false;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(g->epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0)
        die("epoll_ctl");
    c->fd = fd;
    return true;
}

static void watch_writes(struct loadgen *g, struct connection *c, bool on)
{
    struct epoll_event event = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(g->epoll_fd, EPOLL_CTL_MOD, c->fd, &event) != 0)
        die("epoll_ctl");
    c->watching_writes = on;
}

/* Writes what is left of c's request; false if the connection failed. */
static bool write_request(struct loadgen *g, struct connection *c)
{
    while (c->written < c->request_len) {
        ssize_t n = send(c->fd, c->request + c->written, c->request_len - c->written,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            if (!c->watching_writes)
                watch_writes(g, c, true);
            return true;
        }
        if (n <= 0)
            return false;
        c->written += (size_t)n;
    }
    if (c->watching_writes)
        watch_writes(g, c, false);
    return true;
}

static void fail_request(struct loadgen *g, struct connection *c, double now)
{
    record(g, c->due, now - c->due, false);
    close_connection(g, c);
}

/* Writes c's request: the same bytes every time, except the fresh
 * Idempotency-Key of --keyed (formatted once per connection otherwise). */
static void format_request(const struct loadgen *g, struct connection *c)
{
    int head_len;
    if (g->keyed)
        head_len =
            snprintf(c->request, g->request_size, "%sIdempotency-Key: bench-%d-%ld-%.6f\r\n\r\n",
                     g->head, (int)getpid(), g->issued, g->start);
    else
        head_len = snprintf(c->request, g->request_size, "%s\r\n", g->head);
    memcpy(c->request + head_len, g->body, g->body_len);
    c->request_len = (size_t)head_len + g->body_len;
}

/* Sends c's next request, scheduled at c->next_due. */
static void send_request(struct loadgen *g, struct connection *c)
{
    c->busy = true;
    c->due = c->next_due;
    c->next_due += g->interval_s;
    g->issued++;
    if (c->fd < 0 && !open_connection(g, c)) {
        fail_request(g, c, now_s());
        return;
    }
    if (g->keyed)
        format_request(g, c);
    c->written = 0;
    if (!write_request(g, c))
        fail_request(g, c, now_s());
}

/* Parses c's response so far: 1 complete (*status set), 0 need more, -1 bad. */
static int parse_response(struct connection *c, int *status, bool *closes)
{
    char *end = memmem(c->response, c->received, "\r\n\r\n", 4);
    if (!end)
        return c->received == RESPONSE_MAX ? -1 : 0;
    if (c->received < 12 || memcmp(c->response, "HTTP/1.", 7) != 0)
        return -1;
    *end = '\0'; /* the headers as one string, for the searches below */
    *status = (int)strtol(c->response + 9, NULL, 10);
    long length = 0;
    char *field = strcasestr(c->response, "\r\ncontent-length:");
    if (field)
        length = strtol(field + 17, NULL, 10);
    *closes = strcasestr(c->response, "\r\nconnection: close") != NULL;
    *end = '\r';
    size_t total = (size_t)(end + 4 - c->response) + (size_t)length;
    if (length < 0 || total > RESPONSE_MAX)
        return -1;
    return c->received >= total ? 1 : 0;
}

static bool may_issue(const struct loadgen *g, const struct connection *c)
{
    return c->next_due < g->stop_issuing && (!g->limit || g->issued < g->limit);
}

static void on_readable(struct loadgen *g, struct connection *c, double now)
{
    ssize_t n = recv(c->fd, c->response + c->received, RESPONSE_MAX - c->received, MSG_DONTWAIT);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0) { /* closed or failed: the request out (if any) failed */
        if (c->busy)
            fail_request(g, c, now);
        else
            close_connection(g, c);
        return;
    }
    if (!c->busy)
        return; /* nothing asked: ignore */
    c->received += (size_t)n;
    int status = 0;
    bool closes = false;
    int parsed = parse_response(c, &status, &closes);
    if (parsed == 0)
        return;
    if (parsed < 0) {
        fail_request(g, c, now);
        return;
    }
    record(g, c->due, now - c->due, status == 202);
    c->busy = false;
    c->received = 0;
    if (closes)
        close_connection(g, c);
    if (may_issue(g, c) && c->next_due <= now)
        send_request(g, c);
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = calloc(1, 1 << 20);
    size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    *len = n;
    return text;
}

/* Splits http://HOST:PORT/PATH; false if it is not one. */
static bool parse_url(const char *url, char *host, size_t host_size, char *port, size_t port_size,
                      const char **path)
{
    if (strncmp(url, "http://", 7) != 0)
        return false;
    const char *authority = url + 7, *slash = strchr(authority, '/');
    const char *colon =
        memchr(authority, ':', slash ? (size_t)(slash - authority) : strlen(authority));
    *path = slash ? slash : "/";
    const char *host_end = colon ? colon : (slash ? slash : authority + strlen(authority));
    if (host_end == authority || (size_t)(host_end - authority) >= host_size)
        return false;
    memcpy(host, authority, (size_t)(host_end - authority));
    host[host_end - authority] = '\0';
    const char *port_start = colon ? colon + 1 : "80";
    size_t port_len =
        colon ? (size_t)((slash ? slash : port_start + strlen(port_start)) - port_start) : 2;
    if (port_len == 0 || port_len >= port_size)
        return false;
    memcpy(port, port_start, port_len);
    port[port_len] = '\0';
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: bench_loadgen URL KEY BODY_FILE RATE CONNECTIONS SECONDS "
                        "[--keyed] [--count N] [--trace FILE]\n");
        return 2;
    }
    static struct loadgen g;
    for (int i = 7; i < argc; i++) {
        if (strcmp(argv[i], "--keyed") == 0)
            g.keyed = true;
        else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            g.limit = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--trace") == 0 && i + 1 < argc) {
            g.trace = fopen(argv[++i], "w");
            if (!g.trace)
                die(argv[i]);
        } else {
            fprintf(stderr, "bench_loadgen: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    char host[256], port[16];
    const char *path;
    char *body = read_all(argv[3], &g.body_len);
    double rate = strtod(argv[4], NULL), seconds = strtod(argv[6], NULL);
    int connections = (int)strtol(argv[5], NULL, 10);
    if (!body || rate <= 0 || connections < 1 || connections > 1024 || seconds <= 0 ||
        !parse_url(argv[1], host, sizeof host, port, sizeof port, &path)) {
        fprintf(stderr, "bench_loadgen: bad arguments or unreadable body file\n");
        return 2;
    }
    g.body = body;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    int gai = getaddrinfo(host, port, &hints, &g.address);
    if (gai != 0) {
        fprintf(stderr, "bench_loadgen: %s: %s\n", host, gai_strerror(gai));
        return 2;
    }
    if (asprintf(&g.head,
                 "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                 "Authorization: Bearer %s\r\nContent-Length: %zu\r\n",
                 path, host, port, argv[2], g.body_len) < 0)
        die("out of memory");
    signal(SIGPIPE, SIG_IGN);
    g.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (g.epoll_fd < 0)
        die("epoll_create1");
    g.connections = calloc((size_t)connections, sizeof *g.connections);
    if (!g.connections)
        die("out of memory");
    g.request_size = strlen(g.head) + 128 + g.body_len;
    g.interval_s = connections / rate;
    g.start = now_s();
    g.stop_issuing = g.start + seconds;
    for (int i = 0; i < connections; i++) {
        struct connection *c = &g.connections[i];
        c->fd = -1;
        c->request = malloc(g.request_size);
        if (!c->request)
            die("out of memory");
        c->next_due = g.start + (double)i / rate;
        format_request(&g, c);
        if (!open_connection(&g, c))
            die("connect");
    }

    struct epoll_event events[64];
    for (;;) {
        double now = now_s(), wake = now + 1.0;
        int busy = 0;
        for (int i = 0; i < connections; i++) {
            struct connection *c = &g.connections[i];
            if (c->busy && now - c->due > REQUEST_TIMEOUT_S)
                fail_request(&g, c, now);
            if (!c->busy && may_issue(&g, c)) {
                if (c->next_due <= now)
                    send_request(&g, c);
                else if (c->next_due < wake)
                    wake = c->next_due;
            }
            busy += c->busy || may_issue(&g, c);
        }
        if (!busy)
            break;
        double wait = wake - now;
        struct timespec timeout = {.tv_sec = (time_t)wait,
                                   .tv_nsec = (long)((wait - (double)(time_t)wait) * 1e9)};
        int n =
            epoll_pwait2(g.epoll_fd, events, 64, wait > 0 ? &timeout : &(struct timespec){0}, NULL);
        if (n < 0 && errno != EINTR)
            die("epoll_pwait2");
        now = now_s();
        for (int i = 0; i < n; i++) {
            struct connection *c = events[i].data.ptr;
            if (c->fd < 0)
                continue;
            if ((events[i].events & EPOLLOUT) && c->busy && !write_request(&g, c)) {
                fail_request(&g, c, now);
                continue;
            }
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(&g, c, now);
        }
    }

    double elapsed = now_s() - g.start;
    for (size_t i = 0; g.trace && i < g.count; i++)
        fprintf(g.trace, "%.4f %.3f\n", g.scheduled[i], g.latencies[i] * 1000);
    if (g.trace && fclose(g.trace) != 0)
        die("--trace");
    qsort(g.latencies, g.count, sizeof *g.latencies, compare);
    double p50 = g.count ? g.latencies[g.count / 2] * 1000 : 0;
    double p99 = g.count ? g.latencies[g.count * 99 / 100] * 1000 : 0;
    printf("sent=%zu ok=%zu failed=%zu rate_per_s=%.0f p50_ms=%.2f p99_ms=%.2f\n", g.count, g.ok,
           g.failed, (double)g.ok / elapsed, p50, p99);
    for (int i = 0; i < connections; i++) {
        close_connection(&g, &g.connections[i]);
        free(g.connections[i].request);
    }
    free(g.connections);
    free(g.latencies);
    free(g.scheduled);
    free(g.head);
    free(body);
    freeaddrinfo(g.address);
    close(g.epoll_fd);
    return 0;
}
