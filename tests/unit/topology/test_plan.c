/* Plans against hand-built live broker states: everything to create on an
 * empty broker, nothing on an identical one, and each kind of drift shown
 * with both sides; bindings to drifted queues are blocked; stale tiers and
 * bindings are listed but left alone. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/topology/helpers.h"
#include "tests/support/support.h"

static char *dup(const char *text)
{
    char *copy = text ? strdup(text) : NULL;
    ck_assert(!text || copy);
    return copy;
}

/* A live state holding exactly what d derives (durable, no other args). */
static void live_from(const struct topo_derived *d, struct mq_live_state *live)
{
    memset(live, 0, sizeof *live);
    live->exchanges = calloc(d->exchange_count + 1, sizeof *live->exchanges);
    live->queues = calloc(d->queue_count + 1, sizeof *live->queues);
    live->bindings = calloc(d->binding_count + 4, sizeof *live->bindings);
    ck_assert(live->exchanges && live->queues && live->bindings);
    for (size_t i = 0; i < d->exchange_count; i++) {
        live->exchanges[i].spec =
            (struct mq_exchange_spec){dup(d->exchanges[i].name), d->exchanges[i].type};
        live->exchanges[i].durable = true;
    }
    live->exchange_count = d->exchange_count;
    for (size_t i = 0; i < d->queue_count; i++) {
        struct mq_queue_spec spec = d->queues[i];
        spec.name = dup(spec.name);
        spec.dead_letter_exchange = dup(spec.dead_letter_exchange);
        spec.dead_letter_routing_key = dup(spec.dead_letter_routing_key);
        live->queues[i].spec = spec;
        live->queues[i].durable = true;
    }
    live->queue_count = d->queue_count;
    for (size_t i = 0; i < d->binding_count; i++)
        live->bindings[i] =
            (struct mq_binding_spec){dup(d->bindings[i].exchange), dup(d->bindings[i].queue),
                                     dup(d->bindings[i].routing_key)};
    live->binding_count = d->binding_count;
}

static struct mq_live_queue *find_live_queue(struct mq_live_state *live, const char *name)
{
    for (size_t i = 0; i < live->queue_count; i++) {
        if (strcmp(live->queues[i].spec.name, name) == 0)
            return &live->queues[i];
    }
    ck_abort_msg("no live queue %s", name);
    return NULL;
}

static char *print_plan(const struct topo_plan *plan, bool verbose)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    ck_assert_ptr_nonnull(out);
    topo_plan_print(plan, out, verbose);
    fclose(out);
    return text;
}

struct fixture {
    struct topo_model *model;
    struct topo_derived derived;
    struct mq_live_state live;
    struct topo_plan plan;
};

static void setup_fixture(struct fixture *f, const char *file, bool live_equal)
{
    memset(f, 0, sizeof *f);
    f->model = th_load_good(file);
    ck_assert_int_eq(topo_derive(f->model, &f->derived, NULL), WR_OK);
    if (live_equal)
        live_from(&f->derived, &f->live);
}

static void build_plan(struct fixture *f)
{
    ck_assert_int_eq(topo_plan_build(&f->derived, &f->live, &f->plan, NULL), WR_OK);
}

static void free_fixture(struct fixture *f)
{
    topo_plan_free(&f->plan);
    mq_live_state_free(&f->live);
    topo_derived_free(&f->derived);
    topo_model_free(f->model);
}

