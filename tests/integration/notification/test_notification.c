/* Integration tests of the notification service: a warren-worker
 * --service notification against the real broker and database, the
 * stack's SMTP server (mail read back from its maildir) and the stub SMS
 * gateway (tests/stubs/sms_gateway.py), each test on a broker world of its
 * own (the real topology's notification queue on a private exchange). One
 * email and one SMS per status,
 * never a second: duplicates, SMTP stopped then back, a worker killed
 * right after the SMTP server accepted, SMS failing while email worked. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "tests/support/broker.h"
#include "tests/support/db.h"
#include "tests/support/mail.h"
#include "tests/support/programs.h"
#include "tests/support/stubs.h"
#include "tests/support/support.h"

static const char phone[] = "+4915112345678";
static struct ts_world world;
static struct db_conn *db;
static char sms_gateway[64];
static pid_t stub_pid;
static time_t started_at;

static void setup(void)
{
    ts_reap_tracked(); /* anything an earlier failed test left running */
    ck_assert_int_eq(ts_run("scripts/stack start smtp >/dev/null"), 0);
    ts_world_create(&world, "notification", NULL);
    setenv("WARREN_LOG_LEVEL", "info", 1);
    db = ts_db("notification");
    stub_pid = ts_stub_start("sms_gateway.py", NULL, sms_gateway, sizeof sms_gateway);
    setenv("WARREN_SMS_GATEWAY_URL", sms_gateway, 1);
    setenv("WARREN_SMS_TIMEOUT", "2s", 1);
    setenv("WARREN_SMTP_TIMEOUT", "5s", 1);
    started_at = time(NULL) - 1;
}

static void teardown(void)
{
    ts_stop(stub_pid, SIGTERM, 5000);
    ts_broker_disconnect();
    ts_world_destroy(&world);
    db_close(db);
}

/* In the runner: the SMTP server is always left running. */
static void restart_smtp(void)
{
    (void)ts_run("scripts/stack start smtp >/dev/null");
    ts_reap_tracked();
}

/* ---- helpers ------------------------------------------------------------------ */

static pid_t start_worker(const char *crash_at)
{
    return ts_worker_start(&world, "notification", crash_at);
}

static void stop_worker(pid_t pid)
{
    ck_assert_int_eq(ts_worker_stop(pid), 0);
}

static void send_summary(const char *type, const char *order_id, json_t *body)
{
    ts_publish(world.prefix, type, order_id, "test-shop", body);
    ts_publish_flush();
}

/* An order summary (docs/MESSAGES.md) for status, with notify channels. */
static json_t *summary(const char *order_id, const char *status, const char *reason,
                       const char *const *notify)
{
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:[{s:s, s:i}],"
                  " s:[{s:s, s:s, s:i, s:i, s:i}], s:i, s:s?}",
                  "order_id", order_id, "status", status, "storefront", "test-shop", "currency",
                  "EUR", "customer", "id", "c-42", "email", "ana@example.com", "phone", phone,
                  "name", "Ana \"%s\" \xf0\x9f\x9b\x92", "items", "sku", "TEE-RED-M", "quantity", 2,
                  "lines", "sku", "TEE-RED-M", "name", "T-shirt red, M", "quantity", 2,
                  "unit_price", 1299, "line_total", 2598, "total", 2598, "reason", reason);
    if (notify) {
        json_t *channels = json_array();
        for (size_t i = 0; notify[i]; i++)
            json_array_append_new(channels, json_string(notify[i]));
        json_object_set_new(body, "notify", channels);
    }
    return body;
}

static void publish(const char *type, const char *order_id, const char *reason,
                    const char *const *notify)
{
    json_t *body = summary(order_id, type + strlen("order."), reason, notify);
    send_summary(type, order_id, body);
    json_decref(body);
}

/* Emails received since the test started that mention order_id; the last
 * one's text goes to *last (caller frees) when last is not NULL. */
static int emails_for(const char *order_id, char **last)
{
    return ts_mail_count(order_id, started_at, last);
}

/* Waits up to wait_ms for want emails, then settle_ms more for extras. */
static int wait_emails(const char *order_id, int want, int wait_ms, int settle_ms)
{
    return ts_mail_wait(order_id, started_at, want, wait_ms, settle_ms);
}

/* SMS at the stub whose body mentions order_id, each to the customer's
 * phone; the last one's body into last (last_size bytes) when last is not
 * NULL. */
