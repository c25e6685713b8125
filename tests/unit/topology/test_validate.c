/* Validation of topology files: one fixture per kind of error, each
 * diagnostic asserted with its exact position and text. Fixtures live in
 * tests/unit/topology/fixtures/. */
#include <check.h>
#include <stdlib.h>

#include "tests/unit/topology/helpers.h"
#include "tests/support/support.h"

/* an alias to an anchor that does not exist */
START_TEST(test_alias)
{
    static const char *const expected[] = {
        "4:12: alias *missing refers to no anchor defined before it", NULL};
    th_expect_diags("bad_alias.yaml", expected);
}
END_TEST

/* bindings to an undeclared exchange, and a binding listed twice */
START_TEST(test_binding_exchange)
{
    static const char *const expected[] = {
        "8:20: binding to undeclared exchange \"ordrs\"; declared exchanges: orders, audit",
        "10:20: duplicate binding to exchange \"orders\" with routing key \"payment.charge\" "
        "(first at line 9, column 20)",
        NULL};
    th_expect_diags("bad_binding_exchange.yaml", expected);
}
END_TEST

/* queue names that are (or look like) derived queue names */
START_TEST(test_derived_name)
{
    static const char *const expected[] = {
        "5:11: queue name \"payment.dead\" is reserved for derived queues (names ending in "
        "\".dead\" or containing \".retry.\"); it is the dead-letter queue of queue \"payment\" "
        "(line 2)",
        "7:11: queue name \"payment.retry.10s\" is reserved for derived queues (names ending in "
        "\".dead\" or containing \".retry.\"); it is a retry tier of queue \"payment\" (line 2)",
        "9:11: queue name \"other.retry.1s\" is reserved for derived queues (names ending in "
        "\".dead\" or containing \".retry.\")",
        NULL};
    th_expect_diags("bad_derived_name.yaml", expected);
}
END_TEST

/* the same key twice in one mapping, at every level */
START_TEST(test_duplicate_key)
{
    static const char *const expected[] = {
        "5:5: duplicate key \"workers\" in queue \"payment\" (first at line 4, column 5)",
        "6:27: duplicate key \"delays\" in retry (first at line 6, column 13)",
        "7:1: duplicate key \"queues\" at the top level (first at line 1, column 1)", NULL};
    th_expect_diags("bad_duplicate_key.yaml", expected);
}
END_TEST

/* two exchanges and two queues with one name */
START_TEST(test_duplicate_names)
{
    static const char *const expected[] = {
        "3:12: duplicate exchange name \"orders\" (first declared at line 2, column 12)",
        "9:11: duplicate queue name \"payment\" (first declared at line 5, column 11)", NULL};
    th_expect_diags("bad_duplicate_names.yaml", expected);
}
END_TEST

/* bad retry delays: no unit, a space, zero, unknown unit, too long, repeats, not a scalar */
START_TEST(test_duration)
{
    static const char *const expected[] = {
        "5:16: bad duration \"10\": use a whole number above zero and a unit ms, s, m or h (250ms, "
        "10s, 5m, 1h), at most 30 days",
        "5:20: bad duration \"1 s\": use a whole number above zero and a unit ms, s, m or h "
        "(250ms, 10s, 5m, 1h), at most 30 days",
        "5:25: bad duration \"0s\": use a whole number above zero and a unit ms, s, m or h (250ms, "
        "10s, 5m, 1h), at most 30 days",
        "5:29: bad duration \"2d\": use a whole number above zero and a unit ms, s, m or h (250ms, "
        "10s, 5m, 1h), at most 30 days",
        "5:37: duplicate delay \"60s\" (the same as \"1m\" at line 5, column 33)",
        "5:42: each delay must be a duration like 10s, got a mapping",
        "5:50: bad duration \"31d\": use a whole number above zero and a unit ms, s, m or h "
        "(250ms, 10s, 5m, 1h), at most 30 days",
        NULL};
    th_expect_diags("bad_duration.yaml", expected);
}
END_TEST

/* an empty file */
START_TEST(test_empty)
{
    static const char *const expected[] = {
        "1:1: the file is empty; expected a mapping with keys exchanges and queues", NULL};
    th_expect_diags("bad_empty.yaml", expected);
}
END_TEST

/* unknown exchange type, queue type and service */
START_TEST(test_enum)
{
    static const char *const expected[] = {
        "2:26: unknown exchange type \"topik\"; allowed: direct, topic, fanout, headers",
        "5:11: unknown queue type \"qorum\"; allowed: quorum, classic",
        "6:14: unknown service \"billing\"; allowed: order, inventory, payment, notification, "
        "analytics, deadletter",
        NULL};
    th_expect_diags("bad_enum.yaml", expected);
}
END_TEST

/* many kinds of problem in one file: every one is reported, in file order */
START_TEST(test_many)
{
    static const char *const expected[] = {
        "4:11: unknown exchange type \"topik\"; allowed: direct, topic, fanout, headers",
        "5:12: duplicate exchange name \"orders\" (first declared at line 3, column 11)",
        "10:14: \"workers\" must be from 0 to 64, got 100",
        "11:15: \"prefetch\" must be an integer, got \"fifty\"",
        "12:26: bad duration \"10x\": use a whole number above zero and a unit ms, s, m or h "
        "(250ms, 10s, 5m, 1h), at most 30 days",
        "14:20: binding to undeclared exchange \"order\"; declared exchanges: orders",
        "15:11: duplicate queue name \"payment\" (first declared at line 7, column 11)",
        "16:14: unknown service \"payments\"; allowed: order, inventory, payment, notification, "
        "analytics, deadletter",
        "17:5: unknown key \"colour\" in queue \"payment\"; allowed keys: name, type, service, "
        "workers, prefetch, retry, bindings",
        "18:5: queue \"notification\" is missing required key \"service\"",
        "20:9: binding is missing required key \"routing_key\"",
        NULL};
    th_expect_diags("bad_many.yaml", expected);
}
END_TEST

