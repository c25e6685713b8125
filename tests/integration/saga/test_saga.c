/* End-to-end tests of the order saga through HTTP against the real stack:
 * warren-api and a worker per service (two for inventory) on a broker world
 * of their own, the stack's PostgreSQL, SMTP server and stub gateways.
 * Confirmed, out of stock, declined, a flash sale, a worker SIGKILLed in
 * each service's handler, and the SMTP server down for a while. */
#include <check.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/integration/saga/saga.h"
#include "tests/support/db.h"
#include "tests/support/mail.h"
#include "tests/support/stubs.h"
#include "tests/support/support.h"

static struct sg_fleet fleet;

static void setup(void)
{
    ts_reap_tracked(); /* anything an earlier failed test left running */
    sg_fleet_start(&fleet);
}

/* Every process must have finished cleanly: exit 0, no sanitizer report. */
static void teardown(void)
{
    ck_assert_int_eq(sg_fleet_stop(&fleet), 0);
}

/* In the runner, around the tests: the SMTP server is running, and nothing
 * a failed test started is left behind. */
static void runner_setup(void)
{
    ts_track_begin();
    ck_assert_int_eq(ts_run("scripts/stack start smtp >/dev/null"), 0);
}

static void runner_teardown(void)
{
    (void)ts_run("scripts/stack start smtp >/dev/null");
    ts_reap_tracked();
}

/* ---- checks ---------------------------------------------------------------------------- */

static const char *text_of(const json_t *object, const char *key)
{
    return json_string_value(json_object_get(object, key));
}

static json_int_t number_of(const json_t *object, const char *key)
{
    ck_assert_msg(json_is_integer(json_object_get(object, key)), "no integer %s", key);
    return json_integer_value(json_object_get(object, key));
}

/* Asserts order has status (and reason, NULL for none). */
static void assert_status(const json_t *order, const char *status, const char *reason)
{
    ck_assert_str_eq(text_of(order, "status"), status);
    if (reason)
        ck_assert_str_eq(text_of(order, "reason"), reason);
    else
        ck_assert(json_is_null(json_object_get(order, "reason")));
}

/* Asserts line i is quantity x sg_sku(tag) named name at unit_price. */
static void assert_line(const json_t *order, size_t i, const char *tag, const char *name,
                        int quantity, int unit_price)
{
    char sku[128];
    const json_t *line = json_array_get(json_object_get(order, "lines"), i);
    ck_assert_ptr_nonnull(line);
    ck_assert_str_eq(text_of(line, "sku"), sg_sku(&fleet, tag, sku, sizeof sku));
    ck_assert_str_eq(text_of(line, "name"), name);
    ck_assert_int_eq(number_of(line, "quantity"), quantity);
    ck_assert_int_eq(number_of(line, "unit_price"), unit_price);
    ck_assert_int_eq(number_of(line, "line_total"), quantity * unit_price);
}

/* Waits for the one email about order_id and asserts it went to email and
 * says each of parts (NULL-terminated); no second one comes. */
static void assert_one_email(const char *order_id, const char *email, const char *const *parts)
{
    char to[160];
    char *mail = NULL;
    ck_assert_int_eq(ts_mail_wait(order_id, fleet.started_at, 1, 15000, 300), 1);
    ts_mail_count(order_id, fleet.started_at, &mail);
    snprintf(to, sizeof to, "To: %s", email);
    ck_assert_msg(strstr(mail, to), "not to %s:\n%s", email, mail);
    for (size_t i = 0; parts[i]; i++)
        ck_assert_msg(strstr(mail, parts[i]), "'%s' not in:\n%s", parts[i], mail);
    free(mail);
}

/* Asserts the SMS stub got one message about order_id, to the customer, saying part. */
static void assert_one_sms(const char *order_id, const char *part)
{
    ck_assert_int_eq(ts_sms_wait(fleet.sms_stub, order_id, 1, 15000, 300), 1);
    json_t *messages = ts_sms_messages(fleet.sms_stub, order_id);
    const json_t *sms = json_array_get(messages, 0);
    ck_assert_str_eq(text_of(sms, "to"), SG_PHONE);
    ck_assert_msg(strstr(text_of(sms, "body"), part), "'%s' not in: %s", part,
                  text_of(sms, "body"));
    json_decref(messages);
}

