/* Parsing topology files into the model: good files and their values,
 * defaults, anchors, positions, the shipped topology/topology.yaml, and
 * input the YAML reader itself rejects (bad UTF-8, NUL, deep nesting). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/support.h"
#include "tests/unit/topology/helpers.h"

static wr_status load_text(const char *text, size_t size, struct topo_diags *diags)
{
    struct topo_model *model = NULL;
    wr_status status = topo_load_buffer("inline.yaml", text, size, &model, diags);
    topo_model_free(model);
    return status;
}

/* Asserts that text gives exactly one diagnostic, "LINE:COLUMN: message". */
static void expect_one(const char *text, size_t size, const char *expected)
{
    struct topo_diags diags = {0};
    char line[1200];
    ck_assert_int_eq(load_text(text, size, &diags), WR_ERR_TOPOLOGY);
    ck_assert_uint_eq(diags.count, 1);
    snprintf(line, sizeof line, "%d:%d: %s", diags.items[0].line, diags.items[0].column,
             diags.items[0].message);
    ck_assert_str_eq(line, expected);
    topo_diags_free(&diags);
}

START_TEST(test_full_file)
{
    struct topo_model *m = th_load_good("good_full.yaml");
    ck_assert_uint_eq(m->exchange_count, 2);
    ck_assert_str_eq(m->exchanges[0].name, "orders");
    ck_assert_int_eq(m->exchanges[0].type, MQ_EXCHANGE_TOPIC);
    ck_assert_int_eq(m->exchanges[0].pos.line, 3);
    ck_assert_int_eq(m->exchanges[0].pos.column, 11);
    ck_assert_str_eq(m->exchanges[1].name, "audit");
    ck_assert_int_eq(m->exchanges[1].type, MQ_EXCHANGE_FANOUT);

    ck_assert_uint_eq(m->queue_count, 2);
    const struct topo_queue *q = &m->queues[0];
    ck_assert_str_eq(q->name, "payment");
    ck_assert_int_eq(q->type, MQ_QUEUE_QUORUM);
    ck_assert_int_eq(q->service, TOPO_SERVICE_PAYMENT);
    ck_assert_int_eq(q->workers, 2);
    ck_assert_int_eq(q->prefetch, 50);
    ck_assert_uint_eq(q->retry_delay_count, 4);
    ck_assert_int_eq(q->retry_delays_ms[0], 1000);
    ck_assert_int_eq(q->retry_delays_ms[1], 10000);
    ck_assert_int_eq(q->retry_delays_ms[2], 60000);
    ck_assert_int_eq(q->retry_delays_ms[3], 600000);
    ck_assert_int_eq(q->max_attempts, 5);
    ck_assert_uint_eq(q->binding_count, 2);
    ck_assert_str_eq(q->bindings[0].exchange, "orders");
    ck_assert_str_eq(q->bindings[0].routing_key, "payment.charge");
    ck_assert_int_eq(q->bindings[0].pos.line, 14);
    ck_assert_int_eq(q->bindings[0].pos.column, 20);
    ck_assert_str_eq(q->bindings[1].exchange, "audit");
    ck_assert_str_eq(q->bindings[1].routing_key, "");

    q = &m->queues[1];
    ck_assert_str_eq(q->name, "reports");
    ck_assert_int_eq(q->type, MQ_QUEUE_CLASSIC);
    ck_assert_int_eq(q->service, TOPO_SERVICE_ANALYTICS);
    ck_assert_int_eq(q->workers, 0);
    ck_assert_int_eq(q->prefetch, 65535);
    ck_assert_uint_eq(q->retry_delay_count, 1);
    ck_assert_int_eq(q->retry_delays_ms[0], 250);
    ck_assert_int_eq(q->max_attempts, 7);
    ck_assert_ptr_eq(topo_model_find_queue(m, "reports"), q);
    ck_assert_ptr_null(topo_model_find_queue(m, "nope"));
    topo_model_free(m);
}
END_TEST

START_TEST(test_defaults)
{
    struct topo_model *m = th_load_good("good_minimal.yaml");
    ck_assert_uint_eq(m->exchange_count, 0);
    ck_assert_uint_eq(m->queue_count, 1);
    const struct topo_queue *q = &m->queues[0];
    ck_assert_int_eq(q->type, MQ_QUEUE_QUORUM);
    ck_assert_int_eq(q->workers, 1);
    ck_assert_int_eq(q->prefetch, 50);
    ck_assert_uint_eq(q->retry_delay_count, 0);
    ck_assert_int_eq(q->max_attempts, 1);
    ck_assert_uint_eq(q->binding_count, 0);
    ck_assert_int_eq(topo_retry_tier(q, 1), -1);
    topo_model_free(m);
}
END_TEST

