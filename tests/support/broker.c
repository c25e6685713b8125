/* The broker side of tests (see broker.h): connections, queue figures, a
 * pipelined confirmed publisher and a reader, one of each per process. */
#include "tests/support/broker.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/support/http.h"
#include "tests/support/support.h"

static const char traceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/* Per process (each check test runs in a child of its own). */
static struct mq_conn *publish_conn;
static struct mq_publisher *publisher;
static int failed_confirms;
static struct mq_conn *read_conn;
static struct mq_consumer *reader;
static char reader_queue[256];

/* ---- connections and queues ---------------------------------------------------------- */

struct mq_conn *ts_broker_connect(const char *name)
{
    struct mq_conn_options options = {.url = ts_broker_url(), .name = name, .heartbeat_s = 30};
    struct wr_error err;
    struct mq_conn *conn = mq_conn_open(&options, &err);
    ck_assert_msg(conn != NULL, "broker: %s", err.message);
    return conn;
}

void ts_broker_wait_up(void)
{
    struct mq_conn_options options = {.url = ts_broker_url(), .name = "warren-test-wait"};
    struct wr_error err = {0};
    struct mq_conn *conn = NULL;
    for (int waited = 0; !conn && waited < 30000; waited += 500) {
        if (!(conn = mq_conn_open(&options, &err)))
            ts_sleep_ms(500);
    }
    mq_conn_close(conn);
    ck_assert_msg(conn != NULL && ts_http_wait(ts_management_url(), 30000) == 0,
                  "the stack's broker is not up (scripts/stack start): %s", err.message);
}

void ts_declare_queue(struct mq_conn *conn, const char *name, enum mq_queue_type type)
{
    struct mq_queue_spec spec = {.name = (char *)name, .type = type};
    struct wr_error err;
    ck_assert_msg(mq_declare_queue(conn, &spec, &err) == WR_OK, "%s", err.message);
}

void ts_declare_reader(struct mq_conn *conn, const char *exchange, const char *name,
                       const char *const *keys)
{
    struct wr_error err;
    ts_declare_queue(conn, name, MQ_QUEUE_CLASSIC);
    for (size_t i = 0; keys && keys[i]; i++) {
        struct mq_binding_spec binding = {
            .exchange = (char *)exchange, .queue = (char *)name, .routing_key = (char *)keys[i]};
        ck_assert_msg(mq_bind_queue(conn, &binding, &err) == WR_OK, "%s", err.message);
    }
}

void ts_purge(struct mq_conn *conn, const char *queue)
{
    struct wr_error err;
    ck_assert_msg(mq_purge_queue(conn, queue, &err) == WR_OK, "purge %s: %s", queue, err.message);
}

unsigned ts_queue_depth(struct mq_conn *conn, const char *queue)
{
    uint32_t messages = 0;
    struct wr_error err;
    ck_assert_msg(mq_queue_inspect(conn, queue, &messages, NULL, &err) == WR_OK, "%s: %s", queue,
                  err.message);
    return messages;
}

unsigned ts_depth(const char *queue)
{
    struct mq_conn *conn = ts_broker_connect("warren-test-inspect");
    unsigned messages = ts_queue_depth(conn, queue);
    mq_conn_close(conn);
    return messages;
}

unsigned ts_wait_depth(const char *queue, unsigned want, int timeout_ms)
{
    unsigned depth = ts_depth(queue);
    for (int waited = 0; depth < want && waited < timeout_ms; waited += 100) {
        ts_sleep_ms(100);
        depth = ts_depth(queue);
    }
    return depth;
}

unsigned ts_wait_consumers(const char *queue, unsigned n)
{
    struct wr_error err;
    struct mq_conn_options options = {.url = ts_broker_url(), .name = "warren-test-inspect"};
    struct mq_conn *conn = mq_conn_open(&options, &err);
    uint32_t messages = 0, consumers = 0;
    for (int waited = 0; conn && waited < 15000 && consumers < n; waited += 50) {
        if (mq_queue_inspect(conn, queue, &messages, &consumers, &err) != WR_OK || consumers < n)
            ts_sleep_ms(50);
    }
    mq_conn_close(conn);
    return consumers;
}

/* ---- the management API ---------------------------------------------------------------- */

json_t *ts_mgmt_queue(const char *queue)
{
    char url[512];
    struct ts_http_reply r = {0};
    snprintf(url, sizeof url, "%s/api/queues/%%2F/%s", ts_management_url(), queue);
    ts_http_send(&(struct ts_http_request){.url = url}, &r);
    json_t *record = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
    ts_http_reply_free(&r);
    return record;
}

long ts_mgmt_figure(const char *queue, const char *field)
{
    char outer[64];
    json_t *record = ts_mgmt_queue(queue);
    if (!record)
        return -1;
    const char *dot = strchr(field, '.');
    snprintf(outer, sizeof outer, "%.*s", (int)(dot ? dot - field : (long)strlen(field)), field);
    const json_t *value = json_object_get(record, outer);
    if (dot)
        value = json_object_get(value, dot + 1);
    long figure = (long)json_integer_value(value);
    json_decref(record);
    return figure;
}

long ts_mgmt_wait(const char *queue, const char *field, long want, int timeout_ms)
{
    long figure = ts_mgmt_figure(queue, field);
    for (int waited = 0; figure != want && waited < timeout_ms; waited += 250) {
        ts_sleep_ms(250);
        figure = ts_mgmt_figure(queue, field);
    }
    return figure;
}

/* ---- publishing ------------------------------------------------------------------------ */