/* Posts one order and waits for its final status; returns the order. */
static json_t *place(const char *email, const char *items, const char *token, const char *notify,
                     char order_id[37])
{
    json_t *body = sg_order(&fleet, email, items, token, notify);
    sg_post(&fleet, body, order_id);
    json_decref(body);
    return sg_wait_final(&fleet, order_id, 30000);
}

/* ---- the three outcomes ---------------------------------------------------------------- */

START_TEST(confirmed_order_is_priced_charged_told_and_taken_from_stock)
{
    static const char *const rows[] = {"TEE,\"T-shirt, red\",1299,EUR,10", "MUG,Mug,500,EUR,4",
                                       NULL};
    char email[128], order_id[37], subject[128];
    sg_import(&fleet, rows);
    sg_email("happy", email, sizeof email);
    json_t *order = place(email, "TEE:2 MUG:1", "pm_card_visa", "email sms", order_id);
    assert_status(order, "confirmed", NULL);
    ck_assert_str_eq(text_of(order, "order_id"), order_id);
    ck_assert_str_eq(text_of(order, "currency"), "EUR");
    ck_assert_uint_eq(json_array_size(json_object_get(order, "lines")), 2);
    assert_line(order, 0, "TEE", "T-shirt, red", 2, 1299);
    assert_line(order, 1, "MUG", "Mug", 1, 500);
    ck_assert_int_eq(number_of(order, "total"), 2 * 1299 + 500);
    sg_assert_history(order, "accepted reserved confirmed");
    json_decref(order);
    ck_assert_int_eq(sg_stock(&fleet, "TEE"), 8);
    ck_assert_int_eq(sg_stock(&fleet, "MUG"), 3);
    ck_assert_int_eq(ts_stub_charges_for(fleet.payment_stub, order_id), 1);
    snprintf(subject, sizeof subject, "Subject: Your order %s is confirmed", order_id);
    assert_one_email(order_id, email, (const char *const[]){subject, "EUR 30.98", NULL});
    assert_one_sms(order_id, "is confirmed");
}
END_TEST

START_TEST(out_of_stock_is_rejected_with_the_reason_and_no_stock_taken)
{
    static const char *const rows[] = {"LAST,Last one,999,EUR,1", "PLENTY,Plenty,100,EUR,50", NULL};
    char email[128], order_id[37], sku[128], reason[192];
    sg_import(&fleet, rows);
    sg_email("rejected", email, sizeof email);
    json_t *order = place(email, "PLENTY:1 LAST:2", "pm_card_visa", "email", order_id);
    snprintf(reason, sizeof reason, "out of stock: %s", sg_sku(&fleet, "LAST", sku, sizeof sku));
    assert_status(order, "rejected", reason);
    ck_assert(json_is_null(json_object_get(order, "total")));
    sg_assert_history(order, "accepted rejected");
    json_decref(order);
    ck_assert_int_eq(sg_stock(&fleet, "LAST"), 1);
    ck_assert_int_eq(sg_stock(&fleet, "PLENTY"), 50);
    ck_assert_int_eq(ts_stub_charges_for(fleet.payment_stub, order_id), 0);
    assert_one_email(order_id, email, (const char *const[]){"could not be accepted", reason, NULL});
}
END_TEST

START_TEST(declined_card_is_payment_failed_and_the_stock_released)
{
    static const char *const rows[] = {"SHOE,Shoe,4999,EUR,5", NULL};
    char email[128], order_id[37];
    sg_import(&fleet, rows);
    sg_email("declined", email, sizeof email);
    json_t *order = place(email, "SHOE:3", "pm_card_chargeDeclined", "email", order_id);
    assert_status(order, "payment_failed", "Your card was declined.");
    ck_assert_int_eq(number_of(order, "total"), 3 * 4999);
    sg_assert_history(order, "accepted reserved payment_failed");
    json_decref(order);
    ck_assert_int_eq(sg_wait_stock(&fleet, "SHOE", 5, 10000), 5); /* released */
    ck_assert_int_eq(ts_stub_charges_for(fleet.payment_stub, order_id), 0);
    assert_one_email(order_id, email,
                     (const char *const[]){"Subject: The payment for your order",
                                           "Reason: Your card was declined.", NULL});
}
END_TEST

/* ---- a flash sale ---------------------------------------------------------------------- */

enum { BUYERS = 300, FLASH_STOCK = 50 };

struct buyer {
    pthread_barrier_t *start;
    json_t *order;
    char order_id[37];
    long status;
    char detail[256];
};

