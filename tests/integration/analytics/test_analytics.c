/* Integration tests of the analytics service and `warrenctl report`
 * against the real stack: a warren-worker --service analytics on a queue
 * bound to "#" of an exchange of its own stores every event once (a
 * duplicate publish counts once, an unknown type is kept), and the report
 * of the test's storefront shows the right statuses, revenue, funnel,
 * reasons and per-minute series, as JSON and as text; bad options exit 2. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/broker.h"
#include "tests/support/ctl.h"
#include "tests/support/db.h"
#include "tests/support/programs.h"
#include "tests/support/support.h"
#include "tests/support/support.h"

static struct ts_world world;
static pid_t worker;
static unsigned consumers;
static char storefront[64];

static void setup(void)
{
    ts_world_create(&world, "analytics", NULL);
    ts_unique_name("it-shop", storefront, sizeof storefront);
    worker = ts_worker_start(&world, "analytics", NULL);
    consumers = ts_wait_consumers(world.queue, 1);
}

static void teardown(void)
{
    int status = ts_worker_stop(worker);
    ts_world_destroy(&world);
    ck_assert_int_eq(status, 0);
}

/* ---- the events of five orders ------------------------------------------------------- */

static void publish(const char *type, const char *order_id, json_t *body)
{
    ts_publish(world.prefix, type, order_id, storefront, body);
    json_decref(body);
}

/* The order summary; total < 0 is null (an order rejected before pricing). */
static json_t *summary(const char *order_id, const char *status, const char *currency,
                       json_int_t total, const char *reason)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s?}", "order_id", order_id, "status", status,
                     "storefront", storefront, "currency", currency, "total",
                     total < 0 ? json_null() : json_integer(total), "reason", reason);
}

static void placed(const char *order_id, const char *currency)
{
    publish("order.placed", order_id,
            json_pack("{s:s, s:s, s:s, s:[{s:s, s:i}]}", "order_id", order_id, "storefront",
                      storefront, "currency", currency, "items", "sku", "TEE-RED-M", "quantity",
                      2));
}

static void reserved(const char *order_id, const char *currency, json_int_t total)
{
    publish("inventory.reserved", order_id,
            json_pack("{s:s, s:s, s:[], s:I}", "order_id", order_id, "currency", currency, "lines",
                      "total", total));
}

/* placed -> reserved -> paid -> confirmed. */
static void confirmed_order(const char *order_id, const char *currency, json_int_t total)
{
    placed(order_id, currency);
    reserved(order_id, currency, total);
    publish("payment.succeeded", order_id,
            json_pack("{s:s, s:s, s:I, s:s}", "order_id", order_id, "payment_intent_id", "pi_1",
                      "amount", total, "currency", currency));
    publish("order.confirmed", order_id, summary(order_id, "confirmed", currency, total, NULL));
}

static void rejected_order(const char *order_id)
{
    placed(order_id, "EUR");
    publish("inventory.rejected", order_id,
            json_pack("{s:s, s:s, s:s}", "order_id", order_id, "reason",
                      "out of stock: FLASH-SNEAKER", "sku", "FLASH-SNEAKER"));
    publish("order.rejected", order_id,
            summary(order_id, "rejected", "EUR", -1, "out of stock: FLASH-SNEAKER"));
}

static void failed_order(const char *order_id)
{
    placed(order_id, "EUR");
    reserved(order_id, "EUR", 1299);
    publish("payment.failed", order_id,
            json_pack("{s:s, s:s, s:s}", "order_id", order_id, "reason", "card declined",
                      "decline_code", "card_declined"));
    publish("order.payment_failed", order_id,
            summary(order_id, "payment_failed", "EUR", 1299, "card declined"));
}

#define EVENTS 17 /* distinct events published by publish_orders() */

/* Five orders: two confirmed (EUR and USD), one rejected, one whose
 * payment failed, one still in progress; two duplicates; an unknown type
 * last (the worker takes them in order, so once it is stored all are). */
static void publish_orders(char ids[5][37])
{
    for (int i = 0; i < 5; i++)
        ts_uuid(ids[i]);
    confirmed_order(ids[0], "EUR", 2598);
    confirmed_order(ids[1], "USD", 1000);
    rejected_order(ids[2]);
    failed_order(ids[3]);
    placed(ids[4], "EUR");
    publish("order.confirmed", ids[0], summary(ids[0], "confirmed", "EUR", 2598, NULL));
    publish("order.rejected", ids[2],
            summary(ids[2], "rejected", "EUR", -1, "out of stock: FLASH-SNEAKER"));
    publish("order.gift_wrapped", ids[4], json_pack("{s:s}", "order_id", ids[4]));
    ts_publish_flush();
}

/* ---- tests ---------------------------------------------------------------------------- */

static json_int_t at(const json_t *object, const char *key)
{
    ck_assert_msg(json_is_integer(json_object_get(object, key)), "no integer %s", key);
    return json_integer_value(json_object_get(object, key));
}

static void assert_reasons(const json_t *reasons, const char *reason)
{
    ck_assert_int_eq(json_array_size(reasons), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(reasons, 0), "reason")),
                     reason);
    ck_assert_int_eq(at(json_array_get(reasons, 0), "count"), 1);
}

static void assert_series(const json_t *series)
{
    json_int_t orders = 0, confirmed = 0, eur = 0, usd = 0;
    size_t i;
    json_t *minute;
    json_array_foreach(series, i, minute)
    {
        orders += at(minute, "orders");
        confirmed += at(minute, "confirmed");
        eur += json_integer_value(json_object_get(json_object_get(minute, "revenue"), "EUR"));
        usd += json_integer_value(json_object_get(json_object_get(minute, "revenue"), "USD"));
        ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(minute, "minute")), ":00Z"));
    }
    ck_assert_int_eq(orders, 5);
    ck_assert_int_eq(confirmed, 2);
    ck_assert_int_eq(eur, 2598);
    ck_assert_int_eq(usd, 1000);
}

