/* Integration test of outage mode (workers/outage.c, workers/runtime.c):
 * a warren-worker --service payment against the real broker and database
 * and a stub gateway of its own (tests/stubs/payment_gateway.py) that
 * answers 500 for a while as charges keep arriving. The worker must enter
 * outage mode (its GET /metrics and its log say so), burn no attempts
 * meanwhile (nothing dead-lettered, at most one retry per charge), and,
 * once the gateway recovers, leave outage mode and pay every charge once. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/broker.h"
#include "tests/support/db.h"
#include "tests/support/http.h"
#include "tests/support/programs.h"
#include "tests/support/stubs.h"
#include "tests/support/support.h"

#define THRESHOLD 3

static struct ts_world world;
static struct db_conn *db;
static char gateway[64];
static char metrics_url[64];
static pid_t stub_pid;

static void setup(void)
{
    static const char *const keys[] = {"payment.succeeded", "payment.failed", NULL};
    char value[16];
    ts_reap_tracked(); /* anything an earlier failed test left running */
    ts_world_create(&world, "payment", keys);
    setenv("WARREN_LOG_LEVEL", "info", 1);
    db = ts_db("payment");
    stub_pid = ts_payment_stub_start("1s", gateway, sizeof gateway);
    /* short pauses keep the test in seconds: 200 ms doubling to 800 ms */
    snprintf(value, sizeof value, "%d", THRESHOLD);
    setenv("WARREN_WORKER_OUTAGE_THRESHOLD", value, 1);
    setenv("WARREN_WORKER_OUTAGE_PROBE_MIN", "200ms", 1);
    setenv("WARREN_WORKER_OUTAGE_PROBE_MAX", "800ms", 1);
    int port = ts_free_port();
    snprintf(value, sizeof value, "%d", port);
    setenv("WARREN_WORKER_METRICS_PORT", value, 1);
    snprintf(metrics_url, sizeof metrics_url, "http://127.0.0.1:%d/metrics", port);
}

static void teardown(void)
{
    ts_stop(stub_pid, SIGTERM, 5000);
    ts_broker_disconnect();
    ts_world_destroy(&world);
    db_close(db);
}

/* ---- helpers ------------------------------------------------------------------ */

/* The value of metric name (its first series whose labels contain label,
 * or its first series when label is NULL), or -1 when the worker does not
 * answer or has no such series. */
static long metric(const char *name, const char *label)
{
    struct ts_http_reply reply = {0};
    struct ts_http_request request = {.url = metrics_url};
    long value = -1;
    char prefix[128], line[512];
    snprintf(prefix, sizeof prefix, "\n%s{", name);
    ts_http_send(&request, &reply);
    for (const char *p = reply.status == 200 ? strstr(reply.body, prefix) : NULL; p && value < 0;
         p = strstr(p + 1, prefix)) {
        size_t length = strcspn(p + 1, "\n");
        snprintf(line, sizeof line, "%.*s", (int)length, p + 1);
        const char *close = strstr(line, "} ");
        if (close && (!label || strstr(line, label)))
            value = strtol(close + 2, NULL, 10);
    }
    ts_http_reply_free(&reply);
    return value;
}

/* Polls metric until it equals want or timeout_ms passes; returns the last value. */
static long wait_metric(const char *name, const char *label, long want, int timeout_ms)
{
    long value = metric(name, label);
    for (int waited = 0; value != want && waited < timeout_ms; waited += 50) {
        ts_sleep_ms(50);
        value = metric(name, label);
    }
    return value;
}

static void publish_charge(const char *order_id)
{
    json_t *body =
        json_pack("{s:s, s:i, s:s, s:s, s:{s:s}}", "order_id", order_id, "amount", 1250, "currency",
                  "EUR", "payment_method", "pm_card_visa", "customer", "email", "ana@example.com");
    ts_publish(world.prefix, "payment.charge", order_id, "test-shop", body);
    json_decref(body);
}

static unsigned dead_depth(void)
{
    char dead[160];
    return ts_depth(ts_world_queue(&world, "payment", ".dead", dead, sizeof dead));
}

/* Reads the reader queue until every order in ids has its payment.succeeded
 * (or timeout_ms passes), then settle_ms more; counts them in paid. */
static void collect_paid(char ids[][37], int *paid, size_t count, int timeout_ms, int settle_ms)
{
    size_t done = 0;
    int64_t waited = 0;
    while (waited < timeout_ms + settle_ms && (done < count || waited < timeout_ms)) {
        json_t *message = ts_next_message(world.reader, 200);
        waited += message ? 0 : 200;
        if (!message) {
            if (done == count)
                waited = waited < timeout_ms ? timeout_ms : waited;
            continue;
        }
        const char *type = json_string_value(json_object_get(message, "type"));
        const char *order = json_string_value(json_object_get(message, "order_id"));
        for (size_t i = 0; type && order && i < count; i++) {
            if (strcmp(ids[i], order) == 0) {
                ck_assert_msg(strcmp(type, "payment.succeeded") == 0, "%s for %s", type, order);
                done += paid[i]++ == 0;
            }
        }
        json_decref(message);
    }
}

