/* Helpers for worker tests: topology, worker processes, publishing and
 * reading back saga messages, database polling (see harness.h). */
#include "tests/integration/workers/harness.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "tests/support/support.h"

static void sleep_ms(int ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&pause, NULL);
}

void th_apply_topology(void)
{
    char command[1024];
    snprintf(command, sizeof command, "%s topology apply topology/topology.yaml >/dev/null",
             WARRENCTL_BIN);
    ck_assert_int_eq(ts_run(command), 0);
}

struct mq_conn *th_broker(void)
{
    struct mq_conn_options options = {.url = ts_broker_url(), .name = "warren-worker-test"};
    struct wr_error err;
    struct mq_conn *conn = mq_conn_open(&options, &err);
    ck_assert_msg(conn != NULL, "broker: %s", err.message);
    return conn;
}

struct db_conn *th_db(const char *service)
{
    char url[256];
    struct wr_error err;
    struct db_conn *db = db_open(ts_db_url(service, url, sizeof url), &err);
    ck_assert_msg(db != NULL, "database: %s", err.message);
    return db;
}

void th_purge(struct mq_conn *conn, const char *queue)
{
    struct wr_error err;
    ck_assert_msg(mq_purge_queue(conn, queue, &err) == WR_OK, "purge %s: %s", queue, err.message);
}

pid_t th_start_worker(const char *service, const char *crash_at)
{
    static int started;
    char log[128], db_env[64], url[256];
    snprintf(log, sizeof log, "/tmp/warren-%s-%d-%d.log", service, (int)getpid(), ++started);
    snprintf(db_env, sizeof db_env, "WARREN_DATABASE_%s_URL", service);
    for (char *p = db_env; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    setenv(db_env, ts_db_url(service, url, sizeof url), 1);
    if (crash_at)
        setenv("WARREN_CRASH_AT", crash_at, 1);
    else
        unsetenv("WARREN_CRASH_AT");
    char topology[512];
    setenv("WARREN_TOPOLOGY_FILE", ts_source_path("topology/topology.yaml", topology,
                                                  sizeof topology), 1);
    setenv("WARREN_BROKER_URL", ts_broker_url(), 1);
    char *argv[] = {WARREN_WORKER_BIN, "--service", (char *)service, NULL};
    pid_t pid = ts_spawn(argv, log);
    unsetenv("WARREN_CRASH_AT");
    return pid;
}

int th_wait_exit(pid_t pid, int timeout_ms)
{
    int wstatus;
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        if (waitpid(pid, &wstatus, WNOHANG) == pid)
            return wstatus;
        sleep_ms(20);
    }
    return -1;
}

static void ignore_confirm(void *ctx, wr_status result, const struct wr_error *detail, void *user)
{
    (void)ctx;
    (void)detail;
    *(wr_status *)user = result;
}

void th_publish(const char *type, const char *order_id, json_t *body)
{
    /* a channel enters confirm mode once per publisher: use a connection of our own */
    struct mq_conn *conn = th_broker();
    char message_id[37];
    th_order_id(message_id);
    char *text = json_dumps(body, JSON_COMPACT);
    struct mq_header headers[] = {
        {.key = "x-attempt", .kind = MQ_HEADER_INT, .integer = 1},
        {.key = "x-storefront", .kind = MQ_HEADER_STRING, .string = "test-shop"},
        {.key = "traceparent", .kind = MQ_HEADER_STRING,
         .string = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    };
    struct mq_message msg = {.exchange = "orders", .routing_key = type, .body = text,
                             .body_len = strlen(text), .message_id = message_id,
                             .correlation_id = order_id, .type = type,
                             .content_type = "application/json", .persistent = true,
                             .headers = headers, .header_count = 3};
    wr_status outcome = WR_ERR_TIMEOUT;
    struct wr_error err;
    struct mq_publisher_options options = {.on_confirm = ignore_confirm, .user = &outcome};
    struct mq_publisher *pub = mq_publisher_create(conn, &options, &err);
    ck_assert_msg(pub != NULL, "%s", err.message);
    ck_assert_msg(mq_publish(pub, &msg, NULL, &err) == WR_OK, "%s", err.message);
    ck_assert_msg(mq_publisher_flush(pub, 5000, &err) == WR_OK, "%s", err.message);
    ck_assert_int_eq(outcome, WR_OK);
    mq_publisher_destroy(pub);
    mq_conn_close(conn);
    free(text);
}

const char *th_reader(struct mq_conn *conn, const char *const *keys, char *name, size_t size)
{
    struct wr_error err;
    ts_unique_name("reader", name, size);
    struct mq_queue_spec spec = {.name = name, .type = MQ_QUEUE_CLASSIC};
    ck_assert_msg(mq_declare_queue(conn, &spec, &err) == WR_OK, "%s", err.message);
    for (size_t i = 0; keys[i]; i++) {
        struct mq_binding_spec binding = {.exchange = "orders", .queue = name,
                                          .routing_key = (char *)keys[i]};
        ck_assert_msg(mq_bind_queue(conn, &binding, &err) == WR_OK, "%s", err.message);
    }
    return name;
}

static long elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

int th_count(const char *reader, const char *type, const char *order_id, int want, int wait_ms,
             int settle_ms)
{
    struct wr_error err;
    struct mq_conn *conn = th_broker();
    struct mq_consumer *consumer = mq_consumer_create(conn, reader, 100, &err);
    ck_assert_msg(consumer != NULL, "%s", err.message);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int count = 0;
    long deadline = want > 0 ? wait_ms : settle_ms;
    while (elapsed_ms(&start) < deadline) {
        struct mq_delivery *d = NULL;
        if (mq_consumer_next(consumer, 100, &d, &err) != WR_OK)
            continue;
        bool match = d->type && strcmp(d->type, type) == 0 && d->correlation_id &&
                     strcmp(d->correlation_id, order_id) == 0;
        ck_assert_int_eq(mq_ack(consumer, d->delivery_tag, &err), WR_OK);
        mq_delivery_free(d);
        if (match && ++count == want)
            deadline = elapsed_ms(&start) + settle_ms; /* now watch for extras */
    }
    mq_consumer_destroy(consumer);
    mq_conn_close(conn);
    return count;
}

long th_db_number(struct db_conn *db, const char *sql, const char *param)
{
    struct db_result *res = NULL;
    struct wr_error err;
    const char *params[] = {param};
    wr_status status = db_exec(db, sql, param ? 1 : 0, params, &res, &err);
    ck_assert_msg(status == WR_OK, "%s: %s", sql, err.message);
    long value = db_result_rows(res) && db_result_value(res, 0, 0)
                     ? strtol(db_result_value(res, 0, 0), NULL, 10)
                     : 0;
    db_result_free(res);
    return value;
}

long th_db_wait(struct db_conn *db, const char *sql, const char *param, long want, int timeout_ms)
{
    long value = th_db_number(db, sql, param);
    for (int waited = 0; value != want && waited < timeout_ms; waited += 50) {
        sleep_ms(50);
        value = th_db_number(db, sql, param);
    }
    return value;
}

void th_order_id(char out[37])
{
    uuid_t id;
    uuid_generate_random(id);
    uuid_unparse_lower(id, out);
}