START_TEST(test_empty_broker_creates_everything)
{
    struct fixture f;
    setup_fixture(&f, "good_full.yaml", false);
    build_plan(&f);
    ck_assert_uint_eq(f.plan.counts[TOPO_ACTION_CREATE], 2 + 9 + 2);
    ck_assert_uint_eq(f.plan.counts[TOPO_ACTION_OK], 0);
    char *text = print_plan(&f.plan, false);
    ck_assert_str_eq(text,
                     "create: exchange orders (topic)\n"
                     "create: exchange audit (fanout)\n"
                     "create: queue payment (quorum, dead-letters to payment.dead)\n"
                     "create: queue payment.retry.1s (quorum, ttl 1s, dead-letters to payment)\n"
                     "create: queue payment.retry.10s (quorum, ttl 10s, dead-letters to payment)\n"
                     "create: queue payment.retry.1m (quorum, ttl 1m, dead-letters to payment)\n"
                     "create: queue payment.retry.10m (quorum, ttl 10m, dead-letters to payment)\n"
                     "create: queue payment.dead (quorum)\n"
                     "create: queue reports (classic, dead-letters to reports.dead)\n"
                     "create: queue reports.retry.250ms (classic, ttl 250ms, dead-letters to "
                     "reports)\n"
                     "create: queue reports.dead (classic)\n"
                     "create: binding orders -> payment [payment.charge]\n"
                     "create: binding audit -> payment []\n"
                     "summary: 13 to create, 0 ok, 0 drifted\n");
    free(text);
    free_fixture(&f);
}
END_TEST

START_TEST(test_equal_broker_changes_nothing)
{
    struct fixture f;
    setup_fixture(&f, "good_full.yaml", true);
    build_plan(&f);
    ck_assert_uint_eq(f.plan.counts[TOPO_ACTION_OK], 13);
    ck_assert_uint_eq(f.plan.count, 13);
    char *text = print_plan(&f.plan, false);
    ck_assert_str_eq(text, "summary: 0 to create, 13 ok, 0 drifted\n");
    free(text);
    text = print_plan(&f.plan, true);
    ck_assert_ptr_nonnull(strstr(text, "ok: queue payment.retry.10s\n"));
    free(text);
    free_fixture(&f);
}
END_TEST

START_TEST(test_queue_drift_shows_both_sides)
{
    struct fixture f;
    setup_fixture(&f, "good_full.yaml", true);
    struct mq_live_queue *q = find_live_queue(&f.live, "payment.retry.10s");
    q->spec.message_ttl_ms = 5000;
    q = find_live_queue(&f.live, "payment");
    q->spec.type = MQ_QUEUE_CLASSIC;
    free(q->spec.dead_letter_routing_key);
    q->spec.dead_letter_routing_key = NULL;
    q->spec.dl_strategy = MQ_DL_DEFAULT;
    q->spec.overflow = MQ_OVERFLOW_DEFAULT;
    q->spec.max_length = 100;
    q->durable = false;
    q->other_arguments = dup("{\"x-queue-mode\":\"lazy\"}");
    build_plan(&f);
    ck_assert_uint_eq(f.plan.counts[TOPO_ACTION_DRIFT], 2);
    char *text = print_plan(&f.plan, false);
    ck_assert_str_eq(text,
                     "drift: queue payment: type: file quorum, broker classic\n"
                     "drift: queue payment: x-dead-letter-routing-key: file \"payment.dead\", "
                     "broker (not set)\n"
                     "drift: queue payment: x-dead-letter-strategy: file at-least-once, broker "
                     "(not set)\n"
                     "drift: queue payment: x-overflow: file reject-publish, broker (not set)\n"
                     "drift: queue payment: x-max-length: file (not set), broker 100\n"
                     "drift: queue payment: durable: file true, broker false\n"
                     "drift: queue payment: other arguments: file (none), broker "
                     "{\"x-queue-mode\":\"lazy\"}\n"
                     "drift: queue payment.retry.10s: x-message-ttl: file 10000, broker 5000\n"
                     "summary: 0 to create, 11 ok, 2 drifted\n");
    free(text);
    free_fixture(&f);
}
END_TEST

