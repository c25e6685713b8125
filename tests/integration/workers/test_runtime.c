/* Integration tests of the worker runtime with the order service against
 * the real broker and database: a worker killed with SIGKILL at each point
 * of a message's life leaves exactly one order and one next message; a
 * duplicate publish of the same order is one order; an undecodable
 * message is dead-lettered at once. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "tests/integration/workers/harness.h"
#include "tests/support/support.h"

static struct mq_conn *conn;
static struct db_conn *db;
static char reader[96];

static void setup(void)
{
    static const char *const keys[] = {"inventory.reserve", NULL};
    th_apply_topology();
    conn = th_broker();
    th_purge(conn, "order");
    th_purge(conn, "order.dead");
    th_reader(conn, keys, reader, sizeof reader);
    db = th_db("order");
}

static void teardown(void)
{
    struct wr_error err;
    (void)mq_delete_queue(conn, reader, &err);
    mq_conn_close(conn);
    db_close(db);
}

static json_t *placed(const char *order_id, const char *idempotency_key)
{
    return json_pack("{s:s, s:s, s:s?, s:s, s:s, s:{s:s}, s:[{s:s, s:i}], s:{s:s, s:s},"
                     " s:[s]}",
                     "order_id", order_id, "storefront", "test-shop", "idempotency_key",
                     idempotency_key, "placed_at", "2026-11-25T10:00:00.000Z", "currency", "EUR",
                     "customer", "email", "ana@example.com", "items", "sku", "TEE-RED-M",
                     "quantity", 2, "payment", "method", "card", "token", "pm_card_visa",
                     "notify", "email");
}

static const char count_orders[] = "SELECT count(*) FROM orders WHERE order_id = $1::uuid";
static const char count_history[] =
    "SELECT count(*) FROM order_history WHERE order_id = $1::uuid";

/* Publishes one order to a worker that dies at point, restarts a clean
 * worker, and checks there is one order and one inventory.reserve. */
static void crash_then_recover(const char *point)
{
    char order_id[37], crash_at[64];
    th_order_id(order_id);
    snprintf(crash_at, sizeof crash_at, "order:%s", point);
    pid_t doomed = th_start_worker("order", crash_at);
    json_t *body = placed(order_id, NULL);
    th_publish("order.placed", order_id, body);
    json_decref(body);
    int wstatus = th_wait_exit(doomed, 15000);
    ck_assert_msg(wstatus != -1 && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL,
                  "the worker did not die at %s", point);
    pid_t survivor = th_start_worker("order", NULL);
    ck_assert_int_eq(th_count(reader, "inventory.reserve", order_id, 1, 15000, 1500), 1);
    ck_assert_int_eq(th_db_number(db, count_orders, order_id), 1);
    ck_assert_int_eq(th_db_number(db, count_history, order_id), 1);
    ck_assert_int_eq(ts_stop(survivor, SIGTERM, 10000), 0);
    uint32_t left = 99, consumers = 99;
    struct wr_error err;
    ck_assert_int_eq(mq_queue_inspect(conn, "order", &left, &consumers, &err), WR_OK);
    ck_assert_int_eq(left, 0); /* acked: nothing redelivered, nothing stuck */
}

START_TEST(killed_before_commit)
{
    crash_then_recover("before_commit");
}
END_TEST

START_TEST(killed_after_commit_before_publish)
{
    crash_then_recover("after_commit");
}
END_TEST

START_TEST(killed_after_publish_before_ack)
{
    crash_then_recover("after_publish");
}
END_TEST

START_TEST(duplicate_publish_is_one_order)
{
    char order_id[37], key[64];
    th_order_id(order_id);
    ts_unique_name("idem", key, sizeof key);
    pid_t worker = th_start_worker("order", NULL);
    json_t *body = placed(order_id, key);
    th_publish("order.placed", order_id, body);
    th_publish("order.placed", order_id, body);
    /* another producer re-sent the same key under a new order id */
    char other_id[37];
    th_order_id(other_id);
    json_object_set_new(body, "order_id", json_string(other_id));
    th_publish("order.placed", other_id, body);
    json_decref(body);
    ck_assert_int_eq(th_count(reader, "inventory.reserve", order_id, 1, 10000, 1500), 1);
    ck_assert_int_eq(th_db_number(db, count_orders, order_id), 1);
    ck_assert_int_eq(th_db_number(db, count_orders, other_id), 0);
    ck_assert_int_eq(ts_stop(worker, SIGTERM, 10000), 0);
}
END_TEST

START_TEST(undecodable_message_is_dead_at_once)
{
    char order_id[37];
    th_order_id(order_id);
    pid_t worker = th_start_worker("order", NULL);
    json_t *not_an_order = json_pack("{s:s}", "order_id", order_id); /* lacks every field */
    th_publish("order.placed", order_id, not_an_order);
    json_decref(not_an_order);
    uint32_t dead = 0;
    struct wr_error err;
    for (int i = 0; i < 100 && dead == 0; i++) {
        ck_assert_int_eq(mq_queue_inspect(conn, "order.dead", &dead, NULL, &err), WR_OK);
        if (dead == 0) {
            struct timespec pause = {.tv_nsec = 100000000};
            nanosleep(&pause, NULL);
        }
    }
    ck_assert_int_eq(dead, 1);
    ck_assert_int_eq(th_db_number(db, count_orders, order_id), 0);
    ck_assert_int_eq(ts_stop(worker, SIGTERM, 10000), 0);
    struct mq_consumer *consumer = mq_consumer_create(conn, "order.dead", 1, &err);
    struct mq_delivery *d = NULL;
    ck_assert_int_eq(mq_consumer_next(consumer, 5000, &d, &err), WR_OK);
    ck_assert_str_eq(d->correlation_id, order_id);
    ck_assert_ptr_nonnull(strstr(mq_delivery_header(d, "x-dead-reason")->string, "lacks"));
    ck_assert_str_eq(mq_delivery_header(d, "x-original-routing-key")->string, "order.placed");
    ck_assert_int_eq(mq_delivery_header(d, "x-attempt")->integer, 1);
    ck_assert_int_eq(mq_ack(consumer, d->delivery_tag, &err), WR_OK);
    mq_delivery_free(d);
    mq_consumer_destroy(consumer);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("runtime");
    TCase *tc = tcase_create("order");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, killed_before_commit);
    tcase_add_test(tc, killed_after_commit_before_publish);
    tcase_add_test(tc, killed_after_publish_before_ack);
    tcase_add_test(tc, duplicate_publish_is_one_order);
    tcase_add_test(tc, undecodable_message_is_dead_at_once);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
