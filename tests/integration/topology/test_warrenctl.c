/* The warrenctl binary run as a process: validate prints every problem as
 * FILE:LINE:COLUMN and exits 1, usage errors exit 2, and plan/apply against
 * the local stack's broker (addresses from WARREN_* like any warren
 * program) create once, then report nothing to do, and exit 1 on drift. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/topology/helpers.h"
#include "tests/support/ctl.h"
#include "tests/support/support.h"

/* A NULL-terminated argument list for warrenctl. */
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* args joined by spaces, for failure messages. */
static const char *joined(const char *const *args, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; args[i] && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%s", i ? " " : "", args[i]);
    return out;
}

static void expect_run(const char *const *args, int code, const char *expected_output)
{
    struct ts_ctl_run run;
    char line[1024];
    ts_ctl_merged(&run, args);
    ck_assert_msg(run.status == code, "warrenctl %s: exit %d, expected %d; output:\n%s",
                  joined(args, line, sizeof line), run.status, code, run.out);
    if (expected_output)
        ck_assert_str_eq(run.out, expected_output);
    ts_ctl_free(&run);
}

static void expect_output_has(const char *const *args, int code, const char *needle)
{
    struct ts_ctl_run run;
    char line[1024];
    ts_ctl_merged(&run, args);
    joined(args, line, sizeof line);
    ck_assert_msg(run.status == code, "warrenctl %s: exit %d, expected %d; output:\n%s", line,
                  run.status, code, run.out);
    ck_assert_msg(strstr(run.out, needle), "warrenctl %s: no \"%s\" in:\n%s", line, needle,
                  run.out);
    ts_ctl_free(&run);
}

START_TEST(test_validate_prints_every_error)
{
    char path[256], expected[8192];
    ts_source_path("tests/unit/topology/fixtures/bad_many.yaml", path, sizeof path);
    snprintf(expected, sizeof expected,
             "%1$s:4:11: unknown exchange type \"topik\"; allowed: direct, topic, fanout, headers\n"
             "%1$s:5:12: duplicate exchange name \"orders\" (first declared at line 3, column 11)\n"
             "%1$s:10:14: \"workers\" must be from 0 to 64, got 100\n"
             "%1$s:11:15: \"prefetch\" must be an integer, got \"fifty\"\n"
             "%1$s:12:26: bad duration \"10x\": use a whole number above zero and a unit ms, s, m "
             "or h (250ms, 10s, 5m, 1h), at most 30 days\n"
             "%1$s:14:20: binding to undeclared exchange \"order\"; declared exchanges: orders\n"
             "%1$s:15:11: duplicate queue name \"payment\" (first declared at line 7, column 11)\n"
             "%1$s:16:14: unknown service \"payments\"; allowed: order, inventory, payment, "
             "notification, analytics, deadletter\n"
             "%1$s:17:5: unknown key \"colour\" in queue \"payment\"; allowed keys: name, type, "
             "service, workers, prefetch, retry, bindings\n"
             "%1$s:18:5: queue \"notification\" is missing required key \"service\"\n"
             "%1$s:20:9: binding is missing required key \"routing_key\"\n"
             "11 errors in %1$s\n",
             path);
    expect_run(ARGS("topology", "validate", path), 1, expected);
}
END_TEST

START_TEST(test_validate_good_file)
{
    char path[1024], expected[2048];
    ts_source_path("topology/topology.yaml", path, sizeof path);
    snprintf(expected, sizeof expected,
             "%s: ok: 1 exchange, 5 queues; on the broker: 29 queues with retry tiers and "
             "dead-letter queues, 13 bindings\n",
             path);
    expect_run(ARGS("topology", "validate", path), 0, expected);
}
END_TEST

