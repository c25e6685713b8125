/* topology/ against the real broker of the local stack: apply creates
 * everything, a second apply creates nothing and the broker's exchanges,
 * queues (with arguments) and bindings read back through the management
 * API are identical; drifted objects are reported with both sides and
 * left alone, including when the broker refuses a declaration with 406. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/integration/topology/helpers.h"
#include "tests/support/support.h"
#include "topology/topology.h"

struct loaded {
    struct topo_model *model;
    struct topo_derived derived;
};

static void load(const char *prefix, int audit_quorum, struct loaded *out)
{
    char text[4096];
    struct topo_diags diags = {0};
    it_topology_text(prefix, audit_quorum, text, sizeof text);
    wr_status status = topo_load_buffer("test.yaml", text, strlen(text), &out->model, &diags);
    topo_diags_print(&diags, stderr);
    ck_assert_int_eq(status, WR_OK);
    topo_diags_free(&diags);
    ck_assert_int_eq(topo_derive(out->model, &out->derived, NULL), WR_OK);
}

static void unload(struct loaded *loaded)
{
    topo_derived_free(&loaded->derived);
    topo_model_free(loaded->model);
}

static void plan_live(const struct loaded *loaded, struct topo_plan *plan)
{
    struct mq_live_state live = {0};
    struct wr_error err = {0};
    ck_assert_msg(mq_live_state_fetch(ts_management_url(), NULL, &live, &err) == WR_OK, "fetch: %s",
                  err.message);
    ck_assert_int_eq(topo_plan_build(&loaded->derived, &live, plan, NULL), WR_OK);
    mq_live_state_free(&live);
}

static char *plan_text(const struct topo_plan *plan)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    topo_plan_print(plan, out, false);
    fclose(out);
    return text;
}

/* The management API may show a declared object a moment later: plan
 * again until nothing is left to create (or 10 s pass). */