/* ---- the test ------------------------------------------------------------------- */

START_TEST(outage_is_entered_and_left_without_burning_attempts)
{
    enum { BEFORE = 20, DURING = 10, ALL = BEFORE + DURING };
    char ids[ALL][37], queue[160];
    int paid[ALL] = {0};
    pid_t worker = ts_worker_start(&world, "payment", NULL);
    ts_world_queue(&world, "payment", "", queue, sizeof queue);
    ck_assert_msg(wait_metric("warren_worker_outage", NULL, 0, 15000) == 0, "no metrics at %s",
                  metrics_url);
    ck_assert_uint_eq(ts_wait_consumers(queue, 1), 1);

    /* the gateway fails (500) with charges flowing */
    ts_stub_control(gateway, "{\"mode\": \"fail500\"}");
    for (int i = 0; i < BEFORE; i++) {
        ts_uuid(ids[i]);
        publish_charge(ids[i]);
    }
    ts_publish_flush();
    ck_assert_int_eq(wait_metric("warren_worker_outage", NULL, 1, 10000), 1);
    for (int i = BEFORE; i < ALL; i++) {
        ts_uuid(ids[i]);
        publish_charge(ids[i]);
    }
    ts_publish_flush();
    ts_sleep_ms(3000); /* probes at +200, +400, +800, +800 ms ... all fail */
    ck_assert_int_eq(metric("warren_worker_outage", NULL), 1);
    long probes = metric("warren_worker_outage_probes_total", NULL);
    ck_assert_int_ge(probes, 2);
    ck_assert_int_ge(metric("warren_worker_downstream_failures_consecutive", NULL),
                     THRESHOLD + probes - 1);
    /* one request per probe (and THRESHOLD before): no retry storm */
    long requests = ts_stub_stat(gateway, "requests");
    ck_assert_int_le(requests, THRESHOLD + probes + 1);
    ck_assert_uint_eq(dead_depth(), 0);
    ck_assert_int_eq(metric("warren_worker_messages_total", "outcome=\"dead_lettered\""), 0);
    ck_assert_int_eq(metric("warren_worker_messages_total", "outcome=\"retried\""), THRESHOLD - 1);

    /* the gateway recovers: the next probe succeeds and full speed resumes */
    ts_stub_control(gateway, "{\"mode\": \"approve\"}");
    ck_assert_int_eq(wait_metric("warren_worker_outage", NULL, 0, 5000), 0);
    ck_assert_int_eq(metric("warren_worker_outage_state", "state=\"normal\""), 1);
    collect_paid(ids, paid, ALL, 20000, 1000);
    for (int i = 0; i < ALL; i++) {
        ck_assert_msg(paid[i] == 1, "order %s: %d payment.succeeded", ids[i], paid[i]);
        ck_assert_int_eq(ts_stub_charges_for(gateway, ids[i]), 1);
        ck_assert_int_eq(
            ts_db_number(db, "SELECT count(*) FROM charges WHERE order_id = $1", ids[i], NULL), 1);
        /* at most the one attempt charged before the outage started */
        ck_assert_int_le(
            ts_db_number(db, "SELECT attempt FROM charges WHERE order_id = $1", ids[i], NULL), 2);
    }
    ck_assert_int_eq(ts_stub_stat(gateway, "charges"), ALL);
    ck_assert_uint_eq(dead_depth(), 0);
    ck_assert_int_eq(metric("warren_worker_messages_total", "outcome=\"dead_lettered\""), 0);
    ck_assert_int_eq(metric("warren_worker_outages_total", NULL), 1);
    ck_assert_int_eq(ts_worker_stop(worker), 0);

    ck_assert_msg(
        ts_worker_logs_contain("payment", "\"msg\":\"outage entered\",\"service\":\"payment\""),
        "no outage entered line");
    ck_assert(ts_worker_logs_contain("payment", "\"downstream\":\"payment gateway\""));
    ck_assert(ts_worker_logs_contain("payment", "\"consecutive_failures\":3"));
    ck_assert_msg(ts_worker_logs_contain("payment", "\"msg\":\"outage left\""),
                  "no outage left line");
    /* the gateway key never logged */
    ck_assert(!ts_worker_logs_contain("payment", "sk_test_local"));
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("outage");
    TCase *tc = tcase_create("outage");
    tcase_add_unchecked_fixture(tc, ts_track_begin, ts_reap_tracked);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, outage_is_entered_and_left_without_burning_attempts);
    suite_add_tcase(suite, tc);
    return ts_run_suite(suite);
}
