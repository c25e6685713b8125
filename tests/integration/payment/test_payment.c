/* Integration tests of the payment service: a warren-worker --service
 * payment against the real broker and database and the stub gateway
 * (tests/stubs/payment_gateway.py), each test on a broker world of its own
 * (the real topology's payment queue on a private exchange). Approve,
 * decline, 5xx then recovery and a timeout (retried through the
 * payment.retry.1s tier), a duplicate publish, a worker killed right after
 * the gateway answered, and a rejected API key (dead-lettered at once, the
 * key never in the log). */
#include <check.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/inventory/harness.h"
#include "tests/stubs/stubs.h"
#include "tests/support/support.h"

static struct ih_world world;
static struct db_conn *db;
static char gateway[64];
static pid_t stub_pid;

static const char charge_status[] = "SELECT status FROM charges WHERE order_id = $1";
static const char charge_attempt[] = "SELECT attempt FROM charges WHERE order_id = $1";
static const char charge_rows[] = "SELECT count(*) FROM charges WHERE order_id = $1";

static void setup(void)
{
    static const char *const keys[] = {"payment.succeeded", "payment.failed", NULL};
    char url[256];
    stub_reap_tracked(); /* anything an earlier failed test left running */
    ih_world_create(&world, "payment", keys);
    setenv("WARREN_DATABASE_PAYMENT_URL", ts_db_url("payment", url, sizeof url), 1);
    setenv("WARREN_LOG_LEVEL", "info", 1);
    db = ih_db("payment");
    stub_pid = stub_start("payment_gateway.py", NULL, gateway, sizeof gateway);
    setenv("WARREN_PAYMENT_GATEWAY_URL", gateway, 1);
    setenv("WARREN_PAYMENT_TIMEOUT", "1s", 1);
    unsetenv("WARREN_PAYMENT_API_KEY");
}

static void teardown(void)
{
    ts_stop(stub_pid, SIGTERM, 5000);
    ih_disconnect();
    ih_world_destroy(&world);
    db_close(db);
}

/* ---- helpers ------------------------------------------------------------------ */

static pid_t start_worker(const char *crash_at)
{
    if (crash_at)
        setenv("WARREN_CRASH_AT", crash_at, 1);
    pid_t pid = stub_track(ih_start_worker(&world, "payment"));
    unsetenv("WARREN_CRASH_AT");
    return pid;
}

static void stop_worker(pid_t pid)
{
    ck_assert_int_eq(ih_stop_worker(pid), 0);
}

static void publish_charge(const char *order_id, const char *token)
{
    json_t *body =
        json_pack("{s:s, s:i, s:s, s:s, s:{s:s}}", "order_id", order_id, "amount", 2598, "currency",
                  "EUR", "payment_method", token, "customer", "email", "ana@example.com");
    ih_publish(&world, "payment.charge", order_id, "test-shop", body);
    ih_flush();
    json_decref(body);
}

/* The body of the next answer of type for order_id (others are dropped);
 * NULL if none came within wait_ms. The caller frees it. */
static json_t *next_body(const char *type, const char *order_id, int wait_ms)
{
    json_t *body = NULL, *answer;
    for (int waited = 0; !body && waited < wait_ms; waited += 100) {
        if (!(answer = ih_next_answer(&world, 100)))
            continue;
        if (strcmp(json_string_value(json_object_get(answer, "type")), type) == 0 &&
            strcmp(json_string_value(json_object_get(answer, "order_id")), order_id) == 0)
            body = json_incref(json_object_get(answer, "body"));
        json_decref(answer);
    }
    return body;
}

/* Answers of type for order_id: waits up to wait_ms for want, then settle_ms for more. */
static int count_answers(const char *type, const char *order_id, int want, int wait_ms,
                         int settle_ms)
{
    int count = 0;
    json_t *body;
    while (count < want && (body = next_body(type, order_id, wait_ms))) {
        count++;
        json_decref(body);
    }
    while ((body = next_body(type, order_id, settle_ms))) {
        count++;
        json_decref(body);
    }
    return count;
}

/* A number from the stub's GET /_stats. */
static long stat_of(const char *name)
{
    json_t *stats = stub_get(gateway, "/_stats");
    long value = (long)json_integer_value(json_object_get(stats, name));
    json_decref(stats);
    return value;
}

static void control(const char *command)
{
    ck_assert_int_eq(stub_post(gateway, "/_control", command), 200);
}

