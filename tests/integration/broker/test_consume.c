/* Integration tests of broker/'s consumer against the local stack's
 * RabbitMQ: prefetch honoured, nack with requeue redelivers, nack without
 * requeue drops, ack removes, cancel keeps held messages ackable, and a
 * deleted queue is reported. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/integration/broker/helpers.h"
#include "tests/support/support.h"

/* Publishes count confirmed messages "m-<i>" to queue. */
static void fill(struct mq_conn *conn, const char *queue, size_t count)
{
    struct tb_outcomes *outcomes = calloc(1, sizeof *outcomes);
    struct mq_publisher_options options = {.on_confirm = tb_record_outcome, .user = outcomes};
    struct wr_error err;
    struct mq_publisher *pub = mq_publisher_create(conn, &options, &err);
    ck_assert_msg(pub != NULL, "%s", err.message);
    for (size_t i = 0; i < count; i++) {
        char id[32];
        snprintf(id, sizeof id, "m-%zu", i);
        struct mq_message msg = tb_message("", queue, id);
        tb_publish(pub, &msg, i);
    }
    ck_assert_int_eq(mq_publisher_flush(pub, 10000, &err), WR_OK);
    for (size_t i = 0; i < count; i++)
        ck_assert_int_eq(outcomes->status[i], WR_OK);
    mq_publisher_destroy(pub);
    free(outcomes);
}

static struct mq_consumer *consume(struct mq_conn *conn, const char *queue, uint16_t prefetch)
{
    struct wr_error err;
    struct mq_consumer *consumer = mq_consumer_create(conn, queue, prefetch, &err);
    ck_assert_msg(consumer != NULL, "%s", err.message);
    return consumer;
}

static struct mq_delivery *next(struct mq_consumer *consumer)
{
    struct mq_delivery *d = NULL;
    struct wr_error err;
    ck_assert_msg(mq_consumer_next(consumer, 5000, &d, &err) == WR_OK, "%s", err.message);
    return d;
}

static void expect_nothing(struct mq_consumer *consumer, int64_t wait_ms)
{
    struct mq_delivery *d = NULL;
    struct wr_error err;
    ck_assert_int_eq(mq_consumer_next(consumer, wait_ms, &d, &err), WR_ERR_TIMEOUT);
    ck_assert_ptr_null(d);
}

static void ack(struct mq_consumer *consumer, struct mq_delivery *d)
{
    struct wr_error err;
    ck_assert_msg(mq_ack(consumer, d->delivery_tag, &err) == WR_OK, "%s", err.message);
    mq_delivery_free(d);
}

/* Consumer count of queue once it equals want, or after 3 s (a quorum
 * queue applies basic.cancel through its Raft log, a moment later). */
static uint32_t consumers_after(struct mq_conn *conn, const char *queue, uint32_t want)
{
    uint32_t consumers = 0;
    struct wr_error err;
    for (int64_t end = mq_now_ms() + 3000; mq_now_ms() < end;) {
        ck_assert_int_eq(mq_queue_inspect(conn, queue, NULL, &consumers, &err), WR_OK);
        if (consumers == want)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
    }
    return consumers;
}