static int sms_for(const char *order_id, char *last, size_t last_size)
{
    json_t *messages = ts_sms_messages(sms_gateway, order_id), *m;
    size_t i;
    json_array_foreach(messages, i, m)
    {
        ck_assert_str_eq(json_string_value(json_object_get(m, "to")), phone);
        if (last)
            snprintf(last, last_size, "%s", json_string_value(json_object_get(m, "body")));
    }
    int count = (int)json_array_size(messages);
    json_decref(messages);
    return count;
}

static int wait_sms(const char *order_id, int want, int wait_ms, int settle_ms)
{
    return ts_sms_wait(sms_gateway, order_id, want, wait_ms, settle_ms);
}

/* A column of the (order, channel) marker row ("sends", "attempt", ...). */
static long marker(const char *column, const char *order_id, const char *channel)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT %s FROM notifications WHERE order_id = $1 AND channel = $2",
             column);
    return ts_db_number(db, sql, order_id, channel);
}

/* 1 when the (order, channel) marker is in state (a constant of this file). */
static int marker_is(const char *order_id, const char *channel, const char *state)
{
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM notifications WHERE order_id = $1 AND channel = $2"
             " AND state = '%s'",
             state);
    return (int)ts_db_number(db, sql, order_id, channel);
}

/* ---- tests -------------------------------------------------------------------- */

static const char *const both[] = {"email", "sms", NULL};
static const char *const email_only[] = {"email", NULL};

START_TEST(confirmed_sends_one_email_and_one_sms)
{
    char order_id[37], subject[128], message_id[128], sms[512];
    ts_uuid(order_id);
    pid_t worker = start_worker(NULL);
    publish("order.confirmed", order_id, NULL, both);
    ck_assert_int_eq(wait_emails(order_id, 1, 10000, 0), 1);
    ck_assert_int_eq(wait_sms(order_id, 1, 10000, 0), 1);
    char *mail = NULL;
    emails_for(order_id, &mail);
    snprintf(subject, sizeof subject, "Subject: Your order %s is confirmed", order_id);
    snprintf(message_id, sizeof message_id, "<order-%s.confirmed@warren.localhost>", order_id);
    ck_assert_msg(strstr(mail, subject), "%s", mail);
    ck_assert_msg(strstr(mail, message_id), "%s", mail);
    ck_assert_msg(strstr(mail, "To: ana@example.com"), "%s", mail);
    ck_assert_msg(strstr(mail, "Total: EUR 25.98"), "%s", mail);
    ck_assert_msg(strstr(mail, "2 x T-shirt red, M (TEE-RED-M)  EUR 25.98"), "%s", mail);
    ck_assert_msg(strstr(mail, "Hello Ana \"%s\" =F0=9F=9B=92,"), "%s", mail);
    free(mail);
    sms_for(order_id, sms, sizeof sms);
    ck_assert_msg(strstr(sms, "is confirmed. Total: EUR 25.98"), "%s", sms);
    /* the same message again (a duplicate publish): nothing more */
    publish("order.confirmed", order_id, NULL, both);
    ck_assert_int_eq(wait_emails(order_id, 1, 0, 1500), 1);
    ck_assert_int_eq(sms_for(order_id, NULL, 0), 1);
    ck_assert_int_eq(marker_is(order_id, "email", "sent"), 1);
    ck_assert_int_eq(marker_is(order_id, "sms", "sent"), 1);
    ck_assert_uint_eq(ts_depth(world.queue), 0);
    stop_worker(worker);
}
END_TEST

START_TEST(rejected_and_payment_failed_tell_the_reason)
{
    char rejected[37], failed[37];
    ts_uuid(rejected);
    ts_uuid(failed);
    pid_t worker = start_worker(NULL);
    publish("order.rejected", rejected, "out of stock: TEE-RED-M", NULL); /* notify: default */
    publish("order.payment_failed", failed, "Your card was declined.", email_only);
    ck_assert_int_eq(wait_emails(rejected, 1, 10000, 0), 1);
    ck_assert_int_eq(wait_emails(failed, 1, 10000, 0), 1);
    char *mail = NULL;
    emails_for(rejected, &mail);
    ck_assert_msg(strstr(mail, "could not be accepted"), "%s", mail);
    ck_assert_msg(strstr(mail, "Reason: out of stock: TEE-RED-M"), "%s", mail);
    ck_assert_msg(strstr(mail, "Nothing was charged."), "%s", mail);
    emails_for(failed, &mail);
    ck_assert_msg(strstr(mail, "Subject: The payment for your order"), "%s", mail);
    ck_assert_msg(strstr(mail, "Reason: Your card was declined."), "%s", mail);
    ck_assert_msg(strstr(mail, ".payment_failed@warren.localhost>"), "%s", mail);
    free(mail);
    ck_assert_int_eq(sms_for(rejected, NULL, 0) + sms_for(failed, NULL, 0), 0);
    stop_worker(worker);
}
END_TEST

