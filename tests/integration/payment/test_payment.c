/* Integration tests of the payment service: a warren-worker --service
 * payment against the real broker and database and the stub gateway
 * (tests/stubs/payment_gateway.py), each test on a broker world of its own
 * (the real topology's payment queue on a private exchange). Approve,
 * decline, 5xx then recovery and a timeout (retried through the
 * payment.retry.1s tier), a duplicate publish, a worker killed right after
 * the gateway answered, and a rejected API key (dead-lettered at once, the
 * key never in the log). */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/broker.h"
#include "tests/support/db.h"
#include "tests/support/http.h"
#include "tests/support/programs.h"
#include "tests/support/stubs.h"
#include "tests/support/support.h"

static struct ts_world world;
static struct db_conn *db;
static char gateway[64];
static pid_t stub_pid;

static const char charge_status[] = "SELECT status FROM charges WHERE order_id = $1";
static const char charge_attempt[] = "SELECT attempt FROM charges WHERE order_id = $1";
static const char charge_rows[] = "SELECT count(*) FROM charges WHERE order_id = $1";

static void setup(void)
{
    static const char *const keys[] = {"payment.succeeded", "payment.failed", NULL};
    ts_reap_tracked(); /* anything an earlier failed test left running */
    ts_world_create(&world, "payment", keys);
    setenv("WARREN_LOG_LEVEL", "info", 1);
    db = ts_db("payment");
    stub_pid = ts_payment_stub_start("1s", gateway, sizeof gateway);
}

static void teardown(void)
{
    ts_stop(stub_pid, SIGTERM, 5000);
    ts_broker_disconnect();
    ts_world_destroy(&world);
    db_close(db);
}

/* ---- helpers ------------------------------------------------------------------ */

static pid_t start_worker(const char *crash_at)
{
    return ts_worker_start(&world, "payment", crash_at);
}

static void stop_worker(pid_t pid)
{
    ck_assert_int_eq(ts_worker_stop(pid), 0);
}

static void publish_charge(const char *order_id, const char *token)
{
    json_t *body =
        json_pack("{s:s, s:i, s:s, s:s, s:{s:s}}", "order_id", order_id, "amount", 2598, "currency",
                  "EUR", "payment_method", token, "customer", "email", "ana@example.com");
    ts_publish(world.prefix, "payment.charge", order_id, "test-shop", body);
    ts_publish_flush();
    json_decref(body);
}

/* The body of the next answer of type for order_id (others are dropped);
 * NULL if none came within wait_ms. The caller frees it. */
static json_t *next_body(const char *type, const char *order_id, int wait_ms)
{
    return ts_next_body(world.reader, type, order_id, wait_ms);
}

/* Answers of type for order_id: waits up to wait_ms for want, then settle_ms for more. */
static int count_answers(const char *type, const char *order_id, int want, int wait_ms,
                         int settle_ms)
{
    return ts_count_messages(world.reader, type, order_id, want, wait_ms, settle_ms);
}

/* A number from the stub's GET /_stats. */
static long stat_of(const char *name)
{
    return ts_stub_stat(gateway, name);
}

static void control(const char *command)
{
    ts_stub_control(gateway, command);
}

static long number(const char *sql, const char *order_id)
{
    return ts_db_number(db, sql, order_id, NULL);
}

static char *text_of(const char *sql, const char *order_id)
{
    return ts_db_text(db, sql, order_id, NULL);
}

/* Expects one payment.succeeded for order_id with the stub's intent. */
static void expect_paid(const char *order_id)
{
    json_t *body = next_body("payment.succeeded", order_id, 15000);
    ck_assert_msg(body != NULL, "no payment.succeeded for %s", order_id);
    const char *intent = json_string_value(json_object_get(body, "payment_intent_id"));
    ck_assert_ptr_nonnull(intent);
    ck_assert_int_eq(strncmp(intent, "pi_stub", 7), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(body, "amount")), 2598);
    ck_assert_str_eq(json_string_value(json_object_get(body, "currency")), "EUR");
    ck_assert_str_eq(json_string_value(json_object_get(body, "order_id")), order_id);
    json_decref(body);
    char *status = text_of(charge_status, order_id);
    ck_assert_msg(status && strcmp(status, "succeeded") == 0, "charge row: %s", status);
    free(status);
}

/* ---- tests -------------------------------------------------------------------- */

START_TEST(approved_charge_is_paid_and_recorded)
{
    char order_id[37];
    ts_uuid(order_id);
    pid_t worker = start_worker(NULL);
    publish_charge(order_id, "pm_card_visa");
    expect_paid(order_id);
    ck_assert_int_eq(stat_of("charges"), 1);
    ck_assert_int_eq(number(charge_attempt, order_id), 1);
    json_t *stats = ts_http_get_json(gateway, "/_stats");
    json_t *intent = json_array_get(json_object_get(stats, "intents"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(intent, "currency")), "eur");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(intent, "metadata"), "order_id")),
        order_id);
    json_decref(stats);
    stop_worker(worker);
}
END_TEST