START_TEST(test_prefetch_nack_ack)
{
    enum { COUNT = 20, PREFETCH = 5 };
    char queue[128];
    tb_name("prefetch", queue, sizeof queue);
    struct mq_conn *conn = ts_broker_connect("warren-broker-test");
    struct mq_conn *cconn = ts_broker_connect("warren-broker-test");
    ts_declare_queue(conn, queue, MQ_QUEUE_CLASSIC);
    fill(conn, queue, COUNT);
    struct mq_consumer *consumer = consume(cconn, queue, PREFETCH);

    /* exactly PREFETCH arrive while none is acked */
    struct mq_delivery *held[PREFETCH];
    for (size_t i = 0; i < PREFETCH; i++) {
        held[i] = next(consumer);
        ck_assert(!held[i]->redelivered);
    }
    expect_nothing(consumer, 700);
    ck_assert_uint_eq(ts_queue_depth(conn, queue), COUNT - PREFETCH);

    /* nack with requeue: that very message comes back, marked redelivered */
    char first_id[64];
    snprintf(first_id, sizeof first_id, "%s", held[0]->message_id);
    struct wr_error err;
    ck_assert_int_eq(mq_nack(consumer, held[0]->delivery_tag, true, &err), WR_OK);
    mq_delivery_free(held[0]);
    held[0] = next(consumer);
    ck_assert(held[0]->redelivered);
    ck_assert_str_eq(held[0]->message_id, first_id);
    expect_nothing(consumer, 300);

    /* nack without requeue drops it (no dead-letter exchange) */
    ck_assert_int_eq(mq_nack(consumer, held[0]->delivery_tag, false, &err), WR_OK);
    mq_delivery_free(held[0]);
    held[0] = next(consumer);
    ck_assert(!held[0]->redelivered);

    /* ack removes: take and ack everything else */
    size_t received = PREFETCH + 1;
    for (size_t i = 0; i < PREFETCH; i++)
        ack(consumer, held[i]);
    while (received < COUNT) {
        ack(consumer, next(consumer));
        received++;
    }
    expect_nothing(consumer, 300);
    uint32_t messages = 99, consumers = 0;
    ck_assert_int_eq(mq_queue_inspect(conn, queue, &messages, &consumers, &err), WR_OK);
    ck_assert_uint_eq(messages, 0);
    ck_assert_uint_eq(consumers, 1);

    mq_consumer_destroy(consumer);
    ck_assert_int_eq(mq_queue_inspect(conn, queue, &messages, &consumers, &err), WR_OK);
    ck_assert_uint_eq(consumers, 0);
    ck_assert_int_eq(mq_delete_queue(conn, queue, &err), WR_OK);
    mq_conn_close(cconn);
    mq_conn_close(conn);
}
END_TEST

START_TEST(test_cancel_keeps_held_messages_ackable)
{
    char queue[128];
    tb_name("cancel", queue, sizeof queue);
    struct mq_conn *conn = ts_broker_connect("warren-broker-test");
    struct mq_conn *cconn = ts_broker_connect("warren-broker-test");
    ts_declare_queue(conn, queue, MQ_QUEUE_QUORUM);
    fill(conn, queue, 4);
    struct mq_consumer *consumer = consume(cconn, queue, 2);
    struct mq_delivery *a = next(consumer);
    struct mq_delivery *b = next(consumer);
    struct wr_error err;
    ck_assert_int_eq(mq_consumer_cancel(consumer, &err), WR_OK);
    ack(consumer, a);
    ack(consumer, b);
    /* a quorum queue drops a cancelled consumer once it holds nothing */
    ck_assert_uint_eq(consumers_after(conn, queue, 0), 0);
    expect_nothing(consumer, 300); /* no new deliveries after cancel */
    ck_assert_uint_eq(ts_queue_depth(conn, queue), 2);

    /* resume consumes again on the same channel */
    ck_assert_int_eq(mq_consumer_resume(consumer, &err), WR_OK);
    ack(consumer, next(consumer));
    ack(consumer, next(consumer));
    ck_assert_uint_eq(ts_queue_depth(conn, queue), 0);
    mq_consumer_destroy(consumer);
    ck_assert_int_eq(mq_delete_queue(conn, queue, &err), WR_OK);
    mq_conn_close(cconn);
    mq_conn_close(conn);
}
END_TEST

START_TEST(test_deleted_queue_is_reported)
{
    char queue[128];
    tb_name("deleted", queue, sizeof queue);
    struct mq_conn *conn = ts_broker_connect("warren-broker-test");
    struct mq_conn *cconn = ts_broker_connect("warren-broker-test");
    ts_declare_queue(conn, queue, MQ_QUEUE_CLASSIC);
    struct mq_consumer *consumer = consume(cconn, queue, 1);
    struct wr_error err;
    ck_assert_int_eq(mq_delete_queue(conn, queue, &err), WR_OK);
    struct mq_delivery *d = NULL;
    ck_assert_int_eq(mq_consumer_next(consumer, 5000, &d, &err), WR_ERR_CHANNEL_CLOSED);
    ck_assert_ptr_nonnull(strstr(err.message, "cancelled by the broker"));
    ck_assert(mq_conn_is_open(cconn));
    /* resuming on a queue that is gone: 404, and the connection stays up */
    ck_assert_int_eq(mq_consumer_resume(consumer, &err), WR_ERR_CHANNEL_CLOSED);
    ck_assert_int_eq(err.reply_code, 404);
    ck_assert(mq_conn_is_open(cconn));
    mq_consumer_destroy(consumer);
    mq_conn_close(cconn);
    mq_conn_close(conn);
}
END_TEST

