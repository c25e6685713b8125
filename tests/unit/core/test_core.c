/* Unit tests of core/: RFC 3339 timestamps, durations, status names, URL redaction, log
 * lines with fields and their buffering, random identifiers, and the
 * handoff queue between threads. */
#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/duration.h"
#include "core/handoff.h"
#include "core/log.h"
#include "core/random.h"
#include "core/status.h"
#include "tests/support/support.h"

static int compare_uuids(const void *a, const void *b)
{
    return strcmp(a, b);
}

START_TEST(random_uuids_are_version_4_and_distinct)
{
    enum { COUNT = 2000 }; /* about 32 refills of the 1 KiB pool */
    static char ids[COUNT][37];
    for (int i = 0; i < COUNT; i++) {
        wr_random_uuid(ids[i]);
        ck_assert_uint_eq(strlen(ids[i]), 36);
        for (int c = 0; c < 36; c++) {
            if (c == 8 || c == 13 || c == 18 || c == 23)
                ck_assert_int_eq(ids[i][c], '-');
            else
                ck_assert_msg(strchr("0123456789abcdef", ids[i][c]), "%s", ids[i]);
        }
        ck_assert_int_eq(ids[i][14], '4');
        ck_assert_msg(strchr("89ab", ids[i][19]), "variant of %s", ids[i]);
    }
    qsort(ids, COUNT, sizeof ids[0], compare_uuids);
    for (int i = 1; i < COUNT; i++)
        ck_assert_str_ne(ids[i - 1], ids[i]);
}
END_TEST

START_TEST(random_bytes_span_pool_refills)
{
    unsigned char a[3000], b[3000];
    wr_random_bytes(a, sizeof a);
    wr_random_bytes(b, sizeof b);
    ck_assert_int_ne(memcmp(a, b, sizeof a), 0);
    size_t zeros = 0;
    for (size_t i = 0; i < sizeof a; i++)
        zeros += a[i] == 0;
    ck_assert_uint_lt(zeros, 100); /* about 12 expected; a handed-out byte is zeroed */
    char hex[9];
    wr_hex_lower(hex, (const unsigned char *)"\x00\x9f\xa0\xff", 4);
    ck_assert_str_eq(hex, "009fa0ff");
}
END_TEST

START_TEST(buffered_log_lines_are_written_in_order_on_warning_and_stop)
{
    char path[256];
    ts_write_temp("", ".log", path, sizeof path);
    ck_assert_ptr_nonnull(freopen(path, "w", stderr));
    struct wr_error err;
    ck_assert_int_eq(wr_log_buffer_start(60000, &err), WR_OK); /* no timed flush here */
    struct wr_log_field status = {.key = "status", .number = 202};
    wr_log_record("access", "first", &status, 1);
    char *text = ts_read_file(path);
    ck_assert_str_eq(text, ""); /* still in the buffer */
    free(text);
    wr_log_fields(WR_LOG_WARN, "test", "second", NULL, 0);
    text = ts_read_file(path);
    char *first = strstr(text, "\"msg\":\"first\",\"status\":202}");
    char *second = strstr(text, "\"msg\":\"second\"}");
    ck_assert_msg(first && second && first < second, "not both, in order: %s", text);
    free(text);
    wr_log_record("access", "third", NULL, 0);
    wr_log_buffer_stop();
    text = ts_read_file(path);
    unlink(path);
    ck_assert_ptr_nonnull(strstr(text, "\"msg\":\"third\"}"));
    size_t lines = 0;
    for (const char *c = text; *c; c++)
        lines += *c == '\n';
    ck_assert_uint_eq(lines, 3);
    free(text);
}
END_TEST

START_TEST(durations_parse)
{
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {{"250ms", 250}, {"10s", 10000}, {"5m", 300000}, {"1h", 3600000}, {"1ms", 1}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t ms = -1;
        ck_assert_int_eq(wr_duration_parse(good[i].text, &ms), WR_OK);
        ck_assert_int_eq(ms, good[i].ms);
    }
}
END_TEST

START_TEST(durations_reject)
{
    static const char *const bad[] = {"", "10", "s", "-1s", "+1s", "1 s", "0s", "1d",
                                      "1.5s", "721h", "99999999999999999999s", "10S"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        ck_assert_msg(wr_duration_parse(bad[i], &ms) == WR_ERR_INVALID, "accepted '%s'", bad[i]);
        ck_assert_int_eq(ms, 42);
    }
}
END_TEST

