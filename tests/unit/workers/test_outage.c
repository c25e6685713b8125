/* Unit tests of outage mode's state machine (workers/outage.c) and of the
 * worker metrics that show it (workers/metrics.c): entering after the
 * threshold, probes spaced by a doubling pause up to the cap, leaving on a
 * successful probe, and what neither counts nor resets. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/support.h"
#include "workers/metrics.h"
#include "workers/outage.h"

static const struct wrk_outage_policy policy = {
    .threshold = 3, .probe_min_ms = 1000, .probe_max_ms = 4000};

/* n downstream failures at time now; returns the last change. */
static enum wrk_outage_change failures(struct wrk_outage *o, int n, int64_t now)
{
    enum wrk_outage_change change = WRK_OUTAGE_STAY;
    for (int i = 0; i < n; i++)
        change = wrk_outage_record(o, WRK_OUTAGE_DOWNSTREAM, "payment gateway", now);
    return change;
}

START_TEST(enters_after_threshold_failures_in_a_row)
{
    struct wrk_outage o;
    wrk_outage_init(&o, &policy);
    ck_assert_int_eq(failures(&o, 2, 0), WRK_OUTAGE_STAY);
    ck_assert_int_eq(o.state, WRK_OUTAGE_NONE);
    ck_assert_int_eq(failures(&o, 1, 100), WRK_OUTAGE_ENTER);
    ck_assert_int_eq(o.state, WRK_OUTAGE_PAUSED);
    ck_assert_int_eq(o.consecutive, 3);
    ck_assert_str_eq(o.downstream, "payment gateway");
    ck_assert_int_eq(o.outages, 1);
    ck_assert_int_eq(wrk_outage_wait_ms(&o, 100), 1000);
    ck_assert_int_eq(wrk_outage_wait_ms(&o, 700), 400);
}
END_TEST

START_TEST(a_success_resets_the_count)
{
    struct wrk_outage o;
    wrk_outage_init(&o, &policy);
    failures(&o, 2, 0);
    ck_assert_int_eq(wrk_outage_record(&o, WRK_OUTAGE_SUCCESS, NULL, 0), WRK_OUTAGE_STAY);
    ck_assert_int_eq(o.consecutive, 0);
    ck_assert_int_eq(failures(&o, 2, 0), WRK_OUTAGE_STAY);
    ck_assert_int_eq(o.state, WRK_OUTAGE_NONE);
}
END_TEST

START_TEST(neutral_events_neither_count_nor_reset)
{
    struct wrk_outage o;
    wrk_outage_init(&o, &policy);
    failures(&o, 2, 0);
    ck_assert_int_eq(wrk_outage_record(&o, WRK_OUTAGE_NEUTRAL, NULL, 0), WRK_OUTAGE_STAY);
    ck_assert_int_eq(o.consecutive, 2);
    ck_assert_int_eq(failures(&o, 1, 0), WRK_OUTAGE_ENTER);
}
END_TEST

START_TEST(probes_back_off_doubling_up_to_the_cap)
{
    struct wrk_outage o;
    wrk_outage_init(&o, &policy);
    int64_t now = 0;
    failures(&o, 3, now);
    ck_assert(!wrk_outage_probe_due(&o, now + 999));
    int64_t expected[] = {2000, 4000, 4000, 4000};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        now = o.probe_at_ms;
        ck_assert(wrk_outage_probe_due(&o, now));
        ck_assert_int_eq(o.state, WRK_OUTAGE_PROBING);
        ck_assert_int_eq(wrk_outage_wait_ms(&o, now), -1);
        ck_assert_int_eq(failures(&o, 1, now), WRK_OUTAGE_BACKOFF);
        ck_assert_int_eq(o.state, WRK_OUTAGE_PAUSED);
        ck_assert_int_eq(wrk_outage_wait_ms(&o, now), expected[i]);
    }
    ck_assert_int_eq(o.probes, 4);
    ck_assert_int_eq(o.consecutive, 7);
    ck_assert_int_eq(o.outages, 1);
}
END_TEST