static void plan_until_settled(const struct loaded *loaded, struct topo_plan *plan)
{
    for (int tries = 0;; tries++) {
        plan_live(loaded, plan);
        if (plan->counts[TOPO_ACTION_CREATE] == 0 || tries == 100)
            return;
        topo_plan_free(plan);
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
}

static wr_status apply(struct mq_conn *conn, const struct loaded *loaded,
                       const struct topo_plan *plan, struct topo_apply_result *result)
{
    struct wr_error err = {0};
    wr_status status = topo_apply_plan(conn, &loaded->derived, plan, stderr, result, &err);
    if (status != WR_OK)
        fprintf(stderr, "apply: %s\n", err.message);
    return status;
}

START_TEST(test_apply_twice_is_idempotent)
{
    char prefix[64];
    struct loaded loaded;
    struct topo_plan plan;
    struct topo_apply_result result;
    ts_unique_name("topo-idem", prefix, sizeof prefix);
    load(prefix, 0, &loaded);
    struct mq_conn *conn = ts_broker_connect("topology test");

    plan_live(&loaded, &plan);
    ck_assert_uint_eq(plan.counts[TOPO_ACTION_CREATE], IT_TOPOLOGY_OBJECTS);
    ck_assert_int_eq(apply(conn, &loaded, &plan, &result), WR_OK);
    ck_assert_uint_eq(result.created, IT_TOPOLOGY_OBJECTS);
    topo_plan_free(&plan);

    plan_until_settled(&loaded, &plan);
    char *text = plan_text(&plan);
    ck_assert_str_eq(text, "summary: 0 to create, 13 ok, 0 drifted\n");
    free(text);
    char *first = it_snapshot(prefix);
    ck_assert_ptr_nonnull(strstr(first, "-work.retry.10s type=1 durable=1 ttl=10000 dlx= dlrk="));
    ck_assert_int_eq(apply(conn, &loaded, &plan, &result), WR_OK);
    ck_assert_uint_eq(result.created, 0);
    ck_assert_uint_eq(result.present, IT_TOPOLOGY_OBJECTS);
    topo_plan_free(&plan);

    plan_live(&loaded, &plan);
    ck_assert_uint_eq(plan.counts[TOPO_ACTION_CREATE], 0);
    ck_assert_uint_eq(plan.counts[TOPO_ACTION_OK], IT_TOPOLOGY_OBJECTS);
    char *second = it_snapshot(prefix);
    ck_assert_str_eq(first, second);

    free(first);
    free(second);
    topo_plan_free(&plan);
    mq_conn_close(conn);
    it_cleanup(prefix);
    unload(&loaded);
}
END_TEST

/* The audit queue exists as classic; the file now says quorum. */
static void make_drift(const char *prefix, struct mq_conn *conn)
{
    struct loaded classic;
    struct topo_plan plan;
    struct topo_apply_result result;
    load(prefix, 0, &classic);
    plan_live(&classic, &plan);
    ck_assert_int_eq(apply(conn, &classic, &plan, &result), WR_OK);
    topo_plan_free(&plan);
    plan_until_settled(&classic, &plan);
    topo_plan_free(&plan);
    unload(&classic);
}

START_TEST(test_drift_is_reported_and_left_alone)
{
    char prefix[64], line[256];
    struct loaded loaded;
    struct topo_plan plan;
    struct topo_apply_result result;
    ts_unique_name("topo-drift", prefix, sizeof prefix);
    struct mq_conn *conn = ts_broker_connect("topology test");
    make_drift(prefix, conn);
    char *before = it_snapshot(prefix);

    load(prefix, 1, &loaded);
    plan_live(&loaded, &plan);
    ck_assert_uint_eq(plan.counts[TOPO_ACTION_DRIFT], 3); /* audit, its tier, its dead queue */
    ck_assert_uint_eq(plan.counts[TOPO_ACTION_BLOCKED], 0);
    char *text = plan_text(&plan);
    snprintf(line, sizeof line, "drift: queue %s-audit: type: file quorum, broker classic\n",
             prefix);
    ck_assert_msg(strstr(text, line), "no drift line in:\n%s", text);
    snprintf(line, sizeof line,
             "drift: queue %s-audit.retry.250ms: x-dead-letter-strategy: file at-least-once, "
             "broker (not set)\n",
             prefix);
    ck_assert_msg(strstr(text, line), "no drift line in:\n%s", text);
    ck_assert_int_eq(apply(conn, &loaded, &plan, &result), WR_ERR_DRIFT);
    ck_assert_uint_eq(result.drifted, 3);
    ck_assert_uint_eq(result.created, 0);

    char *after = it_snapshot(prefix);
    ck_assert_str_eq(before, after);
    free(text);
    free(before);
    free(after);
    topo_plan_free(&plan);
    mq_conn_close(conn);
    it_cleanup(prefix);
    unload(&loaded);
}
END_TEST

/* A plan made before the objects appeared: the broker answers 406 to the
 * declarations, apply counts them as drift, blocks their bindings, keeps
 * the connection usable and changes nothing. */
START_TEST(test_refused_declaration_is_drift)
{
    char prefix[64], queue[128];
    struct loaded loaded;
    struct topo_plan plan;
    struct topo_apply_result result;
    struct mq_live_state empty = {0};
    ts_unique_name("topo-406", prefix, sizeof prefix);
    struct mq_conn *conn = ts_broker_connect("topology test");
    make_drift(prefix, conn);
    char *before = it_snapshot(prefix);

    load(prefix, 1, &loaded);
    ck_assert_int_eq(topo_plan_build(&loaded.derived, &empty, &plan, NULL), WR_OK);
    ck_assert_int_eq(apply(conn, &loaded, &plan, &result), WR_ERR_DRIFT);
    ck_assert_uint_eq(result.drifted, 3);
    ck_assert_uint_eq(result.blocked, 2); /* both bindings of the audit queue */
    ck_assert_uint_eq(result.created, IT_TOPOLOGY_OBJECTS - 3 - 2);
    ck_assert(mq_conn_is_open(conn));
    snprintf(queue, sizeof queue, "%s-audit", prefix);
    uint32_t messages, consumers;
    ck_assert_int_eq(mq_queue_inspect(conn, queue, &messages, &consumers, NULL), WR_OK);

    char *after = it_snapshot(prefix);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    topo_plan_free(&plan);
    mq_conn_close(conn);
    it_cleanup(prefix);
    unload(&loaded);
}
END_TEST

static Suite *apply_suite(void)
{
    Suite *suite = suite_create("topology apply");
    TCase *tc = tcase_create("apply");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_apply_twice_is_idempotent);
    tcase_add_test(tc, test_drift_is_reported_and_left_alone);
    tcase_add_test(tc, test_refused_declaration_is_drift);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return ts_run_suite(apply_suite());
}