START_TEST(test_usage_errors_exit_2)
{
    expect_run(ARGS(NULL), 2, "warrenctl: missing COMMAND\nTry 'warrenctl --help'.\n");
    expect_run(ARGS("--bogus", "topology"), 2,
               "warrenctl: unknown option '--bogus'\nTry 'warrenctl --help'.\n");
    expect_run(ARGS("frobnicate"), 2,
               "warrenctl: unknown command 'frobnicate'\nTry 'warrenctl --help'.\n");
    expect_run(ARGS("topology"), 2,
               "warrenctl: missing subcommand (validate, plan or apply)\n"
               "Try 'warrenctl topology --help'.\n");
    expect_run(ARGS("topology", "validate"), 2,
               "warrenctl: missing FILE\nTry 'warrenctl topology validate --help'.\n");
    expect_run(ARGS("topology", "plan", "a.yaml", "b.yaml"), 2,
               "warrenctl: unexpected argument 'b.yaml'\nTry 'warrenctl topology plan --help'.\n");
    expect_run(ARGS("--config"), 2, "warrenctl: --config needs a FILE\nTry 'warrenctl --help'.\n");
}
END_TEST

START_TEST(test_help_and_version)
{
    expect_output_has(ARGS("--help"), 0, "usage: warrenctl [--config FILE] COMMAND");
    expect_output_has(ARGS("topology", "--help"), 0, "warrenctl topology validate FILE");
    expect_output_has(ARGS("topology", "apply", "--help"), 0,
                      "usage: warrenctl [--config FILE] topology apply");
    expect_run(ARGS("--version"), 0, "warrenctl " WARREN_VERSION "\n");
}
END_TEST

START_TEST(test_plan_and_apply)
{
    char prefix[64], text[4096], path[256], drift[256];
    ts_unique_name("topo-ctl", prefix, sizeof prefix);
    it_topology_text(prefix, 0, text, sizeof text);
    ts_write_temp(text, ".yaml", path, sizeof path);
    it_topology_text(prefix, 1, text, sizeof text);
    ts_write_temp(text, ".yaml", drift, sizeof drift);

    expect_output_has(ARGS("topology", "plan", path), 0,
                      "summary: 13 to create, 0 ok, 0 drifted\n");
    expect_output_has(ARGS("topology", "apply", path), 0,
                      "summary: 13 created, 0 already present, 0 drifted (left alone)\n");
    char *first = it_snapshot(prefix);
    expect_output_has(ARGS("topology", "apply", path), 0,
                      "summary: 0 created, 13 already present, 0 drifted (left alone)\n");
    expect_output_has(ARGS("topology", "plan", path), 0,
                      "summary: 0 to create, 13 ok, 0 drifted\n");

    snprintf(text, sizeof text, "drift: queue %s-audit: type: file quorum, broker classic\n",
             prefix);
    expect_output_has(ARGS("topology", "plan", drift), 1, text);
    expect_output_has(ARGS("topology", "apply", drift), 1, text);
    expect_output_has(ARGS("topology", "apply", drift), 1,
                      "summary: 0 created, 10 already present, 3 drifted");
    char *second = it_snapshot(prefix);
    ck_assert_str_eq(first, second);

    free(first);
    free(second);
    unlink(path);
    unlink(drift);
    it_cleanup(prefix);
}
END_TEST

/* No broker at the configured address: a clear message and exit 1. */
START_TEST(test_unreachable_broker)
{
    char path[1024];
    ts_source_path("topology/topology.yaml", path, sizeof path);
    setenv("WARREN_BROKER_MANAGEMENT_URL", "http://warren:warren@127.0.0.1:1", 1);
    expect_output_has(ARGS("topology", "plan", path), 1,
                      "warrenctl: cannot read the broker's state from "
                      "http://warren:***@127.0.0.1:1");
}
END_TEST

static Suite *warrenctl_suite(void)
{
    Suite *suite = suite_create("warrenctl topology");
    TCase *tc = tcase_create("warrenctl");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_validate_prints_every_error);
    tcase_add_test(tc, test_validate_good_file);
    tcase_add_test(tc, test_usage_errors_exit_2);
    tcase_add_test(tc, test_help_and_version);
    tcase_add_test(tc, test_plan_and_apply);
    tcase_add_test(tc, test_unreachable_broker);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return ts_run_suite(warrenctl_suite());
}
