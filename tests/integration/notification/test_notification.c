/* Integration tests of the notification service: a warren-worker
 * --service notification against the real broker and database, the
 * stack's SMTP server (mail read back from its maildir) and the stub SMS
 * gateway (tests/stubs/sms_gateway.py). One email and one SMS per status,
 * never a second: duplicates, SMTP stopped then back, a worker killed
 * right after the SMTP server accepted, SMS failing while email worked. */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/workers/harness.h"
#include "tests/stubs/stubs.h"
#include "tests/support/support.h"

static const char phone[] = "+4915112345678";
static struct mq_conn *conn;
static struct db_conn *db;
static char sms_gateway[64];
static pid_t stub_pid;
static time_t started_at;

static void setup(void)
{
    static const char *const queues[] = {"notification", "notification.retry.1s",
                                         "notification.retry.10s", "notification.dead"};
    stub_reap_tracked(); /* anything an earlier failed test left running */
    ck_assert_int_eq(ts_run("scripts/stack start smtp >/dev/null"), 0);
    th_apply_topology();
    conn = th_broker();
    for (size_t i = 0; i < sizeof queues / sizeof queues[0]; i++)
        th_purge(conn, queues[i]);
    db = th_db("notification");
    stub_pid = stub_start("sms_gateway.py", ts_port(32), NULL, sms_gateway, sizeof sms_gateway);
    setenv("WARREN_SMS_GATEWAY_URL", sms_gateway, 1);
    setenv("WARREN_SMS_TIMEOUT", "2s", 1);
    setenv("WARREN_SMTP_TIMEOUT", "5s", 1);
    started_at = time(NULL) - 1;
}

static void teardown(void)
{
    ts_stop(stub_pid, SIGTERM, 5000);
    mq_conn_close(conn);
    db_close(db);
}

/* In the runner: the SMTP server is always left running. */
static void restart_smtp(void)
{
    (void)ts_run("scripts/stack start smtp >/dev/null");
    stub_reap_tracked();
}

/* ---- helpers ------------------------------------------------------------------ */

static pid_t start_worker(const char *crash_at)
{
    return stub_track(th_start_worker("notification", crash_at));
}

static void stop_worker(pid_t pid)
{
    ck_assert_int_eq(ts_stop(pid, SIGTERM, 10000), 0);
}

static void sleep_ms(int ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&pause, NULL);
}

/* An order summary (docs/MESSAGES.md) for status, with notify channels. */
static json_t *summary(const char *order_id, const char *status, const char *reason,
                       const char *const *notify)
{
    json_t *body = json_pack(
        "{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:[{s:s, s:i}],"
        " s:[{s:s, s:s, s:i, s:i, s:i}], s:i, s:s?}",
        "order_id", order_id, "status", status, "storefront", "test-shop", "currency", "EUR",
        "customer", "id", "c-42", "email", "ana@example.com", "phone", phone, "name",
        "Ana \"%s\" \xf0\x9f\x9b\x92", "items", "sku", "TEE-RED-M", "quantity", 2, "lines",
        "sku", "TEE-RED-M", "name", "T-shirt red, M", "quantity", 2, "unit_price", 1299,
        "line_total", 2598, "total", 2598, "reason", reason);
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
    th_publish(type, order_id, body);
    json_decref(body);
}

/* The stack's maildir of received mail. */
static const char *maildir(char *out, size_t size)
{
    const char *run = getenv("WARREN_RUN_DIR");
    char base[512];
    if (!run || !*run)
        run = ts_source_path("run", base, sizeof base);
    snprintf(out, size, "%s/smtp/maildir/new", run);
    return out;
}

/* Reads a whole (small) file; caller frees. */
static char *slurp(const char *path)
{
    FILE *file = fopen(path, "rb");
    char *text = calloc(1, 65537);
    if (file && text)
        (void)fread(text, 1, 65536, file);
    if (file)
        fclose(file);
    return text;
}

/* Emails received since the test started that mention order_id; the last
 * one's text goes to *last (caller frees) when last is not NULL. */
static int emails_for(const char *order_id, char **last)
{
    char dir[600], path[1200];
    int count = 0;
    DIR *d = opendir(maildir(dir, sizeof dir));
    ck_assert_msg(d != NULL, "no maildir at %s", dir);
    for (struct dirent *e; (e = readdir(d));) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' || stat(path, &st) != 0 || st.st_mtime < started_at)
            continue;
        char *text = slurp(path);
        if (text && strstr(text, order_id)) {
            count++;
            if (last) {
                free(*last);
                *last = text;
                text = NULL;
            }
        }
        free(text);
    }
    closedir(d);
    return count;
}

/* Waits up to wait_ms for want emails, then settle_ms more for extras. */
static int wait_emails(const char *order_id, int want, int wait_ms, int settle_ms)
{
    int count = emails_for(order_id, NULL);
    for (int waited = 0; count < want && waited < wait_ms; waited += 100) {
        sleep_ms(100);
        count = emails_for(order_id, NULL);
    }
    sleep_ms(settle_ms);
    return emails_for(order_id, NULL);
}

/* SMS at the stub whose body mentions order_id; the last one's body into
 * last (last_size bytes) when last is not NULL. */
