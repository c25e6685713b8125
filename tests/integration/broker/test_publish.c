/* Integration tests of broker/'s publisher against the local stack's
 * RabbitMQ: confirmed round trips with every property, many publishes in
 * flight, writes batched in bursts (bodies larger than a frame among
 * them), unroutable returns, nacks, and a channel closed by a publish to
 * a missing exchange. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/broker/helpers.h"
#include "tests/support/support.h"

static struct mq_publisher *new_publisher(struct mq_conn *conn, size_t max_in_flight,
                                          struct tb_outcomes *outcomes, bool batch_writes)
{
    struct mq_publisher_options options = {.max_in_flight = max_in_flight,
                                           .on_confirm = tb_record_outcome,
                                           .user = outcomes,
                                           .batch_writes = batch_writes};
    struct wr_error err;
    struct mq_publisher *pub = mq_publisher_create(conn, &options, &err);
    ck_assert_msg(pub != NULL, "%s", err.message);
    return pub;
}

/* A queue of its own, a publisher on one connection and a second
 * connection to consume what it published. */
struct publish_and_read {
    char queue[128];
    struct mq_conn *conn, *cconn;
    struct tb_outcomes *outcomes;
    struct mq_publisher *pub;
};

static void publish_and_read_open(struct publish_and_read *f, const char *what,
                                  enum mq_queue_type type, size_t max_in_flight, bool batch_writes)
{
    tb_name(what, f->queue, sizeof f->queue);
    f->conn = ts_broker_connect("warren-broker-test");
    f->cconn = ts_broker_connect("warren-broker-test");
    ts_declare_queue(f->conn, f->queue, type);
    f->outcomes = calloc(1, sizeof *f->outcomes);
    f->pub = new_publisher(f->conn, max_in_flight, f->outcomes, batch_writes);
}

static void publish_and_read_close(struct publish_and_read *f)
{
    struct wr_error err;
    mq_publisher_destroy(f->pub);
    ck_assert_int_eq(mq_delete_queue(f->conn, f->queue, &err), WR_OK);
    mq_conn_close(f->cconn);
    mq_conn_close(f->conn);
    free(f->outcomes);
}

static void flush(struct mq_publisher *pub)
{
    struct wr_error err;
    ck_assert_msg(mq_publisher_flush(pub, 10000, &err) == WR_OK, "flush: %s", err.message);
    ck_assert_uint_eq(mq_publisher_in_flight(pub), 0);
}

static struct mq_delivery *next_delivery(struct mq_consumer *consumer)
{
    struct mq_delivery *d = NULL;
    struct wr_error err;
    ck_assert_msg(mq_consumer_next(consumer, 5000, &d, &err) == WR_OK, "%s", err.message);
    return d;
}

/* A body with NUL bytes, UTF-8 (é, 😀, RTL mark) and printf-like text. */
static const char odd_body[] = "{\"a\":\"x\0y\",\"name\":\"Jos\xc3\xa9 \xf0\x9f\x98\x80 "
                               "\xe2\x80\x8f %s %n\"}\0tail";