START_TEST(test_stale_delivery_tag_is_refused)
{
    char queue[128];
    tb_name("stale", queue, sizeof queue);
    struct mq_conn *conn = ts_broker_connect("warren-broker-test");
    struct mq_conn *cconn = ts_broker_connect("warren-broker-test");
    ts_declare_queue(conn, queue, MQ_QUEUE_CLASSIC);
    fill(conn, queue, 1);
    struct mq_consumer *consumer = consume(cconn, queue, 1);
    struct mq_delivery *d = next(consumer);
    /* a failing passive declare on the consumer's conn closes its channel */
    struct wr_error err;
    ck_assert_int_eq(mq_queue_inspect(cconn, "wrtest-broker-no-such-queue", NULL, NULL, &err),
                     WR_ERR_NOT_FOUND);
    ck_assert_int_eq(mq_ack(consumer, d->delivery_tag, &err), WR_ERR_CHANNEL_CLOSED);
    ck_assert_int_eq(mq_consumer_next(consumer, 100, &(struct mq_delivery *){NULL}, &err),
                     WR_ERR_CHANNEL_CLOSED);
    mq_delivery_free(d);
    /* after resume the requeued message comes again and can be acked */
    ck_assert_int_eq(mq_consumer_resume(consumer, &err), WR_OK);
    d = next(consumer);
    ck_assert(d->redelivered);
    ack(consumer, d);
    ck_assert_uint_eq(ts_queue_depth(conn, queue), 0);
    mq_consumer_destroy(consumer);
    ck_assert_int_eq(mq_delete_queue(conn, queue, &err), WR_OK);
    mq_conn_close(cconn);
    mq_conn_close(conn);
}
END_TEST

/* Deliveries that arrive while another call waits for its reply are
 * queued inside the connection; when that call closes the channel they
 * are stale (the broker requeues them) and must not surface afterwards. */
START_TEST(test_queued_deliveries_of_a_closed_channel_are_dropped)
{
    enum { COUNT = 3 };
    char queue[128];
    tb_name("queued", queue, sizeof queue);
    struct mq_conn *conn = ts_broker_connect("warren-broker-test");
    struct mq_conn *cconn = ts_broker_connect("warren-broker-test");
    ts_declare_queue(conn, queue, MQ_QUEUE_CLASSIC);
    fill(conn, queue, COUNT);
    struct mq_consumer *consumer = consume(cconn, queue, COUNT);
    nanosleep(&(struct timespec){.tv_nsec = 300000000}, NULL); /* deliveries reach the socket */
    struct wr_error err;
    ck_assert_int_eq(mq_queue_inspect(cconn, "wrtest-broker-no-such-queue", NULL, NULL, &err),
                     WR_ERR_NOT_FOUND);
    ck_assert_int_eq(mq_consumer_resume(consumer, &err), WR_OK);
    for (size_t i = 0; i < COUNT; i++) {
        struct mq_delivery *d = next(consumer);
        ck_assert_msg(d->redelivered, "delivery %zu (%s) came from the closed channel", i,
                      d->message_id);
        ack(consumer, d);
    }
    expect_nothing(consumer, 300);
    ck_assert(mq_conn_is_open(cconn));
    ck_assert_uint_eq(ts_queue_depth(conn, queue), 0);
    mq_consumer_destroy(consumer);
    ck_assert_int_eq(mq_delete_queue(conn, queue, &err), WR_OK);
    mq_conn_close(cconn);
    mq_conn_close(conn);
}
END_TEST

static Suite *consume_suite(void)
{
    Suite *s = suite_create("broker consume");
    TCase *tc = tcase_create("consume");
    tcase_add_unchecked_fixture(tc, tb_setup, tb_teardown);
    tcase_add_test(tc, test_prefetch_nack_ack);
    tcase_add_test(tc, test_cancel_keeps_held_messages_ackable);
    tcase_add_test(tc, test_deleted_queue_is_reported);
    tcase_add_test(tc, test_stale_delivery_tag_is_refused);
    tcase_add_test(tc, test_queued_deliveries_of_a_closed_channel_are_dropped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ts_run_suite(consume_suite());
}
