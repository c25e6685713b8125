/* Derived broker objects: names of retry tiers and dead-letter queues,
 * their x-arguments for quorum and classic queues, bindings, and how
 * attempts map to retry tiers. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/topology/helpers.h"
#include "tests/support/support.h"

START_TEST(test_names)
{
    char name[TOPO_DERIVED_NAME_SIZE];
    ck_assert_int_eq(topo_retry_queue_name("payment", 10000, name, sizeof name), WR_OK);
    ck_assert_str_eq(name, "payment.retry.10s");
    ck_assert_int_eq(topo_retry_queue_name("payment", 600000, name, sizeof name), WR_OK);
    ck_assert_str_eq(name, "payment.retry.10m");
    ck_assert_int_eq(topo_retry_queue_name("payment", 1500, name, sizeof name), WR_OK);
    ck_assert_str_eq(name, "payment.retry.1500ms");
    ck_assert_int_eq(topo_dead_queue_name("payment", name, sizeof name), WR_OK);
    ck_assert_str_eq(name, "payment.dead");
    ck_assert_int_eq(topo_dead_queue_name("payment", name, 12), WR_ERR_INVALID);
}
END_TEST

static void expect_queue(const struct mq_queue_spec *q, const char *name, enum mq_queue_type type,
                         int64_t ttl, const char *dl_key)
{
    ck_assert_str_eq(q->name, name);
    ck_assert_int_eq(q->type, type);
    ck_assert_int_eq(q->message_ttl_ms, ttl);
    ck_assert_int_eq(q->max_length, 0);
    if (!dl_key) {
        ck_assert_ptr_null(q->dead_letter_exchange);
        ck_assert_ptr_null(q->dead_letter_routing_key);
        ck_assert_int_eq(q->dl_strategy, MQ_DL_DEFAULT);
        ck_assert_int_eq(q->overflow, MQ_OVERFLOW_DEFAULT);
        return;
    }
    ck_assert_str_eq(q->dead_letter_exchange, "");
    ck_assert_str_eq(q->dead_letter_routing_key, dl_key);
    bool quorum = type == MQ_QUEUE_QUORUM;
    ck_assert_int_eq(q->dl_strategy, quorum ? MQ_DL_AT_LEAST_ONCE : MQ_DL_DEFAULT);
    ck_assert_int_eq(q->overflow, quorum ? MQ_OVERFLOW_REJECT_PUBLISH : MQ_OVERFLOW_DEFAULT);
}

START_TEST(test_derive_full)
{
    struct topo_model *m = th_load_good("good_full.yaml");
    struct topo_derived d;
    ck_assert_int_eq(topo_derive(m, &d, NULL), WR_OK);

    ck_assert_uint_eq(d.exchange_count, 2);
    ck_assert_str_eq(d.exchanges[1].name, "audit");
    ck_assert_int_eq(d.exchanges[1].type, MQ_EXCHANGE_FANOUT);

    ck_assert_uint_eq(d.queue_count, 6 + 3);
    expect_queue(&d.queues[0], "payment", MQ_QUEUE_QUORUM, 0, "payment.dead");
    expect_queue(&d.queues[1], "payment.retry.1s", MQ_QUEUE_QUORUM, 1000, "payment");
    expect_queue(&d.queues[2], "payment.retry.10s", MQ_QUEUE_QUORUM, 10000, "payment");
    expect_queue(&d.queues[3], "payment.retry.1m", MQ_QUEUE_QUORUM, 60000, "payment");
    expect_queue(&d.queues[4], "payment.retry.10m", MQ_QUEUE_QUORUM, 600000, "payment");
    expect_queue(&d.queues[5], "payment.dead", MQ_QUEUE_QUORUM, 0, NULL);
    expect_queue(&d.queues[6], "reports", MQ_QUEUE_CLASSIC, 0, "reports.dead");
    expect_queue(&d.queues[7], "reports.retry.250ms", MQ_QUEUE_CLASSIC, 250, "reports");
    expect_queue(&d.queues[8], "reports.dead", MQ_QUEUE_CLASSIC, 0, NULL);

    ck_assert_uint_eq(d.binding_count, 2);
    ck_assert_str_eq(d.bindings[0].exchange, "orders");
    ck_assert_str_eq(d.bindings[0].queue, "payment");
    ck_assert_str_eq(d.bindings[0].routing_key, "payment.charge");
    ck_assert_str_eq(d.bindings[1].exchange, "audit");
    ck_assert_str_eq(d.bindings[1].routing_key, "");

    topo_derived_free(&d);
    ck_assert_uint_eq(d.queue_count, 0);
    topo_model_free(m);
}
END_TEST

START_TEST(test_derive_without_retry)
{
    struct topo_model *m = th_load_good("good_minimal.yaml");
    struct topo_derived d;
    ck_assert_int_eq(topo_derive(m, &d, NULL), WR_OK);
    ck_assert_uint_eq(d.queue_count, 2);
    expect_queue(&d.queues[0], "work", MQ_QUEUE_QUORUM, 0, "work.dead");
    expect_queue(&d.queues[1], "work.dead", MQ_QUEUE_QUORUM, 0, NULL);
    ck_assert_uint_eq(d.binding_count, 0);
    topo_derived_free(&d);
    topo_model_free(m);
}
END_TEST

/* Attempt n failing waits in tier min(n, tiers) - 1; the last attempt
 * dead-letters. */
START_TEST(test_retry_tiers)
{
    struct topo_queue q = {.retry_delay_count = 3, .max_attempts = 6};
    ck_assert_int_eq(topo_retry_tier(&q, 0), -1);
    ck_assert_int_eq(topo_retry_tier(&q, 1), 0);
    ck_assert_int_eq(topo_retry_tier(&q, 2), 1);
    ck_assert_int_eq(topo_retry_tier(&q, 3), 2);
    ck_assert_int_eq(topo_retry_tier(&q, 4), 2);
    ck_assert_int_eq(topo_retry_tier(&q, 5), 2);
    ck_assert_int_eq(topo_retry_tier(&q, 6), -1);
    ck_assert_int_eq(topo_retry_tier(&q, 7), -1);
    q.max_attempts = 4;
    ck_assert_int_eq(topo_retry_tier(&q, 3), 2);
    ck_assert_int_eq(topo_retry_tier(&q, 4), -1);
}
END_TEST

static Suite *derive_suite(void)
{
    Suite *suite = suite_create("topology derive");
    TCase *tc = tcase_create("derive");
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_derive_full);
    tcase_add_test(tc, test_derive_without_retry);
    tcase_add_test(tc, test_retry_tiers);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return ts_run_suite(derive_suite());
}