static void check_full_delivery(const struct mq_delivery *d, const char *queue)
{
    ck_assert_str_eq(d->exchange, "");
    ck_assert_str_eq(d->routing_key, queue);
    ck_assert_str_eq(d->message_id, "3b241101-e2bb-4255-8caf-4136c566a962");
    ck_assert_str_eq(d->correlation_id, "order-42");
    ck_assert_str_eq(d->type, "order.placed");
    ck_assert_str_eq(d->content_type, "application/json");
    ck_assert_int_eq(d->timestamp, 1700000000);
    ck_assert_int_eq(d->delivery_mode, 2);
    ck_assert(!d->redelivered);
    ck_assert_uint_eq(d->body_len, sizeof odd_body - 1);
    ck_assert(memcmp(d->body, odd_body, sizeof odd_body - 1) == 0);
    ck_assert_int_eq(((const char *)d->body)[d->body_len], '\0');
    ck_assert_uint_eq(d->header_count, 4);
    const struct mq_header *h = mq_delivery_header(d, "x-attempt");
    ck_assert(h && h->kind == MQ_HEADER_INT && h->integer == 3);
    h = mq_delivery_header(d, "x-big");
    ck_assert(h && h->kind == MQ_HEADER_INT && h->integer == -9000000000LL);
    h = mq_delivery_header(d, "traceparent");
    ck_assert(h && h->kind == MQ_HEADER_STRING);
    ck_assert_str_eq(h->string, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    h = mq_delivery_header(d, "x-storefront");
    ck_assert(h && h->kind == MQ_HEADER_STRING);
    ck_assert_str_eq(h->string, "shop-\xc3\xbc \"quoted\"");
    ck_assert_ptr_null(mq_delivery_header(d, "absent"));
}

static void check_bare_delivery(const struct mq_delivery *d)
{
    ck_assert_str_eq(d->message_id, "bare-1");
    ck_assert_ptr_null(d->correlation_id);
    ck_assert_ptr_null(d->type);
    ck_assert_ptr_null(d->content_type);
    ck_assert_int_eq(d->timestamp, 0);
    ck_assert_int_eq(d->delivery_mode, 0);
    ck_assert_uint_eq(d->header_count, 0);
    ck_assert_uint_eq(d->body_len, 0);
    ck_assert_int_eq(((const char *)d->body)[0], '\0');
}

static void round_trip(enum mq_queue_type type)
{
    struct publish_and_read f;
    publish_and_read_open(&f, "roundtrip", type, 0, false);
    const char *queue = f.queue;

    struct mq_header headers[] = {
        {.key = "x-attempt", .kind = MQ_HEADER_INT, .integer = 3},
        {.key = "x-big", .kind = MQ_HEADER_INT, .integer = -9000000000LL},
        {.key = "traceparent",
         .kind = MQ_HEADER_STRING,
         .string = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
        {.key = "x-storefront", .kind = MQ_HEADER_STRING, .string = "shop-\xc3\xbc \"quoted\""},
    };
    struct mq_message full = {.exchange = "",
                              .routing_key = queue,
                              .body = odd_body,
                              .body_len = sizeof odd_body - 1,
                              .message_id = "3b241101-e2bb-4255-8caf-4136c566a962",
                              .correlation_id = "order-42",
                              .type = "order.placed",
                              .content_type = "application/json",
                              .timestamp = 1700000000,
                              .persistent = true,
                              .headers = headers,
                              .header_count = 4};
    struct mq_message bare = {.routing_key = queue, .message_id = "bare-1"};
    tb_publish(f.pub, &full, 0);
    tb_publish(f.pub, &bare, 1);
    flush(f.pub);
    ck_assert_uint_eq(f.outcomes->total_calls, 2);
    ck_assert_int_eq(f.outcomes->status[0], WR_OK);
    ck_assert_int_eq(f.outcomes->status[1], WR_OK);

    struct wr_error err;
    struct mq_consumer *consumer = mq_consumer_create(f.cconn, queue, 10, &err);
    ck_assert_msg(consumer != NULL, "%s", err.message);
    struct mq_delivery *d = next_delivery(consumer);
    check_full_delivery(d, queue);
    ck_assert_int_eq(mq_ack(consumer, d->delivery_tag, &err), WR_OK);
    mq_delivery_free(d);
    d = next_delivery(consumer);
    check_bare_delivery(d);
    ck_assert_int_eq(mq_ack(consumer, d->delivery_tag, &err), WR_OK);
    mq_delivery_free(d);
    ck_assert_uint_eq(ts_queue_depth(f.conn, queue), 0);

    mq_consumer_destroy(consumer);
    publish_and_read_close(&f);
}

START_TEST(test_round_trip_classic)
{
    round_trip(MQ_QUEUE_CLASSIC);
}
END_TEST

START_TEST(test_round_trip_quorum)
{
    round_trip(MQ_QUEUE_QUORUM);
}
END_TEST

START_TEST(test_many_in_flight)
{
    enum { COUNT = 5000, WINDOW = 256 };
    char queue[128];
    tb_name("many", queue, sizeof queue);
    struct mq_conn *conn = ts_broker_connect("warren-broker-test");
    ts_declare_queue(conn, queue, MQ_QUEUE_QUORUM);
    struct tb_outcomes *outcomes = calloc(1, sizeof *outcomes);
    struct mq_publisher *pub = new_publisher(conn, WINDOW, outcomes, false);
    size_t max_seen = 0;
    for (size_t i = 0; i < COUNT; i++) {
        char id[32];
        snprintf(id, sizeof id, "many-%zu", i);
        struct mq_message msg = tb_message("", queue, id);
        tb_publish(pub, &msg, i);
        size_t in_flight = mq_publisher_in_flight(pub);
        max_seen = in_flight > max_seen ? in_flight : max_seen;
    }
    ck_assert_uint_le(max_seen, WINDOW);
    ck_assert_uint_gt(max_seen, 1); /* really pipelined */
    flush(pub);
    ck_assert_uint_eq(outcomes->total_calls, COUNT);
    for (size_t i = 0; i < COUNT; i++) {
        ck_assert_uint_eq(outcomes->calls[i], 1);
        ck_assert_int_eq(outcomes->status[i], WR_OK);
    }
    ck_assert_uint_eq(ts_queue_depth(conn, queue), COUNT);
    mq_publisher_destroy(pub);
    ck_assert_uint_eq(outcomes->total_calls, COUNT); /* destroy had nothing left to fail */
    struct wr_error err;
    ck_assert_int_eq(mq_delete_queue(conn, queue, &err), WR_OK);
    mq_conn_close(conn);
    free(outcomes);
}
END_TEST

START_TEST(test_batched_writes_keep_order_and_split_large_bodies)
{
    enum { COUNT = 100, LARGE = 50, LARGE_SIZE = 300 * 1024 }; /* > 2 frames of 128 KiB */
    struct publish_and_read f;
    publish_and_read_open(&f, "batched", MQ_QUEUE_QUORUM, 256, true);
    char *large = malloc(LARGE_SIZE);
    for (size_t i = 0; i < LARGE_SIZE; i++)
        large[i] = (char)('a' + i % 23);
    char ids[COUNT][32], bodies[COUNT][32];
    for (size_t i = 0; i < COUNT; i++) {
        snprintf(ids[i], sizeof ids[i], "batched-%zu", i);
        snprintf(bodies[i], sizeof bodies[i], "{\"n\":%zu}", i);
        struct mq_message msg = tb_message("", f.queue, ids[i]);
        msg.body = i == LARGE ? large : bodies[i];
        msg.body_len = i == LARGE ? LARGE_SIZE : strlen(bodies[i]);
        tb_publish(f.pub, &msg, i);
    }
    flush(f.pub);
    ck_assert_uint_eq(f.outcomes->total_calls, COUNT);
    for (size_t i = 0; i < COUNT; i++)
        ck_assert_int_eq(f.outcomes->status[i], WR_OK);
    struct wr_error err;
    struct mq_consumer *consumer = mq_consumer_create(f.cconn, f.queue, COUNT, &err);
    ck_assert_msg(consumer != NULL, "%s", err.message);
    for (size_t i = 0; i < COUNT; i++) {
        struct mq_delivery *d = next_delivery(consumer);
        ck_assert_str_eq(d->message_id, ids[i]); /* in publish order */
        if (i == LARGE) {
            ck_assert_uint_eq(d->body_len, LARGE_SIZE);
            ck_assert(memcmp(d->body, large, LARGE_SIZE) == 0);
        } else {
            ck_assert_uint_eq(d->body_len, strlen(bodies[i]));
            ck_assert(memcmp(d->body, bodies[i], d->body_len) == 0);
        }
        ck_assert_int_eq(mq_ack(consumer, d->delivery_tag, &err), WR_OK);
        mq_delivery_free(d);
    }
    mq_consumer_destroy(consumer);
    publish_and_read_close(&f);
    free(large);
}
END_TEST

START_TEST(test_unroutable_in_a_batch)
{
    enum { COUNT = 40 };
    char queue[128], exchange[128], missing_queue[128];
    tb_name("routed", queue, sizeof queue);
    tb_name("x", exchange, sizeof exchange);
    tb_name("nosuchqueue", missing_queue, sizeof missing_queue);
    struct mq_conn *conn = ts_broker_connect("warren-broker-test");
    struct wr_error err;
    ts_declare_queue(conn, queue, MQ_QUEUE_CLASSIC);
    struct mq_exchange_spec x = {.name = exchange, .type = MQ_EXCHANGE_DIRECT};
    ck_assert_int_eq(mq_declare_exchange(conn, &x, &err), WR_OK);
    struct mq_binding_spec b = {.exchange = exchange, .queue = queue, .routing_key = "good"};
    ck_assert_int_eq(mq_bind_queue(conn, &b, &err), WR_OK);
    struct tb_outcomes *outcomes = calloc(1, sizeof *outcomes);
    struct mq_publisher *pub = new_publisher(conn, 16, outcomes, false);
    for (size_t i = 0; i < COUNT; i++) {
        char id[32];
        snprintf(id, sizeof id, "batch-%zu", i % 3); /* ids repeat: matching must still hold */
        struct mq_message msg = tb_message(exchange, i % 2 ? "nowhere" : "good", id);
        if (i == COUNT - 1)
            msg = tb_message("", missing_queue, id);
        tb_publish(pub, &msg, i);
    }
    flush(pub);
    ck_assert_uint_eq(outcomes->total_calls, COUNT);
    for (size_t i = 0; i < COUNT; i++) {
        ck_assert_uint_eq(outcomes->calls[i], 1);
        wr_status want = (i % 2 || i == COUNT - 1) ? WR_ERR_UNROUTABLE : WR_OK;
        ck_assert_msg(outcomes->status[i] == want, "publish %zu: %s (%s)", i,
                      wr_status_str(outcomes->status[i]), outcomes->message[i]);
    }
    ck_assert_ptr_nonnull(strstr(outcomes->message[1], "NO_ROUTE"));
    ck_assert_uint_eq(ts_queue_depth(conn, queue), COUNT / 2);
    mq_publisher_destroy(pub);
    ck_assert_int_eq(mq_delete_queue(conn, queue, &err), WR_OK);
    ck_assert_int_eq(mq_delete_exchange(conn, exchange, &err), WR_OK);
    mq_conn_close(conn);
    free(outcomes);
}
END_TEST

/* A queue bounded to one message with x-overflow=reject-publish nacks
 * what comes next. A quorum queue learns it is full one message late
 * (RabbitMQ applies the limit after the Raft commit), so it may accept a
 * second one before nacking. */
static void nack_when_full(enum mq_queue_type type, unsigned accepted_max)
{
    enum { COUNT = 4 };
    char queue[128];
    tb_name("full", queue, sizeof queue);
    struct mq_conn *conn = ts_broker_connect("warren-broker-test");
    struct wr_error err;
    struct mq_queue_spec spec = {
        .name = queue, .type = type, .max_length = 1, .overflow = MQ_OVERFLOW_REJECT_PUBLISH};
    ck_assert_msg(mq_declare_queue(conn, &spec, &err) == WR_OK, "%s", err.message);
    struct tb_outcomes *outcomes = calloc(1, sizeof *outcomes);
    struct mq_publisher *pub = new_publisher(conn, 0, outcomes, false);
    unsigned accepted = 0;
    for (size_t i = 0; i < COUNT; i++) {
        struct mq_message msg = tb_message("", queue, "full");
        tb_publish(pub, &msg, i);
        flush(pub); /* one at a time, so the queue is full before the next */
        ck_assert_uint_eq(outcomes->calls[i], 1);
        if (outcomes->status[i] == WR_OK) {
            ck_assert_uint_eq(accepted, i); /* no OK after a nack */
            accepted++;
        } else {
            ck_assert_int_eq(outcomes->status[i], WR_ERR_NACK);
            ck_assert_ptr_nonnull(strstr(outcomes->message[i], "nack"));
        }
    }
    ck_assert_uint_ge(accepted, 1);
    ck_assert_uint_le(accepted, accepted_max);
    ck_assert_int_eq(outcomes->status[COUNT - 1], WR_ERR_NACK);
    ck_assert_uint_eq(ts_queue_depth(conn, queue), accepted);
    mq_publisher_destroy(pub);
    ck_assert_int_eq(mq_delete_queue(conn, queue, &err), WR_OK);
    mq_conn_close(conn);
    free(outcomes);
}

START_TEST(test_nack_classic)
{
    nack_when_full(MQ_QUEUE_CLASSIC, 1);
}
END_TEST

START_TEST(test_nack_quorum)
{
    nack_when_full(MQ_QUEUE_QUORUM, 2);
}
END_TEST

START_TEST(test_missing_exchange_closes_channel)
{
    char queue[128], exchange[128];
    tb_name("after404", queue, sizeof queue);
    tb_name("missing", exchange, sizeof exchange);
    struct mq_conn *conn = ts_broker_connect("warren-broker-test");
    struct wr_error err;
    ts_declare_queue(conn, queue, MQ_QUEUE_CLASSIC);
    struct tb_outcomes *outcomes = calloc(1, sizeof *outcomes);
    struct mq_publisher *pub = new_publisher(conn, 0, outcomes, false);

    struct mq_message lost = tb_message(exchange, "any", "lost-1");
    tb_publish(pub, &lost, 0);
    flush(pub);
    ck_assert_uint_eq(outcomes->calls[0], 1);
    ck_assert_int_eq(outcomes->status[0], WR_ERR_CHANNEL_CLOSED);
    ck_assert_int_eq(outcomes->reply_code[0], 404);
    ck_assert_msg(strstr(outcomes->message[0], "NOT_FOUND") &&
                      strstr(outcomes->message[0], exchange),
                  "%s", outcomes->message[0]);

    /* the publisher and its connection go on */
    ck_assert(mq_conn_is_open(conn));
    struct mq_message good = tb_message("", queue, "good-1");
    tb_publish(pub, &good, 1);
    flush(pub);
    ck_assert_int_eq(outcomes->status[1], WR_OK);
    ck_assert_uint_eq(ts_queue_depth(conn, queue), 1);
    ck_assert_uint_eq(outcomes->total_calls, 2);

    mq_publisher_destroy(pub);
    ck_assert_int_eq(mq_delete_queue(conn, queue, &err), WR_OK);
    mq_conn_close(conn);
    free(outcomes);
}
END_TEST

START_TEST(test_invalid_messages_are_refused)
{
    struct mq_conn *conn = ts_broker_connect("warren-broker-test");
    struct tb_outcomes *outcomes = calloc(1, sizeof *outcomes);
    struct mq_publisher *pub = new_publisher(conn, 0, outcomes, false);
    struct wr_error err;
    struct mq_message no_id = tb_message("", "q", NULL);
    ck_assert_int_eq(mq_publish(pub, &no_id, NULL, &err), WR_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "message_id"));
    char long_key[300];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    struct mq_message too_long = tb_message("", long_key, "id");
    ck_assert_int_eq(mq_publish(pub, &too_long, NULL, &err), WR_ERR_INVALID);
    ck_assert_uint_eq(outcomes->total_calls, 0);
    ck_assert_uint_eq(mq_publisher_in_flight(pub), 0);
    mq_publisher_destroy(pub);
    mq_conn_close(conn);
    free(outcomes);
}
END_TEST

static Suite *publish_suite(void)
{
    Suite *s = suite_create("broker publish");
    TCase *tc = tcase_create("publish");
    tcase_add_unchecked_fixture(tc, tb_setup, tb_teardown);
    tcase_add_test(tc, test_round_trip_classic);
    tcase_add_test(tc, test_round_trip_quorum);
    tcase_add_test(tc, test_many_in_flight);
    tcase_add_test(tc, test_batched_writes_keep_order_and_split_large_bodies);
    tcase_add_test(tc, test_unroutable_in_a_batch);
    tcase_add_test(tc, test_nack_classic);
    tcase_add_test(tc, test_nack_quorum);
    tcase_add_test(tc, test_missing_exchange_closes_channel);
    tcase_add_test(tc, test_invalid_messages_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ts_run_suite(publish_suite());
}