static long number(const char *sql, const char *order_id)
{
    return ih_db_number(db, sql, order_id, NULL);
}

static char *text_of(const char *sql, const char *order_id)
{
    struct db_result *res = NULL;
    struct wr_error err;
    const char *params[] = {order_id};
    ck_assert_msg(db_exec(db, sql, 1, params, &res, &err) == WR_OK, "%s", err.message);
    const char *value = db_result_rows(res) ? db_result_value(res, 0, 0) : NULL;
    char *copy = value ? strdup(value) : NULL;
    db_result_free(res);
    return copy;
}

static unsigned depth_of(const char *suffix)
{
    char queue[160];
    snprintf(queue, sizeof queue, "%s%s", world.queue, suffix);
    return ih_depth(queue);
}

/* Waits up to timeout_ms for pid to exit by itself: its wait status, or -1. */
static int wait_exit(pid_t pid, int timeout_ms)
{
    int wstatus;
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        if (waitpid(pid, &wstatus, WNOHANG) == pid)
            return wstatus;
        ih_sleep_ms(20);
    }
    return -1;
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
    ih_uuid(order_id);
    pid_t worker = start_worker(NULL);
    publish_charge(order_id, "pm_card_visa");
    expect_paid(order_id);
    ck_assert_int_eq(stat_of("charges"), 1);
    ck_assert_int_eq(number(charge_attempt, order_id), 1);
    json_t *stats = stub_get(gateway, "/_stats");
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
    ih_uuid(order_id);
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
    ih_uuid(order_id);
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
    ih_uuid(order_id);
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
    ih_uuid(order_id);
    publish_charge(order_id, "pm_card_visa");
    publish_charge(order_id, "pm_card_visa");
    pid_t worker = start_worker(NULL);
    ck_assert_int_eq(count_answers("payment.succeeded", order_id, 1, 15000, 1500), 1);
    ck_assert_int_eq(stat_of("requests"), 1);
    ck_assert_int_eq(stat_of("charges"), 1);
    ck_assert_int_eq(number(charge_rows, order_id), 1);
    ck_assert_uint_eq(depth_of(""), 0);
    stop_worker(worker);
}
END_TEST

START_TEST(killed_after_charge_charges_once)
{
    char order_id[37];
    ih_uuid(order_id);
    pid_t doomed = start_worker("payment:after_charge");
    publish_charge(order_id, "pm_card_visa");
    int wstatus = wait_exit(doomed, 15000);
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

/* True when any log of this test's payment workers contains needle. */
static int worker_logs_contain(const char *needle)
{
    char pattern[128], line[4096];
    int found = 0;
    glob_t logs;
    snprintf(pattern, sizeof pattern, "/tmp/warren-it-payment-%d-*.log", (int)getpid());
    if (glob(pattern, 0, NULL, &logs) != 0)
        return 0;
    for (size_t i = 0; i < logs.gl_pathc && !found; i++) {
        FILE *file = fopen(logs.gl_pathv[i], "r");
        while (file && !found && fgets(line, sizeof line, file))
            found = strstr(line, needle) != NULL;
        if (file)
            fclose(file);
    }
    globfree(&logs);
    return found;
}

START_TEST(rejected_api_key_is_dead_lettered_and_never_logged)
{
    static const char secret[] = "sk_test_wrong_and_secret_123";
    char order_id[37];
    ih_uuid(order_id);
    setenv("WARREN_PAYMENT_API_KEY", secret, 1);
    pid_t worker = start_worker(NULL);
    publish_charge(order_id, "pm_card_visa");
    unsigned dead = 0;
    for (int waited = 0; (dead = depth_of(".dead")) == 0 && waited < 10000; waited += 100)
        ih_sleep_ms(100);
    ck_assert_uint_eq(dead, 1); /* at once: no retry tier */
    ck_assert_int_eq(count_answers("payment.failed", order_id, 0, 0, 500), 0);
    ck_assert_int_eq(stat_of("charges"), 0);
    stop_worker(worker);
    ck_assert(worker_logs_contain("HTTP 401"));
    ck_assert(!worker_logs_contain(secret));
}
END_TEST

static Suite *payment_suite(void)
{
    Suite *s = suite_create("payment");
    TCase *tc = tcase_create("service");
    tcase_add_unchecked_fixture(tc, stub_tracking_begin, stub_reap_tracked);
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
    SRunner *runner = srunner_create(payment_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
