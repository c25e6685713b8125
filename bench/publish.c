/* bench_publish: publish throughput through broker/ on the local stack.
 * For a durable classic and a durable quorum queue, in one run on one
 * broker: unconfirmed publishing (the baseline), pipelined confirmed
 * publishing (many in flight) and one-at-a-time confirmed publishing,
 * all persistent ~1 KiB messages with warren's usual properties. Prints a
 * table, then one line of key=value figures (see bench/README.md). */
#define _GNU_SOURCE /* ppoll */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/broker.h"

#define MAX_ROUNDS 9

struct settings {
    const char *url;
    size_t fast_count; /* messages per unconfirmed and pipelined run */
    size_t sync_count; /* messages per one-at-a-time run */
    size_t window;     /* publishes in flight when pipelined */
    size_t body_size;
    size_t rounds; /* of the three modes; figures are medians */
    bool plain;    /* BENCH_PLAIN=1: message_id and content_type only, no headers */
    bool topic;    /* BENCH_TOPIC=1: through a topic exchange, as warren publishes */
    double refill_s; /* BENCH_REFILL_US: a confirmed slot is used again this long after */
};

/* BENCH_TOPIC=1: the exchange (per process) and routing key used, bound to
 * the queue, so the broker routes as it does warren's order.placed. */
#define TOPIC_ROUTING_KEY "order.placed"

struct run_result {
    double seconds;
    size_t confirmed;
    size_t failed;
};

struct bench {
    struct settings s;
    struct mq_conn *conn;  /* publishing (one per mode, reopened) */
    struct mq_conn *admin; /* declares, purges, depth checks */
    char *body;
    char exchange[64]; /* BENCH_TOPIC: warren-bench-topic-PID */
    size_t ok, failed; /* outcomes seen by on_confirm */
    /* BENCH_REFILL_US: when each confirmed slot may be used again, in
     * confirm order (a ring of window entries: never more are pending) */
    double *refill_at;
    size_t refill_head, refill_tail;
};

/* The monotonic clock to the nanosecond (BENCH_REFILL_US's delays are
 * microseconds). */