START_TEST(durations_format_in_largest_unit)
{
    char out[32];
    wr_duration_format(1000, out, sizeof out);
    ck_assert_str_eq(out, "1s");
    wr_duration_format(90000, out, sizeof out);
    ck_assert_str_eq(out, "90s");
    wr_duration_format(600000, out, sizeof out);
    ck_assert_str_eq(out, "10m");
    wr_duration_format(7200000, out, sizeof out);
    ck_assert_str_eq(out, "2h");
    wr_duration_format(1500, out, sizeof out);
    ck_assert_str_eq(out, "1500ms");
}
END_TEST

START_TEST(redact_hides_password_only)
{
    char out[128];
    wr_redact_url("amqp://user:secret@host:5672/", out, sizeof out);
    ck_assert_str_eq(out, "amqp://user:***@host:5672/");
    wr_redact_url("http://host:15672/api", out, sizeof out);
    ck_assert_str_eq(out, "http://host:15672/api");
    wr_redact_url("amqp://user@host/", out, sizeof out);
    ck_assert_str_eq(out, "amqp://user@host/");
}
END_TEST

START_TEST(error_set_formats_and_returns_code)
{
    struct wr_error err;
    ck_assert_int_eq(wr_error_set(&err, WR_ERR_NACK, "queue %s", "q1"), WR_ERR_NACK);
    ck_assert_int_eq(err.code, WR_ERR_NACK);
    ck_assert_str_eq(err.message, "queue q1");
    ck_assert_str_eq(wr_status_str(WR_ERR_UNROUTABLE), "unroutable");
    wr_error_clear(&err);
    ck_assert_int_eq(err.code, WR_OK);
    ck_assert_str_eq(err.message, "");
}
END_TEST

START_TEST(log_fields_are_keys_of_the_json_line)
{
    char path[256];
    ts_write_temp("", ".log", path, sizeof path);
    ck_assert_ptr_nonnull(freopen(path, "w", stderr));
    struct wr_log_field fields[] = {
        {.key = "service", .text = "pay\"ment"},
        {.key = "consecutive_failures", .number = 5},
    };
    wr_log_fields(WR_LOG_WARN, "runtime", "outage entered", fields, 2);
    wr_log_fields(WR_LOG_DEBUG, "runtime", "below the threshold", fields, 2);
    fflush(stderr);
    char *text = ts_read_file(path);
    unlink(path);
    ck_assert_ptr_nonnull(text);
    json_error_t error;
    json_t *line = json_loads(text, JSON_DISABLE_EOF_CHECK, &error);
    ck_assert_msg(line != NULL, "not JSON: %s", text);
    ck_assert_str_eq(json_string_value(json_object_get(line, "level")), "warn");
    ck_assert_str_eq(json_string_value(json_object_get(line, "msg")), "outage entered");
    ck_assert_str_eq(json_string_value(json_object_get(line, "service")), "pay\"ment");
    ck_assert_int_eq(json_integer_value(json_object_get(line, "consecutive_failures")), 5);
    ck_assert_ptr_null(strstr(text, "below the threshold"));
    json_decref(line);
    free(text);
}
END_TEST

START_TEST(log_fields_that_do_not_fit_are_left_out_whole)
{
    char path[256], big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ts_write_temp("", ".log", path, sizeof path);
    ck_assert_ptr_nonnull(freopen(path, "w", stderr));
    struct wr_log_field fields[] = {
        {.key = "a", .text = big}, {.key = "b", .text = big}, {.key = "n", .number = 1}};
    wr_log_fields(WR_LOG_INFO, "test", "big", fields, 3);
    fflush(stderr);
    char *text = ts_read_file(path);
    unlink(path);
    json_t *line = text ? json_loads(text, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    ck_assert_msg(line != NULL, "not JSON");
    ck_assert_ptr_nonnull(json_object_get(line, "a"));
    ck_assert_ptr_null(json_object_get(line, "b"));
    ck_assert_int_eq(json_integer_value(json_object_get(line, "n")), 1);
    json_decref(line);
    free(text);
}
END_TEST

/* ---- core/handoff ---------------------------------------------------------------- */

struct item {
    int producer, seq;
    struct item *next;
};

enum { PRODUCERS = 4, PER_PRODUCER = 2000 };

struct producer {
    struct wr_handoff *handoff;
    struct item *items;
    int id;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        p->items[i] = (struct item){.producer = p->id, .seq = i};
        ck_assert(wr_handoff_push(p->handoff, &p->items[i]));
    }
    return NULL;
}