static void *buy(void *arg)
{
    struct buyer *b = arg;
    pthread_barrier_wait(b->start);
    b->status = sg_try_post(&fleet, b->order, b->order_id, b->detail, sizeof b->detail);
    return NULL;
}

/* All buyers post at once (a barrier), one HTTP request each; asserts 202s. */
static void rush(struct buyer *buyers)
{
    pthread_t threads[BUYERS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, BUYERS);
    for (int i = 0; i < BUYERS; i++) {
        buyers[i].start = &start;
        ck_assert_int_eq(pthread_create(&threads[i], NULL, buy, &buyers[i]), 0);
    }
    for (int i = 0; i < BUYERS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < BUYERS; i++)
        ck_assert_msg(buyers[i].status == 202, "buyer %d: %ld %s", i, buyers[i].status,
                      buyers[i].detail);
}

/* "{id,id,...}": the buyers' order ids as a PostgreSQL array. The caller frees it. */
static char *id_array(const struct buyer *buyers)
{
    char *text = malloc(BUYERS * 38 + 3);
    size_t used = 0;
    text[used++] = '{';
    for (int i = 0; i < BUYERS; i++)
        used += (size_t)snprintf(text + used, 40, "%s%s", i ? "," : "", buyers[i].order_id);
    snprintf(text + used, 2, "}");
    return text;
}

/* Waits until every buyer's order is final, watching the stock never go
 * below zero; returns the lowest stock seen. */
static long wait_all_final(const struct buyer *buyers)
{
    static const char finals[] = "SELECT count(*) FROM orders WHERE order_id = ANY($1::uuid[])"
                                 " AND status IN ('confirmed', 'rejected', 'payment_failed')";
    char *ids = id_array(buyers);
    long lowest = sg_stock(&fleet, "FLASH"), done = 0;
    for (int waited = 0; waited < 90000; waited += 100) {
        long stock = sg_stock(&fleet, "FLASH");
        lowest = stock < lowest ? stock : lowest;
        if ((done = ts_db_number(fleet.orders, finals, ids, NULL)) == BUYERS)
            break;
        ts_sleep_ms(100);
    }
    free(ids);
    ck_assert_int_eq(done, BUYERS);
    return lowest;
}

/* How many of the buyers' orders GET answers with status. */
static int count_status(const struct buyer *buyers, const char *status)
{
    int count = 0;
    for (int i = 0; i < BUYERS; i++) {
        json_t *order = sg_get(&fleet, buyers[i].order_id);
        count += order && strcmp(text_of(order, "status"), status) == 0;
        json_decref(order);
    }
    return count;
}

START_TEST(flash_sale_of_300_for_50_never_oversells)
{
    static const char *const rows[] = {"FLASH,Flash sneaker,5999,EUR,50", NULL};
    char email[128];
    struct buyer *buyers = calloc(BUYERS, sizeof *buyers);
    sg_import(&fleet, rows);
    long charges = ts_stub_stat(fleet.payment_stub, "charges");
    for (int i = 0; i < BUYERS; i++)
        buyers[i].order = sg_order(&fleet, sg_email("flash", email, sizeof email), "FLASH:1",
                                   "pm_card_visa", "email");
    rush(buyers);
    ck_assert_int_ge(wait_all_final(buyers), 0);
    ck_assert_int_eq(count_status(buyers, "confirmed"), FLASH_STOCK);
    ck_assert_int_eq(count_status(buyers, "rejected"), BUYERS - FLASH_STOCK);
    ck_assert_int_eq(sg_stock(&fleet, "FLASH"), 0);
    ck_assert_int_eq(ts_stub_stat(fleet.payment_stub, "charges") - charges, FLASH_STOCK);
    for (int i = 0; i < BUYERS; i++)
        json_decref(buyers[i].order);
    free(buyers);
}
END_TEST

/* ---- a worker killed in the middle of its handler --------------------------------------- */

static const struct {
    const char *service;
    const char *crash_at;
} crashes[] = {
    {"order", "order:before_commit"},
    {"inventory", "inventory:before_commit"},
    {"payment", "payment:before_commit"},
    {"payment", "payment:after_charge"},
    {"notification", "notification:before_commit"},
    {"notification", "notification:after_email"},
    {"analytics", "analytics:before_commit"},
};