START_TEST(test_exchange_drift)
{
    struct fixture f;
    setup_fixture(&f, "good_full.yaml", true);
    f.live.exchanges[0].spec.type = MQ_EXCHANGE_DIRECT;
    f.live.exchanges[1].durable = false;
    f.live.exchanges[1].auto_delete = true;
    build_plan(&f);
    char *text = print_plan(&f.plan, false);
    ck_assert_str_eq(text, "drift: exchange orders: type: file topic, broker direct\n"
                           "drift: exchange audit: durable: file true, broker false\n"
                           "drift: exchange audit: auto_delete: file false, broker true\n"
                           "summary: 0 to create, 11 ok, 2 drifted\n");
    free(text);
    free_fixture(&f);
}
END_TEST

/* A missing binding to a drifted queue is not created; a missing queue is. */
START_TEST(test_partial_and_blocked)
{
    struct fixture f;
    setup_fixture(&f, "good_full.yaml", true);
    f.live.queues[0].spec.message_ttl_ms = 1;    /* payment drifted */
    mq_queue_spec_clear(&f.live.queues[8].spec); /* reports.dead missing */
    f.live.queues[8].spec.name = dup("unrelated");
    mq_binding_spec_clear(&f.live.bindings[0]); /* orders -> payment missing */
    f.live.bindings[0] = (struct mq_binding_spec){dup("orders"), dup("other"), dup("x")};
    build_plan(&f);
    ck_assert_uint_eq(f.plan.counts[TOPO_ACTION_CREATE], 1);
    ck_assert_uint_eq(f.plan.counts[TOPO_ACTION_BLOCKED], 1);
    ck_assert_uint_eq(f.plan.counts[TOPO_ACTION_DRIFT], 1);
    char *text = print_plan(&f.plan, false);
    ck_assert_str_eq(text, "drift: queue payment: x-message-ttl: file (not set), broker 1\n"
                           "create: queue reports.dead (classic)\n"
                           "blocked: binding orders -> payment [payment.charge] (queue payment has "
                           "drifted)\n"
                           "summary: 1 to create, 10 ok, 1 drifted, 1 blocked\n");
    free(text);
    free_fixture(&f);
}
END_TEST

/* Old tiers and bindings of the file's queues are listed, never removed;
 * anything else on the broker is not mentioned. */
START_TEST(test_not_in_file)
{
    struct fixture f;
    setup_fixture(&f, "good_full.yaml", true);
    size_t n = f.live.binding_count;
    f.live.bindings[n] = (struct mq_binding_spec){dup("orders"), dup("payment"), dup("old.key")};
    f.live.bindings[n + 1] = (struct mq_binding_spec){dup("orders"), dup("elsewhere"), dup("x")};
    f.live.binding_count = n + 2;
    mq_queue_spec_clear(&f.live.queues[7].spec); /* reports.retry.250ms -> an old tier */
    f.live.queues[7].spec.name = dup("reports.retry.5s");
    build_plan(&f);
    char *text = print_plan(&f.plan, false);
    ck_assert_str_eq(text, "create: queue reports.retry.250ms (classic, ttl 250ms, dead-letters to "
                           "reports)\n"
                           "not in file: queue reports.retry.5s (left alone)\n"
                           "not in file: binding orders -> payment [old.key] (left alone)\n"
                           "summary: 1 to create, 12 ok, 0 drifted, 2 not in file\n");
    char summary[128];
    topo_plan_summary(&f.plan, summary, sizeof summary);
    ck_assert_str_eq(summary, "1 to create, 12 ok, 0 drifted, 2 not in file");
    free(text);
    free_fixture(&f);
}
END_TEST

static Suite *plan_suite(void)
{
    Suite *suite = suite_create("topology plan");
    TCase *tc = tcase_create("plan");
    tcase_add_test(tc, test_empty_broker_creates_everything);
    tcase_add_test(tc, test_equal_broker_changes_nothing);
    tcase_add_test(tc, test_queue_drift_shows_both_sides);
    tcase_add_test(tc, test_exchange_drift);
    tcase_add_test(tc, test_partial_and_blocked);
    tcase_add_test(tc, test_not_in_file);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return ts_run_suite(plan_suite());
}