START_TEST(declined_card_is_payment_failed_not_an_error)
{
    char order_id[37];
    ts_uuid(order_id);
    pid_t worker = start_worker(NULL);
    publish_charge(order_id, "pm_card_chargeDeclined");
    json_t *body = next_body("payment.failed", order_id, 15000);
    ck_assert_msg(body != NULL, "no payment.failed");
    ck_assert_str_eq(json_string_value(json_object_get(body, "decline_code")), "generic_decline");
    ck_assert_str_eq(json_string_value(json_object_get(body, "reason")), "Your card was declined.");
    json_decref(body);
    char *status = text_of(charge_status, order_id);
    ck_assert_str_eq(status, "declined");
    free(status);
    ck_assert_int_eq(stat_of("charges"), 0);
    ck_assert_int_eq(stat_of("declines"), 1);
    stop_worker(worker);
}
END_TEST

START_TEST(gateway_500_is_retried_then_paid_once)
{
    char order_id[37];
    ts_uuid(order_id);
    control("{\"mode\": \"fail500\", \"times\": 1}");
    pid_t worker = start_worker(NULL);
    publish_charge(order_id, "pm_card_visa");
    expect_paid(order_id);
    ck_assert_int_eq(number(charge_attempt, order_id), 2); /* via payment.retry.1s */
    ck_assert_int_eq(stat_of("requests"), 2);
    ck_assert_int_eq(stat_of("charges"), 1);
    stop_worker(worker);
}
END_TEST

START_TEST(gateway_timeout_is_retried_and_charged_once)
{
    char order_id[37];
    ts_uuid(order_id);
    /* the gateway charges after 1.5 s, the client gives up after 1 s */
    control("{\"mode\": \"timeout\", \"times\": 1, \"delay\": 1.5}");
    pid_t worker = start_worker(NULL);
    publish_charge(order_id, "pm_card_visa");
    expect_paid(order_id);
    ck_assert_int_eq(number(charge_attempt, order_id), 2);
    ck_assert_int_eq(stat_of("charges"), 1); /* the slow first request's charge */
    ck_assert_int_eq(stat_of("replays"), 1); /* the retry got it back by its key */
    stop_worker(worker);
}
END_TEST

START_TEST(duplicate_publish_charges_once)
{
    char order_id[37];
    ts_uuid(order_id);
    publish_charge(order_id, "pm_card_visa");
    publish_charge(order_id, "pm_card_visa");
    pid_t worker = start_worker(NULL);
    ck_assert_int_eq(count_answers("payment.succeeded", order_id, 1, 15000, 1500), 1);
    ck_assert_int_eq(stat_of("requests"), 1);
    ck_assert_int_eq(stat_of("charges"), 1);
    ck_assert_int_eq(number(charge_rows, order_id), 1);
    ck_assert_uint_eq(ts_depth(world.queue), 0);
    stop_worker(worker);
}
END_TEST

START_TEST(killed_after_charge_charges_once)
{
    char order_id[37];
    ts_uuid(order_id);
    pid_t doomed = start_worker("payment:after_charge");
    publish_charge(order_id, "pm_card_visa");
    int wstatus = ts_wait_exit(doomed, 15000);
    ck_assert_msg(wstatus != -1 && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL,
                  "the worker did not die after the charge");
    ck_assert_int_eq(stat_of("charges"), 1);
    ck_assert_int_eq(number(charge_rows, order_id), 0); /* rolled back */
    pid_t survivor = start_worker(NULL);
    ck_assert_int_eq(count_answers("payment.succeeded", order_id, 1, 15000, 1500), 1);
    ck_assert_int_eq(stat_of("charges"), 1);
    ck_assert_int_eq(stat_of("replays"), 1);
    ck_assert_int_eq(number(charge_rows, order_id), 1);
    stop_worker(survivor);
}
END_TEST

START_TEST(rejected_api_key_is_dead_lettered_and_never_logged)
{
    static const char secret[] = "sk_test_wrong_and_secret_123";
    char order_id[37];
    ts_uuid(order_id);
    setenv("WARREN_PAYMENT_API_KEY", secret, 1);
    pid_t worker = start_worker(NULL);
    publish_charge(order_id, "pm_card_visa");
    char dead[160];
    ts_world_queue(&world, "payment", ".dead", dead, sizeof dead);
    ck_assert_uint_eq(ts_wait_depth(dead, 1, 10000), 1); /* at once: no retry tier */
    ck_assert_int_eq(count_answers("payment.failed", order_id, 0, 0, 500), 0);
    ck_assert_int_eq(stat_of("charges"), 0);
    stop_worker(worker);
    ck_assert(ts_worker_logs_contain("payment", "HTTP 401"));
    ck_assert(!ts_worker_logs_contain("payment", secret));
}
END_TEST

static Suite *payment_suite(void)
{
    Suite *s = suite_create("payment");
    TCase *tc = tcase_create("service");
    tcase_add_unchecked_fixture(tc, ts_track_begin, ts_reap_tracked);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, approved_charge_is_paid_and_recorded);
    tcase_add_test(tc, declined_card_is_payment_failed_not_an_error);
    tcase_add_test(tc, gateway_500_is_retried_then_paid_once);
    tcase_add_test(tc, gateway_timeout_is_retried_and_charged_once);
    tcase_add_test(tc, duplicate_publish_charges_once);
    tcase_add_test(tc, killed_after_charge_charges_once);
    tcase_add_test(tc, rejected_api_key_is_dead_lettered_and_never_logged);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ts_run_suite(payment_suite());
}