START_TEST(test_anchors_share_a_policy)
{
    struct topo_model *m = th_load_good("good_anchors.yaml");
    for (size_t i = 0; i < 2; i++) {
        ck_assert_uint_eq(m->queues[i].retry_delay_count, 2);
        ck_assert_int_eq(m->queues[i].retry_delays_ms[1], 60000);
        ck_assert_int_eq(m->queues[i].max_attempts, 3); /* default: one per delay + 1 */
    }
    topo_model_free(m);
}
END_TEST

START_TEST(test_shipped_topology)
{
    char path[1024];
    struct topo_diags diags = {0};
    struct topo_model *m = NULL;
    wr_status status =
        topo_load_file(ts_source_path("topology/topology.yaml", path, sizeof path), &m, &diags);
    topo_diags_print(&diags, stderr);
    ck_assert_int_eq(status, WR_OK);
    ck_assert_uint_eq(m->exchange_count, 1);
    ck_assert_uint_eq(m->queue_count, 5);
    const struct topo_queue *payment = topo_model_find_queue(m, "payment");
    ck_assert_ptr_nonnull(payment);
    ck_assert_int_eq(payment->service, TOPO_SERVICE_PAYMENT);
    ck_assert_uint_eq(payment->retry_delay_count, 4);
    ck_assert_int_eq(payment->max_attempts, 5);
    const struct topo_queue *analytics = topo_model_find_queue(m, "analytics");
    ck_assert_str_eq(analytics->bindings[0].routing_key, "#");
    topo_diags_free(&diags);
    topo_model_free(m);
}
END_TEST

START_TEST(test_missing_file)
{
    struct topo_diags diags = {0};
    struct topo_model *m = NULL;
    char *text = NULL;
    size_t size = 0;
    ck_assert_int_eq(topo_load_file("/nonexistent/topology.yaml", &m, &diags), WR_ERR_IO);
    ck_assert_ptr_null(m);
    FILE *out = open_memstream(&text, &size);
    topo_diags_print(&diags, out);
    fclose(out);
    ck_assert_str_eq(text, "/nonexistent/topology.yaml: cannot open: No such file or directory\n");
    free(text);
    topo_diags_free(&diags);
}
END_TEST

/* The printed form is FILE:LINE:COLUMN: message, one line each, sorted. */
START_TEST(test_print_format)
{
    struct topo_diags diags = {0};
    char *text = NULL;
    size_t size = 0;
    const char *yaml = "queues:\n  - {name: a, service: x}\n  - {name: b}\n";
    ck_assert_int_eq(load_text(yaml, strlen(yaml), &diags), WR_ERR_TOPOLOGY);
    FILE *out = open_memstream(&text, &size);
    topo_diags_print(&diags, out);
    fclose(out);
    ck_assert_str_eq(text, "inline.yaml:2:24: unknown service \"x\"; allowed: order, inventory, "
                           "payment, notification, analytics, deadletter\n"
                           "inline.yaml:3:5: queue \"b\" is missing required key \"service\"\n");
    free(text);
    topo_diags_free(&diags);
}
END_TEST

START_TEST(test_reader_errors)
{
    expect_one("queues:\n  - name: \xff\n", 19,
               "2:11: YAML syntax error: invalid leading UTF-8 octet (byte 0xff)");
    expect_one("queues:\n  - {name: \"a\\0b\", service: order}\n", 43,
               "2:12: text must not contain NUL characters");
    expect_one("a: b\n\tc: d\n", 11,
               "2:1: YAML syntax error: found a tab character that violates indentation (while "
               "scanning a plain scalar that started at line 1, column 4)");
}
END_TEST

START_TEST(test_deep_nesting)
{
    char text[300];
    memset(text, '[', 200);
    text[200] = '\0';
    expect_one(text, 200, "1:65: nesting is deeper than 64 levels");
}
END_TEST

/* Aliases share nodes: a "billion laughs" file stays small and fast. */
START_TEST(test_alias_bomb)
{
    const char *yaml = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                       "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                       "queues: *g\n";
    struct topo_diags diags = {0};
    ck_assert_int_eq(load_text(yaml, strlen(yaml), &diags), WR_ERR_TOPOLOGY);
    ck_assert_uint_eq(diags.count, 8); /* unknown a..g, and one "must be a mapping" for all items */
    ck_assert_str_eq(diags.items[6].message,
                     "each entry of \"queues\" must be a mapping, got a list");
    topo_diags_free(&diags);
}
END_TEST

static Suite *parse_suite(void)
{
    Suite *suite = suite_create("topology parse");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_full_file);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_anchors_share_a_policy);
    tcase_add_test(tc, test_shipped_topology);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_print_format);
    tcase_add_test(tc, test_reader_errors);
    tcase_add_test(tc, test_deep_nesting);
    tcase_add_test(tc, test_alias_bomb);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return ts_run_suite(parse_suite());
}