static void on_confirm(void *ctx, wr_status result, const struct wr_error *detail, void *user)
{
    (void)ctx;
    (void)detail;
    (void)user;
    failed_confirms += result != WR_OK;
}

static struct mq_publisher *the_publisher(void)
{
    struct wr_error err;
    if (!publisher) {
        struct mq_publisher_options options = {.max_in_flight = 512, .on_confirm = on_confirm};
        publish_conn = ts_broker_connect("warren-test-publish");
        publisher = mq_publisher_create(publish_conn, &options, &err);
        ck_assert_msg(publisher != NULL, "%s", err.message);
    }
    return publisher;
}

void ts_publish(const char *exchange, const char *type, const char *order_id,
                const char *storefront, json_t *body)
{
    struct wr_error err;
    char message_id[37];
    ts_uuid(message_id);
    char *text = json_dumps(body, JSON_COMPACT);
    struct mq_header headers[3] = {
        {.key = "x-attempt", .kind = MQ_HEADER_INT, .integer = 1},
        {.key = "traceparent", .kind = MQ_HEADER_STRING, .string = traceparent},
        {.key = "x-storefront", .kind = MQ_HEADER_STRING, .string = storefront},
    };
    struct mq_message msg = {.exchange = exchange,
                             .routing_key = type,
                             .body = text,
                             .body_len = strlen(text),
                             .message_id = message_id,
                             .correlation_id = order_id,
                             .type = type,
                             .content_type = "application/json",
                             .timestamp = time(NULL),
                             .persistent = true,
                             .headers = headers,
                             .header_count = storefront ? 3 : 2};
    ck_assert_msg(mq_publish(the_publisher(), &msg, NULL, &err) == WR_OK, "%s", err.message);
    free(text);
}

void ts_publish_flush(void)
{
    struct wr_error err;
    if (!publisher)
        return;
    ck_assert_msg(mq_publisher_flush(publisher, 10000, &err) == WR_OK, "%s", err.message);
    ck_assert_int_eq(failed_confirms, 0);
}

/* ---- reading back ---------------------------------------------------------------------- */

static void close_reader(void)
{
    mq_consumer_destroy(reader);
    mq_conn_close(read_conn);
    reader = NULL;
    read_conn = NULL;
    reader_queue[0] = '\0';
}

/* The process's consumer, on queue. */
static struct mq_consumer *reader_of(const char *queue)
{
    struct wr_error err;
    if (reader && strcmp(reader_queue, queue) == 0)
        return reader;
    close_reader();
    read_conn = ts_broker_connect("warren-test-read");
    reader = mq_consumer_create(read_conn, queue, 500, &err);
    ck_assert_msg(reader != NULL, "%s: %s", queue, err.message);
    snprintf(reader_queue, sizeof reader_queue, "%s", queue);
    return reader;
}

json_t *ts_next_message(const char *queue, int timeout_ms)
{
    struct wr_error err;
    struct mq_delivery *d = NULL;
    struct mq_consumer *consumer = reader_of(queue);
    if (mq_consumer_next(consumer, timeout_ms, &d, &err) != WR_OK)
        return NULL;
    json_t *body = json_loadb(d->body, d->body_len, 0, NULL);
    json_t *message = json_pack("{s:s?, s:s?, s:o?}", "type", d->type, "order_id",
                                d->correlation_id, "body", body);
    ck_assert_int_eq(mq_ack(consumer, d->delivery_tag, &err), WR_OK);
    mq_delivery_free(d);
    return message;
}

static int is(const json_t *message, const char *key, const char *want)
{
    const char *value = json_string_value(json_object_get(message, key));
    return value && strcmp(value, want) == 0;
}

json_t *ts_next_body(const char *queue, const char *type, const char *order_id, int wait_ms)
{
    json_t *body = NULL, *message;
    for (int waited = 0; !body && waited < wait_ms; waited += 100) {
        if (!(message = ts_next_message(queue, 100)))
            continue;
        if (is(message, "type", type) && is(message, "order_id", order_id))
            body = json_incref(json_object_get(message, "body"));
        json_decref(message);
    }
    return body;
}

int ts_count_messages(const char *queue, const char *type, const char *order_id, int want,
                      int wait_ms, int settle_ms)
{
    int count = 0;
    json_t *body;
    while (count < want && (body = ts_next_body(queue, type, order_id, wait_ms))) {
        count++;
        json_decref(body);
    }
    while ((body = ts_next_body(queue, type, order_id, settle_ms))) {
        count++;
        json_decref(body);
    }
    return count;
}

struct mq_delivery *ts_next_delivery(const char *queue, int timeout_ms)
{
    struct wr_error err;
    struct mq_conn *conn = ts_broker_connect("warren-test-read");
    struct mq_consumer *consumer = mq_consumer_create(conn, queue, 1, &err);
    ck_assert_msg(consumer != NULL, "%s: %s", queue, err.message);
    struct mq_delivery *delivery = NULL;
    if (mq_consumer_next(consumer, timeout_ms, &delivery, &err) == WR_OK)
        ck_assert_int_eq(mq_ack(consumer, delivery->delivery_tag, &err), WR_OK);
    else
        delivery = NULL;
    mq_consumer_destroy(consumer);
    mq_conn_close(conn);
    return delivery;
}

void ts_broker_disconnect(void)
{
    close_reader();
    mq_publisher_destroy(publisher);
    mq_conn_close(publish_conn);
    publisher = NULL;
    publish_conn = NULL;
    failed_confirms = 0;
}