START_TEST(smtp_down_is_retried_and_sent_once_it_is_back)
{
    char order_id[37];
    ts_uuid(order_id);
    ck_assert_int_eq(ts_run("scripts/stack stop smtp >/dev/null"), 0);
    pid_t worker = start_worker(NULL);
    publish("order.confirmed", order_id, NULL, email_only);
    ck_assert_int_eq(ts_db_wait(db,
                                "SELECT count(*) FROM notifications WHERE order_id = $1"
                                " AND channel = $2 AND state = 'failed'",
                                order_id, "email", 1, 10000),
                     1);
    ck_assert_int_eq(ts_run("scripts/stack start smtp >/dev/null"), 0);
    ck_assert_int_eq(wait_emails(order_id, 1, 20000, 1500), 1);
    ck_assert_int_eq(marker_is(order_id, "email", "sent"), 1);
    ck_assert_int_ge(marker("attempt", order_id, "email"), 2); /* through a retry tier */
    ck_assert_int_ge(marker("sends", order_id, "email"), 2);
    stop_worker(worker);
}
END_TEST

START_TEST(killed_after_email_never_sends_it_twice)
{
    char order_id[37];
    ts_uuid(order_id);
    pid_t doomed = start_worker("notification:after_email");
    publish("order.confirmed", order_id, NULL, both);
    int wstatus = ts_wait_exit(doomed, 15000);
    ck_assert_msg(wstatus != -1 && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL,
                  "the worker did not die after the email");
    ck_assert_int_eq(wait_emails(order_id, 1, 5000, 0), 1);
    pid_t survivor = start_worker(NULL);
    ck_assert_int_eq(wait_sms(order_id, 1, 10000, 1500), 1); /* the SMS still goes out */
    ck_assert_int_eq(emails_for(order_id, NULL), 1);         /* the email does not again */
    ck_assert_int_eq(marker_is(order_id, "email", "unknown"), 1);
    ck_assert_uint_eq(ts_depth(world.queue), 0);
    stop_worker(survivor);
}
END_TEST

START_TEST(sms_failing_is_retried_without_resending_the_email)
{
    char order_id[37];
    ts_uuid(order_id);
    ts_stub_control(sms_gateway, "{\"mode\": \"fail500\", \"times\": 1}");
    pid_t worker = start_worker(NULL);
    publish("order.confirmed", order_id, NULL, both);
    ck_assert_int_eq(wait_sms(order_id, 1, 15000, 1500), 1);
    ck_assert_int_eq(emails_for(order_id, NULL), 1);
    ck_assert_int_eq(marker("attempt", order_id, "sms"), 2);
    ck_assert_int_eq(marker("sends", order_id, "sms"), 2);
    ck_assert_int_eq(marker("sends", order_id, "email"), 1);
    stop_worker(worker);
}
END_TEST

START_TEST(sms_without_a_phone_is_dead_lettered_after_the_email)
{
    char order_id[37];
    ts_uuid(order_id);
    pid_t worker = start_worker(NULL);
    json_t *body = summary(order_id, "confirmed", NULL, both);
    json_object_del(json_object_get(body, "customer"), "phone");
    send_summary("order.confirmed", order_id, body);
    json_decref(body);
    ck_assert_int_eq(wait_emails(order_id, 1, 10000, 0), 1);
    char dead[160];
    ts_world_queue(&world, "notification", ".dead", dead, sizeof dead);
    ck_assert_uint_eq(ts_wait_depth(dead, 1, 5000), 1);
    stop_worker(worker);
}
END_TEST

static Suite *notification_suite(void)
{
    Suite *s = suite_create("notification");
    TCase *tc = tcase_create("service");
    tcase_add_unchecked_fixture(tc, ts_track_begin, restart_smtp);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, confirmed_sends_one_email_and_one_sms);
    tcase_add_test(tc, rejected_and_payment_failed_tell_the_reason);
    tcase_add_test(tc, smtp_down_is_retried_and_sent_once_it_is_back);
    tcase_add_test(tc, killed_after_email_never_sends_it_twice);
    tcase_add_test(tc, sms_failing_is_retried_without_resending_the_email);
    tcase_add_test(tc, sms_without_a_phone_is_dead_lettered_after_the_email);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ts_run_suite(notification_suite());
}
