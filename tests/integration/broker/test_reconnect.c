/* Integration tests of broker/'s connection upkeep: heartbeats, and
 * reconnect when the local stack's RabbitMQ is stopped under an open
 * publisher and consumer (scripts/stack stop rabbitmq): operations fail
 * with WR_ERR_CONNECTION, and after it starts again mq_conn_reconnect +
 * resume make publishing and consuming work. The reconnect fixture starts
 * the broker again whatever happens in the test. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/integration/broker/helpers.h"
#include "tests/support/support.h"

static void broker_up(void)
{
    ck_assert_int_eq(ts_run("scripts/stack start rabbitmq >/dev/null"), 0);
}

static void fixture_setup(void)
{
    tb_setup();
    if (ts_run("scripts/stack start rabbitmq >/dev/null") != 0)
        fprintf(stderr, "reconnect fixture: could not start rabbitmq\n");
}

/* Runs in check's parent process, so it also runs when the test failed
 * or timed out while the broker was stopped. */
static void fixture_teardown(void)
{
    if (ts_run("scripts/stack start rabbitmq >/dev/null") != 0)
        fprintf(stderr, "reconnect fixture: could not restart rabbitmq\n");
    tb_teardown();
}

struct link {
    struct mq_conn *pconn, *cconn;
    struct mq_publisher *pub;
    struct mq_consumer *consumer;
    struct tb_outcomes *outcomes;
};

static void open_link(struct link *l, const char *queue)
{
    l->pconn = ts_broker_connect("warren-broker-test");
    l->cconn = ts_broker_connect("warren-broker-test");
    ts_declare_queue(l->pconn, queue, MQ_QUEUE_QUORUM);
    l->outcomes = calloc(1, sizeof *l->outcomes);
    struct mq_publisher_options options = {.on_confirm = tb_record_outcome, .user = l->outcomes};
    struct wr_error err;
    l->pub = mq_publisher_create(l->pconn, &options, &err);
    ck_assert_msg(l->pub != NULL, "%s", err.message);
    l->consumer = mq_consumer_create(l->cconn, queue, 10, &err);
    ck_assert_msg(l->consumer != NULL, "%s", err.message);
}

static void close_link(struct link *l)
{
    mq_consumer_destroy(l->consumer);
    mq_publisher_destroy(l->pub);
    mq_conn_close(l->cconn);
    mq_conn_close(l->pconn);
    free(l->outcomes);
}

/* Publishes one message with ctx i, confirms it and consumes it back. */
static void publish_and_consume(struct link *l, const char *queue, size_t i)
{
    char id[32];
    snprintf(id, sizeof id, "rc-%zu", i);
    struct mq_message msg = tb_message("", queue, id);
    tb_publish(l->pub, &msg, i);
    struct wr_error err;
    ck_assert_msg(mq_publisher_flush(l->pub, 10000, &err) == WR_OK, "%s", err.message);
    ck_assert_int_eq(l->outcomes->status[i], WR_OK);
    struct mq_delivery *d = NULL;
    ck_assert_msg(mq_consumer_next(l->consumer, 10000, &d, &err) == WR_OK, "%s", err.message);
    ck_assert_str_eq(d->message_id, id);
    ck_assert_int_eq(mq_ack(l->consumer, d->delivery_tag, &err), WR_OK);
    mq_delivery_free(d);
}

/* With the broker down: every call reports WR_ERR_CONNECTION. */
static void expect_down(struct link *l, const char *queue)
{
    struct wr_error err;
    struct mq_delivery *d = NULL;
    wr_status status;
    /* the consumer first gets what the broker sent before it went away */
    while ((status = mq_consumer_next(l->consumer, 5000, &d, &err)) == WR_OK)
        mq_delivery_free(d);
    ck_assert_int_eq(status, WR_ERR_CONNECTION);
    ck_assert(!mq_conn_is_open(l->cconn));
    ck_assert_int_eq(mq_queue_inspect(l->pconn, queue, NULL, NULL, &err), WR_ERR_CONNECTION);
    ck_assert(!mq_conn_is_open(l->pconn));
    struct mq_message msg = tb_message("", queue, "while-down");
    ck_assert_int_eq(mq_publish(l->pub, &msg, (void *)(uintptr_t)999, &err), WR_ERR_CONNECTION);
    ck_assert_uint_eq(l->outcomes->calls[999], 0); /* refused, so no callback */
    /* a reconnect with a short deadline gives up with WR_ERR_TIMEOUT */
    int64_t start = mq_now_ms();
    ck_assert_int_eq(mq_conn_reconnect(l->pconn, start + 1500, &err), WR_ERR_TIMEOUT);
    ck_assert_int_lt(mq_now_ms() - start, 4000);
}

