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

#include "tests/support/broker.h"
#include "tests/support/ctl.h"
#include "tests/support/db.h"
#include "tests/support/programs.h"
#include "tests/support/support.h"

static struct mq_conn *conn;
static struct db_conn *db;
static char reader[96];

static void setup(void)
{
    static const char *const keys[] = {"inventory.reserve", NULL};
    char topology[512];
    ts_ctl_apply_topology(ts_source_path("topology/topology.yaml", topology, sizeof topology));
    conn = ts_broker_connect("warren-worker-test");
    ts_purge(conn, "order");
    ts_purge(conn, "order.dead");
    ts_declare_reader(conn, "orders", ts_unique_name("reader", reader, sizeof reader), keys);
    db = ts_db("order");
}

static void teardown(void)
{
    struct wr_error err;
    ts_broker_disconnect();
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
                     "quantity", 2, "payment", "method", "card", "token", "pm_card_visa", "notify",
                     "email");
}

static const char count_orders[] = "SELECT count(*) FROM orders WHERE order_id = $1::uuid";
static const char count_history[] = "SELECT count(*) FROM order_history WHERE order_id = $1::uuid";

/* Publishes order.placed to the real exchange, as the API does. */
static void publish(const char *order_id, json_t *body)
{
    ts_publish("orders", "order.placed", order_id, "test-shop", body);
    ts_publish_flush();
}

/* Publishes one order to a worker that dies at point, restarts a clean
 * worker, and checks there is one order and one inventory.reserve. */
static void crash_then_recover(const char *point)
{
    char order_id[37], crash_at[64];
    ts_uuid(order_id);
    snprintf(crash_at, sizeof crash_at, "order:%s", point);
    pid_t doomed = ts_worker_start(NULL, "order", crash_at);
    json_t *body = placed(order_id, NULL);
    publish(order_id, body);
    json_decref(body);
    int wstatus = ts_wait_exit(doomed, 15000);
    ck_assert_msg(wstatus != -1 && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL,
                  "the worker did not die at %s", point);
    pid_t survivor = ts_worker_start(NULL, "order", NULL);
    ck_assert_int_eq(ts_count_messages(reader, "inventory.reserve", order_id, 1, 15000, 1500), 1);
    ck_assert_int_eq(ts_db_number(db, count_orders, order_id, NULL), 1);
    ck_assert_int_eq(ts_db_number(db, count_history, order_id, NULL), 1);
    ck_assert_int_eq(ts_worker_stop(survivor), 0);
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
    ts_uuid(order_id);
    ts_unique_name("idem", key, sizeof key);
    pid_t worker = ts_worker_start(NULL, "order", NULL);
    json_t *body = placed(order_id, key);
    publish(order_id, body);
    publish(order_id, body);
    /* another producer re-sent the same key under a new order id */
    char other_id[37];
    ts_uuid(other_id);
    json_object_set_new(body, "order_id", json_string(other_id));
    publish(other_id, body);
    json_decref(body);
    ck_assert_int_eq(ts_count_messages(reader, "inventory.reserve", order_id, 1, 10000, 1500), 1);
    ck_assert_int_eq(ts_db_number(db, count_orders, order_id, NULL), 1);
    ck_assert_int_eq(ts_db_number(db, count_orders, other_id, NULL), 0);
    ck_assert_int_eq(ts_worker_stop(worker), 0);
}
END_TEST

START_TEST(undecodable_message_is_dead_at_once)
{
    char order_id[37];
    ts_uuid(order_id);
    pid_t worker = ts_worker_start(NULL, "order", NULL);
    json_t *not_an_order = json_pack("{s:s}", "order_id", order_id); /* lacks every field */
    publish(order_id, not_an_order);
    json_decref(not_an_order);
    ck_assert_uint_eq(ts_wait_depth("order.dead", 1, 10000), 1);
    ck_assert_int_eq(ts_db_number(db, count_orders, order_id, NULL), 0);
    ck_assert_int_eq(ts_worker_stop(worker), 0);
    struct mq_delivery *d = ts_next_delivery("order.dead", 5000);
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(d->correlation_id, order_id);
    ck_assert_ptr_nonnull(strstr(mq_delivery_header(d, "x-dead-reason")->string, "lacks"));
    ck_assert_str_eq(mq_delivery_header(d, "x-original-routing-key")->string, "order.placed");
    ck_assert_int_eq(mq_delivery_header(d, "x-attempt")->integer, 1);
    mq_delivery_free(d);
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
    return ts_run_suite(suite);
}