static int sms_for(const char *order_id, char *last, size_t last_size)
{
    json_t *messages = stub_get(sms_gateway, "/_messages"), *m;
    size_t i;
    int count = 0;
    json_array_foreach(messages, i, m) {
        const char *body = json_string_value(json_object_get(m, "body"));
        if (!body || !strstr(body, order_id))
            continue;
        count++;
        ck_assert_str_eq(json_string_value(json_object_get(m, "to")), phone);
        if (last)
            snprintf(last, last_size, "%s", body);
    }
    json_decref(messages);
    return count;
}

static int wait_sms(const char *order_id, int want, int wait_ms, int settle_ms)
{
    int count = sms_for(order_id, NULL, 0);
    for (int waited = 0; count < want && waited < wait_ms; waited += 100) {
        sleep_ms(100);
        count = sms_for(order_id, NULL, 0);
    }
    sleep_ms(settle_ms);
    return sms_for(order_id, NULL, 0);
}

/* A column of the (order, channel) marker row ("sends", "attempt", ...). */
static long marker(const char *column, const char *order_id, const char *channel)
{
    char sql[256], key[64];
    snprintf(sql, sizeof sql,
             "SELECT %s FROM notifications WHERE order_id = split_part($1, '/', 1)"
             " AND channel = split_part($1, '/', 2)",
             column);
    snprintf(key, sizeof key, "%s/%s", order_id, channel);
    return th_db_number(db, sql, key);
}

/* 1 when the (order, channel) marker is in state. */
static long marker_is(const char *order_id, const char *channel, const char *state)
{
    char key[96];
    snprintf(key, sizeof key, "%s/%s/%s", order_id, channel, state);
    return th_db_number(db,
                        "SELECT count(*) FROM notifications WHERE order_id = split_part($1, '/', 1)"
                        " AND channel = split_part($1, '/', 2) AND state = split_part($1, '/', 3)",
                        key);
}

static unsigned depth(const char *queue)
{
    uint32_t messages = 0;
    struct wr_error err;
    ck_assert_msg(mq_queue_inspect(conn, queue, &messages, NULL, &err) == WR_OK, "%s",
                  err.message);
    return messages;
}

/* ---- tests -------------------------------------------------------------------- */

static const char *const both[] = {"email", "sms", NULL};
static const char *const email_only[] = {"email", NULL};

START_TEST(confirmed_sends_one_email_and_one_sms)
{
    char order_id[37], subject[128], message_id[128], sms[512];
    th_order_id(order_id);
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
    ck_assert_uint_eq(depth("notification"), 0);
    stop_worker(worker);
}
END_TEST

START_TEST(rejected_and_payment_failed_tell_the_reason)
{
    char rejected[37], failed[37];
    th_order_id(rejected);
    th_order_id(failed);
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
    th_order_id(order_id);
    ck_assert_int_eq(ts_run("scripts/stack stop smtp >/dev/null"), 0);
    pid_t worker = start_worker(NULL);
    publish("order.confirmed", order_id, NULL, email_only);
    ck_assert_int_eq(th_db_wait(db,
                                "SELECT count(*) FROM notifications WHERE order_id = $1"
                                " AND state = 'failed'",
                                order_id, 1, 10000),
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
    th_order_id(order_id);
    pid_t doomed = start_worker("notification:after_email");
    publish("order.confirmed", order_id, NULL, both);
    int wstatus = th_wait_exit(doomed, 15000);
    ck_assert_msg(wstatus != -1 && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL,
                  "the worker did not die after the email");
    ck_assert_int_eq(wait_emails(order_id, 1, 5000, 0), 1);
    pid_t survivor = start_worker(NULL);
    ck_assert_int_eq(wait_sms(order_id, 1, 10000, 1500), 1); /* the SMS still goes out */
    ck_assert_int_eq(emails_for(order_id, NULL), 1);       /* the email does not again */
    ck_assert_int_eq(marker_is(order_id, "email", "unknown"), 1);
    ck_assert_uint_eq(depth("notification"), 0);
    stop_worker(survivor);
}
END_TEST

START_TEST(sms_failing_is_retried_without_resending_the_email)
{
    char order_id[37];
    th_order_id(order_id);
    ck_assert_int_eq(stub_post(sms_gateway, "/_control", "{\"mode\": \"fail500\", \"times\": 1}"),
                     200);
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
    th_order_id(order_id);
    pid_t worker = start_worker(NULL);
    json_t *body = summary(order_id, "confirmed", NULL, both);
    json_object_del(json_object_get(body, "customer"), "phone");
    th_publish("order.confirmed", order_id, body);
    json_decref(body);
    ck_assert_int_eq(wait_emails(order_id, 1, 10000, 0), 1);
    for (int waited = 0; depth("notification.dead") == 0 && waited < 5000; waited += 100)
        sleep_ms(100);
    ck_assert_uint_eq(depth("notification.dead"), 1);
    stop_worker(worker);
}
END_TEST

static Suite *notification_suite(void)
{
    Suite *s = suite_create("notification");
    TCase *tc = tcase_create("service");
    tcase_add_unchecked_fixture(tc, stub_tracking_begin, restart_smtp);
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
    SRunner *runner = srunner_create(notification_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