/* required keys missing at every level: the position is the mapping */
START_TEST(test_missing)
{
    static const char *const expected[] = {
        "2:5: exchange \"orders\" is missing required key \"type\"",
        "4:5: queue \"payment\" is missing required key \"service\"",
        "5:12: retry is missing required key \"delays\"",
        "7:9: binding is missing required key \"routing_key\"",
        "8:5: queue is missing required key \"name\"",
        NULL};
    th_expect_diags("bad_missing.yaml", expected);
}
END_TEST

/* invalid and reserved names */
START_TEST(test_names)
{
    static const char *const expected[] = {
        "2:12: exchange name \"amq.orders\" is reserved: names starting with \"amq.\" belong to "
        "RabbitMQ",
        "4:11: invalid queue name \"pay ment\": use 1-200 characters from A-Z a-z 0-9 . _ - :",
        "6:11: invalid queue name \"\": use 1-200 characters from A-Z a-z 0-9 . _ - :",
        "8:11: queue name \"amq.work\" is reserved: names starting with \"amq.\" belong to "
        "RabbitMQ",
        NULL};
    th_expect_diags("bad_names.yaml", expected);
}
END_TEST

/* no queues key at the top level */
START_TEST(test_no_queues)
{
    static const char *const expected[] = {"1:1: the top level is missing required key \"queues\"",
                                           NULL};
    th_expect_diags("bad_no_queues.yaml", expected);
}
END_TEST

/* integers out of range, and max_attempts too small for the delays */
START_TEST(test_range)
{
    static const char *const expected[] = {
        "4:14: \"workers\" must be from 0 to 64, got 65",
        "5:15: \"prefetch\" must be from 1 to 65535, got 0",
        "6:55: \"max_attempts\" must be at least 5 (the first attempt plus one per delay), got 3",
        "9:14: \"workers\" must be from 0 to 64, got -1",
        "10:15: \"prefetch\" must be from 1 to 65535, got 99999999999999999999",
        "11:41: \"max_attempts\" must be from 1 to 1000, got 1001",
        "14:21: \"delays\" must list 1 to 10 durations, got 0",
        NULL};
    th_expect_diags("bad_range.yaml", expected);
}
END_TEST

/* a list at the top level */
START_TEST(test_root)
{
    static const char *const expected[] = {
        "1:1: the top level must be a mapping with keys exchanges and queues, got a list", NULL};
    th_expect_diags("bad_root.yaml", expected);
}
END_TEST

/* a YAML syntax error, at libyaml's problem mark */
START_TEST(test_syntax)
{
    static const char *const expected[] = {
        "4:12: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence "
        "that started at line 3, column 14)",
        NULL};
    th_expect_diags("bad_syntax.yaml", expected);
}
END_TEST

/* a second YAML document */
START_TEST(test_two_documents)
{
    static const char *const expected[] = {
        "3:1: only one YAML document is allowed; a second one starts here", NULL};
    th_expect_diags("bad_two_documents.yaml", expected);
}
END_TEST

/* values of the wrong type: list, mapping, string, integer, empty */
START_TEST(test_types)
{
    static const char *const expected[] = {
        "1:12: \"exchanges\" must be a list, got a mapping",
        "3:11: \"name\" must be a string, got a list",
        "5:14: \"workers\" must be an integer, got \"two\"",
        "6:15: \"prefetch\" must be an integer, got a quoted string \"50\"",
        "7:12: \"retry\" must be a mapping, got a list",
        "8:15: \"bindings\" must be a list, got a mapping",
        "9:5: each entry of \"queues\" must be a mapping, got \"just-a-name\"",
        "11:13: \"service\" must be a string, got an empty value",
        "13:9: each entry of \"bindings\" must be a mapping, got \"orders\"",
        NULL};
    th_expect_diags("bad_types.yaml", expected);
}
END_TEST

/* unknown keys at every level, with a suggestion when one is close */
START_TEST(test_unknown_key)
{
    static const char *const expected[] = {
        "1:1: unknown key \"exchange\" at the top level (did you mean \"exchanges\"?); allowed "
        "keys: exchanges, queues",
        "6:5: unknown key \"prefetsh\" in queue \"payment\" (did you mean \"prefetch\"?); allowed "
        "keys: name, type, service, workers, prefetch, retry, bindings",
        "7:27: unknown key \"attempts\" in retry; allowed keys: delays, max_attempts",
        "9:20: binding to undeclared exchange \"orders\"; no exchanges are declared",
        "9:44: unknown key \"durable\" in binding; allowed keys: exchange, routing_key",
        NULL};
    th_expect_diags("bad_unknown_key.yaml", expected);
}
END_TEST

static Suite *validate_suite(void)
{
    Suite *suite = suite_create("topology validate");
    TCase *tc = tcase_create("errors");

    tcase_add_test(tc, test_alias);
    tcase_add_test(tc, test_binding_exchange);
    tcase_add_test(tc, test_derived_name);
    tcase_add_test(tc, test_duplicate_key);
    tcase_add_test(tc, test_duplicate_names);
    tcase_add_test(tc, test_duration);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_enum);
    tcase_add_test(tc, test_many);
    tcase_add_test(tc, test_missing);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_no_queues);
    tcase_add_test(tc, test_range);
    tcase_add_test(tc, test_root);
    tcase_add_test(tc, test_syntax);
    tcase_add_test(tc, test_two_documents);
    tcase_add_test(tc, test_types);
    tcase_add_test(tc, test_unknown_key);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return ts_run_suite(validate_suite());
}