static void assert_report(const json_t *report)
{
    const json_t *orders = json_object_get(report, "orders");
    const json_t *funnel = json_object_get(report, "funnel");
    const json_t *revenue = json_object_get(report, "revenue");
    ck_assert_str_eq(json_string_value(json_object_get(report, "storefront")), storefront);
    ck_assert_int_eq(at(orders, "total"), 5);
    ck_assert_int_eq(at(orders, "confirmed"), 2);
    ck_assert_int_eq(at(orders, "rejected"), 1);
    ck_assert_int_eq(at(orders, "payment_failed"), 1);
    ck_assert_int_eq(at(orders, "in_progress"), 1);
    ck_assert_int_eq(json_object_size(revenue), 2);
    ck_assert_int_eq(at(revenue, "EUR"), 2598);
    ck_assert_int_eq(at(revenue, "USD"), 1000);
    ck_assert_int_eq(at(funnel, "placed"), 5);
    ck_assert_int_eq(at(funnel, "reserved"), 3);
    ck_assert_int_eq(at(funnel, "paid"), 2);
    ck_assert_int_eq(at(funnel, "confirmed"), 2);
    assert_reasons(json_object_get(report, "rejection_reasons"), "out of stock: FLASH-SNEAKER");
    assert_reasons(json_object_get(report, "failure_reasons"), "card declined");
    assert_series(json_object_get(report, "per_minute"));
}

START_TEST(test_events_stored_once_and_reported)
{
    char ids[5][37];
    static const char count_events[] = "SELECT count(*) FROM events WHERE storefront = $1";
    struct db_conn *db = ts_db("analytics");
    ck_assert_uint_eq(consumers, 1);
    publish_orders(ids);
    ck_assert_int_eq(ts_db_wait(db,
                                "SELECT count(*) FROM events WHERE order_id = $1"
                                " AND type = 'order.gift_wrapped'",
                                ids[4], NULL, 1, 15000),
                     1);
    ck_assert_int_eq(ts_db_number(db, count_events, storefront, NULL), EVENTS);
    ck_assert_int_eq(ts_db_number(db,
                                  "SELECT amount FROM events WHERE order_id = $1"
                                  " AND type = 'order.confirmed'",
                                  ids[1], NULL),
                     1000);

    const char *const json_args[] = {"report",   "--since", "10m", "--storefront",
                                     storefront, "--json",  NULL};
    struct ts_ctl_run run;
    ts_ctl(&run, json_args);
    ck_assert_msg(run.status == 0, "%s", run.err);
    json_t *report = json_loads(run.out, 0, NULL);
    ck_assert_msg(report != NULL, "not JSON: %s", run.out);
    assert_report(report);
    json_decref(report);
    ts_ctl_free(&run);

    const char *const text_args[] = {"report", "--storefront", storefront, NULL};
    ts_ctl(&run, text_args);
    ck_assert_int_eq(run.status, 0);
    static const char *const parts[] = {
        "Orders by status (5)", "25.98 EUR", "10.00 USD", "out of stock: FLASH-SNEAKER",
        "card declined",        "Funnel",    "per minute"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        ck_assert_msg(strstr(run.out, parts[i]), "'%s' not in:\n%s", parts[i], run.out);
    ts_ctl_free(&run);
    ts_broker_disconnect();
    db_close(db);
}
END_TEST

START_TEST(test_report_window_and_usage)
{
    static const struct {
        const char *args[6];
        int status;
    } cases[] = {
        {{"report", "--since", "2h", "--json", NULL}, 0},
        {{"report", "--since=7d", NULL}, 0},
        {{"report", "--since", "2026-01-01T00:00:00Z", "--json", NULL}, 0},
        {{"report", "--since", "2026-01-01T01:00:00.250+01:00", NULL}, 0},
        {{"report", "--since", "yesterday", NULL}, 2},
        {{"report", "--since", "2026-02-30T00:00:00Z", NULL}, 2},
        {{"report", "--since", "15", NULL}, 2},
        {{"report", "--since", NULL}, 2},
        {{"report", "--bogus", NULL}, 2},
        {{"report", "--help", NULL}, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ts_ctl_run run;
        ts_ctl(&run, cases[i].args);
        ck_assert_msg(run.status == cases[i].status, "case %zu: exit %d, want %d\n%s%s", i,
                      run.status, cases[i].status, run.out, run.err);
        ts_ctl_free(&run);
    }
    /* a window that starts in the future is empty */
    const char *const future[] = {
        "report", "--since", "2099-01-01T00:00:00Z", "--storefront", storefront, "--json", NULL};
    struct ts_ctl_run run;
    ts_ctl(&run, future);
    ck_assert_int_eq(run.status, 0);
    json_t *report = json_loads(run.out, 0, NULL);
    ck_assert_int_eq(at(json_object_get(report, "orders"), "total"), 0);
    ck_assert_int_eq(json_array_size(json_object_get(report, "per_minute")), 0);
    json_decref(report);
    ts_ctl_free(&run);
}
END_TEST

static Suite *analytics_suite(void)
{
    Suite *s = suite_create("analytics");
    TCase *tc = tcase_create("service");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_events_stored_once_and_reported);
    tcase_add_test(tc, test_report_window_and_usage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ts_run_suite(analytics_suite());
}