START_TEST(handoff_delivers_every_item_once_in_order)
{
    struct wr_handoff handoff;
    struct wr_error err;
    ck_assert_int_eq(wr_handoff_init(&handoff, offsetof(struct item, next), &err), WR_OK);
    static struct item items[PRODUCERS][PER_PRODUCER];
    struct producer producers[PRODUCERS];
    pthread_t threads[PRODUCERS];
    for (int p = 0; p < PRODUCERS; p++) {
        producers[p] = (struct producer){.handoff = &handoff, .items = items[p], .id = p};
        ck_assert_int_eq(pthread_create(&threads[p], NULL, produce, &producers[p]), 0);
    }
    int next_seq[PRODUCERS] = {0}, seen = 0;
    bool stopping = false;
    while (seen < PRODUCERS * PER_PRODUCER) {
        struct item *got = wr_handoff_take(&handoff, &stopping);
        if (!got)
            (void)wr_handoff_wait(&handoff, -1, 1000); /* wakes as soon as one is pushed */
        for (; got; got = got->next, seen++)
            ck_assert_int_eq(got->seq, next_seq[got->producer]++);
    }
    for (int p = 0; p < PRODUCERS; p++)
        ck_assert_int_eq(pthread_join(threads[p], NULL), 0);
    ck_assert_ptr_null(wr_handoff_take(&handoff, &stopping));
    ck_assert(!stopping);

    /* a wait with nothing queued returns when the descriptor is readable */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert(wr_handoff_wait(&handoff, fds[0], 5000) & POLLIN);
    close(fds[0]);
    close(fds[1]);

    /* after stop: the worker hears it, and nothing more is queued */
    wr_handoff_stop(&handoff);
    ck_assert_int_eq(wr_handoff_wait(&handoff, -1, 5000), 0);
    ck_assert_ptr_null(wr_handoff_take(&handoff, &stopping));
    ck_assert(stopping);
    struct item late = {0};
    ck_assert(!wr_handoff_push(&handoff, &late));
    wr_handoff_destroy(&handoff);
}
END_TEST

START_TEST(rfc3339_is_utc_with_milliseconds)
{
    /* twice within a second (the cached date and time), then across the
     * next second: each stamp is the time of its call */
    for (int round = 0; round < 3; round++) {
        char stamp[WR_RFC3339_SIZE];
        time_t before = time(NULL);
        wr_rfc3339_now(stamp);
        time_t after = time(NULL);
        ck_assert_uint_eq(strlen(stamp), 24);
        char expected_before[32], expected_after[32];
        struct tm tm;
        strftime(expected_before, sizeof expected_before, "%Y-%m-%dT%H:%M:%S",
                 gmtime_r(&before, &tm));
        strftime(expected_after, sizeof expected_after, "%Y-%m-%dT%H:%M:%S", gmtime_r(&after, &tm));
        ck_assert_msg(strncmp(stamp, expected_before, 19) == 0 ||
                          strncmp(stamp, expected_after, 19) == 0,
                      "%s against %s", stamp, expected_before);
        ck_assert_int_eq(stamp[19], '.');
        for (int c = 20; c < 23; c++)
            ck_assert_msg(stamp[c] >= '0' && stamp[c] <= '9', "%s", stamp);
        ck_assert_int_eq(stamp[23], 'Z');
        if (round == 1)
            usleep(1000 * 1000);
    }
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, durations_parse);
    tcase_add_test(tc, durations_reject);
    tcase_add_test(tc, rfc3339_is_utc_with_milliseconds);
    tcase_add_test(tc, durations_format_in_largest_unit);
    tcase_add_test(tc, redact_hides_password_only);
    tcase_add_test(tc, error_set_formats_and_returns_code);
    tcase_add_test(tc, log_fields_are_keys_of_the_json_line);
    tcase_add_test(tc, log_fields_that_do_not_fit_are_left_out_whole);
    tcase_add_test(tc, handoff_delivers_every_item_once_in_order);
    tcase_add_test(tc, random_uuids_are_version_4_and_distinct);
    tcase_add_test(tc, random_bytes_span_pool_refills);
    tcase_add_test(tc, buffered_log_lines_are_written_in_order_on_warning_and_stop);
    suite_add_tcase(suite, tc);
    return ts_run_suite(suite);
}