START_TEST(a_successful_probe_leaves)
{
    struct wrk_outage o;
    wrk_outage_init(&o, &policy);
    failures(&o, 3, 0);
    ck_assert(wrk_outage_probe_due(&o, 1000));
    /* a probe that says nothing of the downstream keeps probing */
    ck_assert_int_eq(wrk_outage_record(&o, WRK_OUTAGE_NEUTRAL, NULL, 1100), WRK_OUTAGE_STAY);
    ck_assert_int_eq(o.state, WRK_OUTAGE_PROBING);
    ck_assert_int_eq(wrk_outage_record(&o, WRK_OUTAGE_SUCCESS, NULL, 1200), WRK_OUTAGE_LEAVE);
    ck_assert_int_eq(o.state, WRK_OUTAGE_NONE);
    ck_assert_int_eq(o.consecutive, 0);
    /* a new outage starts over at the shortest pause */
    ck_assert_int_eq(failures(&o, 3, 5000), WRK_OUTAGE_ENTER);
    ck_assert_int_eq(wrk_outage_wait_ms(&o, 5000), 1000);
    ck_assert_int_eq(o.outages, 2);
}
END_TEST

START_TEST(events_while_paused_are_ignored)
{
    struct wrk_outage o;
    wrk_outage_init(&o, &policy);
    failures(&o, 3, 0);
    ck_assert_int_eq(wrk_outage_record(&o, WRK_OUTAGE_SUCCESS, NULL, 10), WRK_OUTAGE_STAY);
    ck_assert_int_eq(failures(&o, 1, 10), WRK_OUTAGE_STAY);
    ck_assert_int_eq(o.state, WRK_OUTAGE_PAUSED);
    ck_assert_int_eq(o.consecutive, 3);
}
END_TEST

START_TEST(threshold_zero_never_enters)
{
    struct wrk_outage o;
    struct wrk_outage_policy off = policy;
    off.threshold = 0;
    wrk_outage_init(&o, &off);
    ck_assert_int_eq(failures(&o, 100, 0), WRK_OUTAGE_STAY);
    ck_assert_int_eq(o.state, WRK_OUTAGE_NONE);
    ck_assert(!wrk_outage_probe_due(&o, 1000000));
}
END_TEST

START_TEST(metrics_show_the_state_and_counts)
{
    struct wrk_outage o;
    wrk_outage_init(&o, &policy);
    struct wrk_metrics *m = wrk_metrics_create("payment", "payment");
    ck_assert_ptr_nonnull(m);
    failures(&o, 3, 0);
    wrk_metrics_outage(m, &o);
    wrk_metrics_count(m, WRK_METRIC_RETRIED);
    wrk_metrics_count(m, WRK_METRIC_RETURNED);
    wrk_metrics_count(m, WRK_METRIC_RETURNED);
    char *text = wrk_metrics_render(m);
    ck_assert_ptr_nonnull(text);
    static const char *const lines[] = {
        "warren_worker_outage{service=\"payment\",queue=\"payment\"} 1\n",
        "warren_worker_outage_state{service=\"payment\",queue=\"payment\",state=\"paused\"} 1\n",
        "warren_worker_outage_state{service=\"payment\",queue=\"payment\",state=\"normal\"} 0\n",
        "warren_worker_downstream_failures_consecutive{service=\"payment\",queue=\"payment\"} 3\n",
        "warren_worker_outages_total{service=\"payment\",queue=\"payment\"} 1\n",
        "warren_worker_messages_total{service=\"payment\",queue=\"payment\",outcome=\"returned\"} "
        "2\n",
        "warren_worker_messages_total{service=\"payment\",queue=\"payment\",outcome=\"retried\"} "
        "1\n",
        "# TYPE warren_worker_outage gauge\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        ck_assert_msg(strstr(text, lines[i]) != NULL, "missing %s in:\n%s", lines[i], text);
    free(text);
    wrk_metrics_destroy(m);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("outage");
    TCase *tc = tcase_create("outage");
    tcase_add_test(tc, enters_after_threshold_failures_in_a_row);
    tcase_add_test(tc, a_success_resets_the_count);
    tcase_add_test(tc, neutral_events_neither_count_nor_reset);
    tcase_add_test(tc, probes_back_off_doubling_up_to_the_cap);
    tcase_add_test(tc, a_successful_probe_leaves);
    tcase_add_test(tc, events_while_paused_are_ignored);
    tcase_add_test(tc, threshold_zero_never_enters);
    tcase_add_test(tc, metrics_show_the_state_and_counts);
    suite_add_tcase(suite, tc);
    return ts_run_suite(suite);
}