START_TEST(test_reconnect_after_broker_restart)
{
    enum { BURST = 200 };
    char queue[128];
    tb_name("reconnect", queue, sizeof queue);
    struct link l = {0};
    open_link(&l, queue);
    publish_and_consume(&l, queue, 0);

    /* a burst in flight when the broker goes away: each publish gets
     * exactly one outcome, confirmed or failed with WR_ERR_CONNECTION */
    for (size_t i = 1; i <= BURST; i++) {
        struct mq_message msg = tb_message("", queue, "burst");
        tb_publish(l.pub, &msg, i);
    }
    ck_assert_int_eq(ts_run("scripts/stack stop rabbitmq >/dev/null"), 0);
    expect_down(&l, queue);
    ck_assert_uint_eq(mq_publisher_in_flight(l.pub), 0);
    for (size_t i = 1; i <= BURST; i++) {
        ck_assert_uint_eq(l.outcomes->calls[i], 1);
        ck_assert(l.outcomes->status[i] == WR_OK || l.outcomes->status[i] == WR_ERR_CONNECTION);
    }

    broker_up();
    struct wr_error err;
    ck_assert_msg(mq_conn_reconnect(l.pconn, mq_now_ms() + 60000, &err) == WR_OK, "%s",
                  err.message);
    ck_assert_msg(mq_conn_reconnect(l.cconn, mq_now_ms() + 60000, &err) == WR_OK, "%s",
                  err.message);
    ck_assert_int_eq(mq_publisher_resume(l.pub, &err), WR_OK);
    ck_assert_int_eq(mq_purge_queue(l.pconn, queue, &err), WR_OK); /* confirmed burst survivors */
    ck_assert_int_eq(mq_consumer_resume(l.consumer, &err), WR_OK);
    publish_and_consume(&l, queue, BURST + 1);
    close_link(&l);
    struct mq_conn *conn = ts_broker_connect("warren-broker-test");
    ck_assert_int_eq(mq_delete_queue(conn, queue, &err), WR_OK);
    mq_conn_close(conn);
}
END_TEST

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Heartbeats flow while the connection reads (here: publisher polls), so
 * an idle but polling connection outlives many heartbeat intervals; one
 * that does not read is dropped by the broker. */
START_TEST(test_heartbeats_keep_a_polling_connection)
{
    char queue[128];
    tb_name("heartbeat", queue, sizeof queue);
    struct mq_conn_options options = {.url = ts_broker_url(), .heartbeat_s = 2};
    struct wr_error err;
    struct mq_conn *conn = mq_conn_open(&options, &err);
    ck_assert_msg(conn != NULL, "%s", err.message);
    ts_declare_queue(conn, queue, MQ_QUEUE_CLASSIC);
    struct tb_outcomes *outcomes = calloc(1, sizeof *outcomes);
    struct mq_publisher_options popt = {.on_confirm = tb_record_outcome, .user = outcomes};
    struct mq_publisher *pub = mq_publisher_create(conn, &popt, &err);
    ck_assert_ptr_nonnull(pub);
    for (int64_t end = mq_now_ms() + 6000; mq_now_ms() < end;) /* 3 intervals */
        ck_assert_int_eq(mq_publisher_poll(pub, 200, &err), WR_OK);
    struct mq_message msg = tb_message("", queue, "hb-1");
    tb_publish(pub, &msg, 0);
    ck_assert_int_eq(mq_publisher_flush(pub, 5000, &err), WR_OK);
    ck_assert_int_eq(outcomes->status[0], WR_OK);

    sleep_ms(9000); /* silent: the broker gives up on us after 2 intervals */
    ck_assert_int_eq(mq_publisher_poll(pub, 1000, &err), WR_ERR_CONNECTION);
    ck_assert(!mq_conn_is_open(conn));
    mq_publisher_destroy(pub);
    mq_conn_close(conn);
    struct mq_conn *admin = ts_broker_connect("warren-broker-test");
    ck_assert_int_eq(mq_delete_queue(admin, queue, &err), WR_OK);
    mq_conn_close(admin);
    free(outcomes);
}
END_TEST

static Suite *reconnect_suite(void)
{
    Suite *s = suite_create("broker reconnect");
    TCase *hb = tcase_create("heartbeat");
    tcase_add_unchecked_fixture(hb, tb_setup, tb_teardown);
    tcase_add_test(hb, test_heartbeats_keep_a_polling_connection);
    suite_add_tcase(s, hb);
    TCase *tc = tcase_create("reconnect");
    tcase_add_unchecked_fixture(tc, fixture_setup, fixture_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_reconnect_after_broker_restart);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ts_run_suite(reconnect_suite());
}