static double now_s(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void die(const char *what, const struct wr_error *err)
{
    fprintf(stderr, "bench/publish: %s: %s\n", what, err ? err->message : "");
    exit(1);
}

static size_t env_size(const char *name, size_t fallback)
{
    const char *value = getenv(name);
    char *end;
    unsigned long long parsed = value ? strtoull(value, &end, 10) : 0;
    return value && *value && !*end && parsed > 0 ? (size_t)parsed : fallback;
}

static struct settings read_settings(void)
{
    const char *url = getenv("WARREN_BROKER_URL");
    struct settings s = {
        .url = url && *url ? url : "amqp://warren:warren@127.0.0.1:5682/",
        .fast_count = env_size("BENCH_COUNT", 100000),
        .sync_count = env_size("BENCH_SYNC_COUNT", 5000),
        .window = env_size("BENCH_WINDOW", 256),
        .body_size = env_size("BENCH_BODY_SIZE", 1024),
        .rounds = env_size("BENCH_ROUNDS", 3),
        .plain = env_size("BENCH_PLAIN", 0) == 1,
        .topic = env_size("BENCH_TOPIC", 0) == 1,
        .refill_s = (double)env_size("BENCH_REFILL_US", 0) / 1e6,
    };
    if (s.rounds > MAX_ROUNDS)
        s.rounds = MAX_ROUNDS;
    return s;
}

/* A JSON-looking body of the configured size. */
static char *make_body(size_t size)
{
    char *body = malloc(size + 1);
    if (!body)
        die("out of memory", NULL);
    static const char pattern[] = "{\"order_id\":\"o-123\",\"sku\":\"TEE-RED-M\",\"quantity\":2},";
    for (size_t i = 0; i < size; i++)
        body[i] = pattern[i % (sizeof pattern - 1)];
    body[size] = '\0';
    return body;
}

static struct mq_conn *connect_or_die(const struct settings *s, const char *name)
{
    struct mq_conn_options options = {.url = s->url, .name = name, .heartbeat_s = 30};
    struct wr_error err;
    struct mq_conn *conn = mq_conn_open(&options, &err);
    if (!conn)
        die("connect", &err);
    return conn;
}

/* ---- messages ----------------------------------------------------------- */

static const struct mq_header bench_headers[] = {
    {.key = "x-attempt", .kind = MQ_HEADER_INT, .integer = 1},
    {.key = "traceparent",
     .kind = MQ_HEADER_STRING,
     .string = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    {.key = "x-storefront", .kind = MQ_HEADER_STRING, .string = "bench"},
};

/* The i-th message of a run; id is its message_id buffer. */
static struct mq_message message(const struct bench *b, const char *queue, size_t i, char *id,
                                 size_t id_size)
{
    snprintf(id, id_size, "bench-%zu", i);
    struct mq_message msg = {.exchange = b->s.topic ? b->exchange : "",
                             .routing_key = b->s.topic ? TOPIC_ROUTING_KEY : queue,
                             .body = b->body,
                             .body_len = b->s.body_size,
                             .message_id = id,
                             .correlation_id = "o-123",
                             .type = "order.placed",
                             .content_type = "application/json",
                             .timestamp = (int64_t)time(NULL),
                             .persistent = true,
                             .headers = bench_headers,
                             .header_count = sizeof bench_headers / sizeof bench_headers[0]};
    if (b->s.plain) {
        msg.correlation_id = msg.type = NULL;
        msg.timestamp = 0;
        msg.header_count = 0;
    }
    return msg;
}

static void on_confirm(void *ctx, wr_status result, const struct wr_error *detail, void *user)
{
    (void)ctx;
    struct bench *b = user;
    if (b->refill_at)
        b->refill_at[b->refill_tail++ % b->s.window] = now_s() + b->s.refill_s;
    if (result == WR_OK) {
        b->ok++;
        return;
    }
    if (b->failed++ == 0)
        fprintf(stderr, "bench/publish: a publish failed: %s\n", detail->message);
}

/* ---- queue handling --------------------------------------------------------- */

static uint32_t depth(struct bench *b, const char *queue)
{
    uint32_t messages = 0;
    struct wr_error err;
    if (mq_queue_inspect(b->admin, queue, &messages, NULL, &err) != WR_OK)
        die("inspect", &err);
    return messages;
}

static void fresh_queue(struct bench *b, const char *queue, enum mq_queue_type type)
{
    struct wr_error err;
    if (mq_delete_queue(b->admin, queue, &err) != WR_OK)
        die("delete queue", &err);
    struct mq_queue_spec spec = {.name = (char *)queue, .type = type};
    if (mq_declare_queue(b->admin, &spec, &err) != WR_OK)
        die("declare queue", &err);
    if (!b->s.topic)
        return;
    struct mq_exchange_spec exchange = {.name = b->exchange, .type = MQ_EXCHANGE_TOPIC};
    struct mq_binding_spec binding = {
        .exchange = b->exchange, .queue = (char *)queue, .routing_key = TOPIC_ROUTING_KEY};
    if (mq_declare_exchange(b->admin, &exchange, &err) != WR_OK ||
        mq_bind_queue(b->admin, &binding, &err) != WR_OK)
        die("declare and bind the topic exchange", &err);
}

/* Waits until queue holds want messages (the broker has them all). */
static void wait_depth(struct bench *b, const char *queue, uint32_t want)
{
    struct timespec pause = {.tv_nsec = 2000000};
    double give_up = now_s() + 120;
    while (depth(b, queue) < want) {
        if (now_s() > give_up) {
            fprintf(stderr, "bench/publish: %s holds %u of %u messages after 120 s\n", queue,
                    depth(b, queue), want);
            exit(1);
        }
        nanosleep(&pause, NULL);
    }
}

/* ---- the three modes ------------------------------------------------------------- */

/* (a) unconfirmed: timed until the broker holds every message, so it is
 * compared with confirmed runs over the same span of work. */
static struct run_result run_unconfirmed(struct bench *b, const char *queue, size_t count)
{
    struct mq_conn *conn = connect_or_die(&b->s, "bench-unconfirmed");
    char id[32];
    struct wr_error err;
    double start = now_s();
    for (size_t i = 0; i < count; i++) {
        struct mq_message msg = message(b, queue, i, id, sizeof id);
        if (mq_publish_unconfirmed(conn, &msg, &err) != WR_OK)
            die("publish", &err);
    }
    wait_depth(b, queue, (uint32_t)count);
    struct run_result r = {.seconds = now_s() - start, .confirmed = count};
    mq_conn_close(conn);
    return r;
}

static struct mq_publisher *publisher(struct bench *b, struct mq_conn *conn, size_t window)
{
    struct mq_publisher_options options = {
        .max_in_flight = window, .on_confirm = on_confirm, .user = b};
    struct wr_error err;
    struct mq_publisher *pub = mq_publisher_create(conn, &options, &err);
    if (!pub)
        die("publisher", &err);
    b->ok = b->failed = 0;
    return pub;
}

/* Sleeps until the broker's socket is readable or the oldest confirmed
 * slot is due again (call after mq_publisher_poll(pub, 0, ...)). */
static void wait_for_confirm_or_slot(const struct bench *b, struct mq_conn *conn)
{
    struct pollfd broker = {.fd = mq_conn_socket(conn), .events = POLLIN};
    struct timespec wait = {.tv_sec = 1};
    if (b->refill_head < b->refill_tail) {
        double left = b->refill_at[b->refill_head % b->s.window] - now_s();
        if (left <= 0)
            return;
        wait.tv_sec = 0;
        wait.tv_nsec = (long)(left * 1e9);
    }
    (void)ppoll(&broker, 1, &wait, NULL);
}

/* BENCH_REFILL_US: window publishes in flight, but each confirmed slot's
 * next publish waits refill_s after the confirm, as a request's next order
 * comes one HTTP round trip after its answer. Between publishes it sleeps
 * in ppoll() on the broker's socket until a confirm arrives or the next
 * slot is due, so it takes no core of its own and keeps the delay to
 * within the kernel's timer slack. Returns once every publish has its
 * outcome. */
static void publish_with_refill_delay(struct bench *b, struct mq_conn *conn,
                                      struct mq_publisher *pub, const char *queue, size_t count)
{
    b->refill_at = calloc(b->s.window, sizeof *b->refill_at);
    if (!b->refill_at)
        die("out of memory", NULL);
    b->refill_head = b->refill_tail = 0;
    char id[32];
    struct wr_error err;
    size_t sent = 0, free_slots = b->s.window;
    while (b->ok + b->failed < count) {
        double now = now_s();
        while (b->refill_head < b->refill_tail &&
               b->refill_at[b->refill_head % b->s.window] <= now) {
            b->refill_head++;
            free_slots++;
        }
        for (; free_slots > 0 && sent < count; free_slots--, sent++) {
            struct mq_message msg = message(b, queue, sent, id, sizeof id);
            if (mq_publish(pub, &msg, NULL, &err) != WR_OK)
                die("publish", &err);
        }
        if (mq_publisher_poll(pub, 0, &err) != WR_OK)
            die("poll", &err);
        wait_for_confirm_or_slot(b, conn);
    }
    free(b->refill_at);
    b->refill_at = NULL;
}

/* (b) pipelined (window > 1, flush at the end; with BENCH_REFILL_US as
 * above) or (c) one at a time (flush after each publish). */
static struct run_result run_confirmed(struct bench *b, const char *queue, size_t count,
                                       bool one_at_a_time)
{
    struct mq_conn *conn = connect_or_die(&b->s, "bench-confirmed");
    struct mq_publisher *pub = publisher(b, conn, one_at_a_time ? 1 : b->s.window);
    char id[32];
    struct wr_error err;
    double start = now_s();
    if (!one_at_a_time && b->s.refill_s > 0) {
        publish_with_refill_delay(b, conn, pub, queue, count);
    } else {
        for (size_t i = 0; i < count; i++) {
            struct mq_message msg = message(b, queue, i, id, sizeof id);
            if (mq_publish(pub, &msg, NULL, &err) != WR_OK)
                die("publish", &err);
            if (one_at_a_time && mq_publisher_flush(pub, 10000, &err) != WR_OK)
                die("flush", &err);
        }
    }
    if (mq_publisher_flush(pub, 30000, &err) != WR_OK)
        die("flush", &err);
    struct run_result r = {.seconds = now_s() - start, .confirmed = b->ok, .failed = b->failed};
    mq_publisher_destroy(pub);
    mq_conn_close(conn);
    return r;
}

/* ---- rounds and reporting ------------------------------------------------------- */

enum mode { MODE_UNCONFIRMED, MODE_PIPELINED, MODE_SYNC, MODE_COUNT };

struct type_result {
    const char *type;
    double unconfirmed, pipelined, sync; /* median messages per second */
};

static double rate(const struct run_result *r)
{
    return r->seconds > 0 && !r->failed ? (double)r->confirmed / r->seconds : 0;
}

static double median(const double *values, size_t n)
{
    double v[MAX_ROUNDS];
    memcpy(v, values, n * sizeof *v);
    for (size_t i = 1; i < n; i++) { /* insertion sort: n is tiny */
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static struct run_result run_mode(struct bench *b, const char *queue, enum mode mode)
{
    if (mode == MODE_UNCONFIRMED)
        return run_unconfirmed(b, queue, b->s.fast_count);
    if (mode == MODE_PIPELINED)
        return run_confirmed(b, queue, b->s.fast_count, false);
    return run_confirmed(b, queue, b->s.sync_count, true);
}

static void print_run(const struct bench *b, const char *type, enum mode mode, size_t round,
                      const struct run_result *r)
{
    char label[64];
    if (mode == MODE_PIPELINED)
        snprintf(label, sizeof label, "pipelined (%zu in flight%s)", b->s.window,
                 b->s.refill_s > 0 ? ", refill delay" : "");
    else
        snprintf(label, sizeof label, "%s", mode == MODE_SYNC ? "one at a time" : "unconfirmed");
    size_t count = mode == MODE_SYNC ? b->s.sync_count : b->s.fast_count;
    printf("  %-8s round %zu  %-26s %7zu msgs %6.2f s %8.0f msg/s%s\n", type, round + 1, label,
           count, r->seconds, rate(r), r->failed ? "  (FAILURES)" : "");
    fflush(stdout);
}

/* Rounds of the three modes, interleaved so that a change in the load
 * of the host affects them alike; each mode's figure is its median. */
static struct type_result bench_type(struct bench *b, enum mq_queue_type type)
{
    const char *name = mq_queue_type_name(type);
    char queue[128];
    snprintf(queue, sizeof queue, "warren-bench-%s-%ld", name, (long)getpid());
    fresh_queue(b, queue, type); /* warm-up: not measured */
    (void)run_confirmed(b, queue, b->s.fast_count / 10, false);
    double rates[MODE_COUNT][MAX_ROUNDS];
    for (size_t round = 0; round < b->s.rounds; round++) {
        for (enum mode mode = 0; mode < MODE_COUNT; mode++) {
            fresh_queue(b, queue, type);
            struct run_result r = run_mode(b, queue, mode);
            print_run(b, name, mode, round, &r);
            rates[mode][round] = rate(&r);
        }
    }
    struct wr_error err;
    if (mq_delete_queue(b->admin, queue, &err) != WR_OK)
        die("delete queue", &err);
    struct type_result t = {.type = name,
                            .unconfirmed = median(rates[MODE_UNCONFIRMED], b->s.rounds),
                            .pipelined = median(rates[MODE_PIPELINED], b->s.rounds),
                            .sync = median(rates[MODE_SYNC], b->s.rounds)};
    return t;
}

static void print_ratios(const struct type_result *t)
{
    if (t->unconfirmed == 0 && t->pipelined == 0 && t->sync == 0)
        return; /* not measured (BENCH_ONLY) */
    double vs_unconfirmed = t->unconfirmed > 0 ? t->pipelined / t->unconfirmed : 0;
    double vs_sync = t->sync > 0 ? t->pipelined / t->sync : 0;
    printf("  %-8s medians: unconfirmed %.0f/s, pipelined %.0f/s, one at a time %.0f/s\n", t->type,
           t->unconfirmed, t->pipelined, t->sync);
    printf("  %-8s pipelined/unconfirmed = %.2f (target >= 0.75: %s), "
           "pipelined/one-at-a-time = %.1fx (target >= 10x: %s)\n",
           "", vs_unconfirmed, vs_unconfirmed >= 0.75 ? "met" : "NOT met", vs_sync,
           vs_sync >= 10 ? "met" : "NOT met");
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        printf("usage: bench/publish (settings from the environment: WARREN_BROKER_URL, "
               "BENCH_COUNT, BENCH_SYNC_COUNT, BENCH_WINDOW, BENCH_BODY_SIZE, BENCH_ROUNDS, "
               "BENCH_ONLY, BENCH_PLAIN, BENCH_TOPIC, BENCH_REFILL_US)\n");
        return strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    struct bench b = {.s = read_settings()};
    b.body = make_body(b.s.body_size);
    b.admin = connect_or_die(&b.s, "bench-admin");
    snprintf(b.exchange, sizeof b.exchange, "warren-bench-topic-%ld", (long)getpid());
    printf("bench/publish: persistent %zu-byte messages to durable queues; %zu per fast run, "
           "%zu one at a time; %zu rounds, medians reported%s%s",
           b.s.body_size, b.s.fast_count, b.s.sync_count, b.s.rounds,
           b.s.plain ? "; plain messages (no headers)" : "",
           b.s.topic ? "; through a topic exchange (" TOPIC_ROUTING_KEY ")" : "");
    if (b.s.refill_s > 0)
        printf("; pipelined slots refilled %.0f us after their confirms", b.s.refill_s * 1e6);
    printf("\n\n");
    const char *only = getenv("BENCH_ONLY"); /* "quorum" or "classic": skip the other */
    struct type_result quorum = {.type = "quorum"}, classic = {.type = "classic"};
    if (!only || strcmp(only, "classic") != 0)
        quorum = bench_type(&b, MQ_QUEUE_QUORUM);
    if (!only || strcmp(only, "quorum") != 0)
        classic = bench_type(&b, MQ_QUEUE_CLASSIC);
    struct wr_error err;
    if (b.s.topic && mq_delete_exchange(b.admin, b.exchange, &err) != WR_OK)
        die("delete the topic exchange", &err);
    printf("\n");
    print_ratios(&quorum);
    print_ratios(&classic);
    printf("quorum_unconfirmed_per_s=%.0f quorum_pipelined_per_s=%.0f quorum_sync_per_s=%.0f "
           "classic_unconfirmed_per_s=%.0f classic_pipelined_per_s=%.0f "
           "classic_sync_per_s=%.0f\n",
           quorum.unconfirmed, quorum.pipelined, quorum.sync, classic.unconfirmed,
           classic.pipelined, classic.sync);
    mq_conn_close(b.admin);
    free(b.body);
    return 0;
}