/* Asserts analytics stored each event of order_id once (after its last one). */
static void assert_events_once(const char *order_id)
{
    static const char confirmed[] = "SELECT count(*) FROM events WHERE order_id = $1"
                                    " AND type = 'order.confirmed'";
    static const char repeated[] =
        "SELECT count(*) - count(DISTINCT type) FROM events WHERE order_id = $1";
    struct db_conn *db = ts_db("analytics");
    ck_assert_int_eq(ts_db_wait(db, confirmed, order_id, NULL, 1, 15000), 1);
    ck_assert_int_eq(ts_db_number(db, repeated, order_id, NULL), 0);
    db_close(db);
}

/* Waits for the doomed worker to kill itself at its crash point. */
static void assert_died(pid_t doomed, const char *crash_at)
{
    int wstatus = ts_wait_exit(doomed, 20000);
    if (wstatus == -1)
        ts_stop(doomed, SIGKILL, 1000);
    ck_assert_msg(wstatus != -1 && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL,
                  "the worker did not die at %s", crash_at);
}

START_TEST(worker_killed_mid_handler_leaves_no_duplicate_and_no_stuck_order)
{
    static const char *const rows[] = {"CRASH,Crash test dummy,1500,EUR,10", NULL};
    const char *service = crashes[_i].service, *crash_at = crashes[_i].crash_at;
    char email[128], order_id[37];
    sg_import(&fleet, rows);
    pid_t doomed = sg_fleet_doom(&fleet, service, crash_at);
    json_t *body = sg_order(&fleet, sg_email("crash", email, sizeof email), "CRASH:2",
                            "pm_card_visa", "email");
    sg_post(&fleet, body, order_id);
    json_decref(body);
    assert_died(doomed, crash_at);
    sg_fleet_add(&fleet, service);
    json_t *order = sg_wait_final(&fleet, order_id, 30000);
    assert_status(order, "confirmed", NULL);
    sg_assert_history(order, "accepted reserved confirmed");
    json_decref(order);
    ck_assert_int_eq(ts_db_number(fleet.orders,
                                  "SELECT count(*) FROM orders WHERE order_id = $1::uuid", order_id,
                                  NULL),
                     1);
    ck_assert_int_eq(sg_stock(&fleet, "CRASH"), 8);
    ck_assert_int_eq(ts_stub_charges_for(fleet.payment_stub, order_id), 1);
    ck_assert_int_le(ts_mail_wait(order_id, fleet.started_at, 1, 15000, 500), 1);
    assert_events_once(order_id);
}
END_TEST

/* ---- the SMTP server down -------------------------------------------------------------- */

START_TEST(smtp_down_orders_still_confirmed_and_mailed_once_it_is_back)
{
    static const char *const rows[] = {"CALM,Calm tea,450,EUR,5", NULL};
    static const char failed[] = "SELECT count(*) FROM notifications WHERE order_id = $1"
                                 " AND channel = 'email' AND state = 'failed'";
    char email[128], order_id[37];
    sg_import(&fleet, rows);
    struct db_conn *db = ts_db("notification");
    ck_assert_int_eq(ts_run("scripts/stack stop smtp >/dev/null"), 0);
    json_t *order =
        place(sg_email("outage", email, sizeof email), "CALM:1", "pm_card_visa", "email", order_id);
    assert_status(order, "confirmed", NULL);
    json_decref(order);
    ck_assert_int_eq(ts_db_wait(db, failed, order_id, NULL, 1, 10000), 1);
    ck_assert_int_eq(ts_mail_count(order_id, fleet.started_at, NULL), 0);
    ck_assert_int_eq(ts_run("scripts/stack start smtp >/dev/null"), 0);
    assert_one_email(order_id, email, (const char *const[]){"is confirmed", NULL});
    db_close(db);
}
END_TEST

static Suite *saga_suite(void)
{
    Suite *s = suite_create("saga");
    TCase *tc = tcase_create("end to end");
    tcase_add_unchecked_fixture(tc, runner_setup, runner_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, confirmed_order_is_priced_charged_told_and_taken_from_stock);
    tcase_add_test(tc, out_of_stock_is_rejected_with_the_reason_and_no_stock_taken);
    tcase_add_test(tc, declined_card_is_payment_failed_and_the_stock_released);
    tcase_add_test(tc, flash_sale_of_300_for_50_never_oversells);
    tcase_add_loop_test(tc, worker_killed_mid_handler_leaves_no_duplicate_and_no_stuck_order, 0,
                        (int)(sizeof crashes / sizeof crashes[0]));
    tcase_add_test(tc, smtp_down_orders_still_confirmed_and_mailed_once_it_is_back);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int status = ts_run_suite(saga_suite());
    curl_global_cleanup();
    return status;
}
