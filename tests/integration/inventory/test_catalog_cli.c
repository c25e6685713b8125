/* Integration tests of `warrenctl catalog` as a process against the
 * inventory database: import (new, unchanged, updated; every bad row
 * reported as FILE:LINE and nothing imported), list as a table and as
 * JSON, show, set-stock, and the exit codes 0, 1 and 2. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/ctl.h"
#include "tests/support/support.h"
#include "tests/support/support.h"

static char prefix[48];

static void setup(void)
{
    char url[256];
    ts_unique_name("it-cat", prefix, sizeof prefix);
    setenv("WARREN_DATABASE_INVENTORY_URL", ts_db_url("inventory", url, sizeof url), 1);
    setenv("WARREN_LOG_LEVEL", "warn", 1);
}

/* Runs warrenctl with up to four arguments (NULL-terminated). */
static void ctl(struct ts_ctl_run *run, const char *a, const char *b, const char *c, const char *d)
{
    const char *const args[] = {a, b, c, d, NULL};
    ts_ctl(run, args);
}

/* A CSV file whose SKU cells "@X" become "<prefix>-X". */
static void csv(const char *text, char *path, size_t size)
{
    char expanded[4096];
    size_t o = 0;
    for (const char *p = text; *p && o + sizeof prefix + 2 < sizeof expanded; p++) {
        if (*p == '@')
            o += (size_t)snprintf(expanded + o, sizeof expanded - o, "%s-", prefix);
        else
            expanded[o++] = *p;
    }
    expanded[o] = '\0';
    ts_write_temp(expanded, ".csv", path, size);
}

static const char *sku(const char *tag, char *out, size_t size)
{
    snprintf(out, size, "%s-%s", prefix, tag);
    return out;
}

static void assert_contains(const char *text, const char *part)
{
    ck_assert_msg(strstr(text, part) != NULL, "'%s' not in:\n%s", part, text);
}

START_TEST(test_import_new_unchanged_updated)
{
    char path[128], name[128];
    struct ts_ctl_run run;
    csv("sku,name,price,currency,stock\n"
        "@TEE,\"Tee, \"\"red\"\" M\",1299,EUR,100\r\n"
        "@MUG,Mug \xe2\x98\x95,899,EUR,0\n"
        "\n"
        "@CAP,Cap,1999,USD,7\n",
        path, sizeof path);
    ctl(&run, "catalog", "import", path, NULL);
    ck_assert_msg(run.status == 0, "%s", run.err);
    assert_contains(run.out, "3 SKUs: 3 new, 0 updated, 0 unchanged");
    ts_ctl_free(&run);
    ctl(&run, "catalog", "import", path, NULL);
    assert_contains(run.out, "3 SKUs: 0 new, 0 updated, 3 unchanged");
    ts_ctl_free(&run);
    unlink(path);
    /* columns in another order; one SKU changed */
    csv("stock,currency,price,name,sku\n5,EUR,1299,\"Tee, \"\"red\"\" M\",@TEE\n", path,
        sizeof path);
    ctl(&run, "catalog", "import", path, NULL);
    ck_assert_int_eq(run.status, 0);
    assert_contains(run.out, "1 SKU: 0 new, 1 updated, 0 unchanged");
    ts_ctl_free(&run);
    unlink(path);
    ctl(&run, "catalog", "show", sku("TEE", name, sizeof name), "--json");
    ck_assert_int_eq(run.status, 0);
    json_t *shown = json_loads(run.out, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(shown, "name")), "Tee, \"red\" M");
    ck_assert_int_eq(json_integer_value(json_object_get(shown, "stock")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(shown, "price")), 1299);
    ck_assert_str_eq(json_string_value(json_object_get(shown, "currency")), "EUR");
    ck_assert_int_eq(json_integer_value(json_object_get(shown, "reserved")), 0);
    json_decref(shown);
    ts_ctl_free(&run);
}
END_TEST

START_TEST(test_import_reports_every_bad_row_and_imports_nothing)
{
    char path[128], name[128], expected[256];
    struct ts_ctl_run run;
    csv("sku,name,price,currency,stock\n"
        "@GOOD,Good,100,EUR,1\n"
        "bad sku!,Name,100,EUR,5\n"
        "@P,Price,12.99,EUR,5\n"
        "@C,Currency,100,eur,5\n"
        "@S,Stock,100,EUR,-3\n"
        "@N,,100,EUR,5\n"
        "@GOOD,Again,100,EUR,1\n"
        "@F,Few,100\n"
        "@Q,\"open quote,100,EUR,5\n",
        path, sizeof path);
    ctl(&run, "catalog", "import", path, NULL);
    ck_assert_int_eq(run.status, 1);
    static const struct {
        int line;
        const char *text;
    } problems[] = {
        {3, "sku \"bad sku!\""},  {4, "price \"12.99\""},
        {5, "currency \"eur\""},  {6, "stock \"-3\""},
        {7, "name \"\""},         {8, "is also on line 2"},
        {9, "expected 5 fields"}, {10, "unterminated quoted"},
    };
    for (size_t i = 0; i < sizeof problems / sizeof problems[0]; i++) {
        snprintf(expected, sizeof expected, "%s:%d: ", path, problems[i].line);
        assert_contains(run.err, expected);
        assert_contains(strstr(run.err, expected), problems[i].text);
    }
    assert_contains(run.err, "nothing imported");
    ck_assert_str_eq(run.out, "");
    ts_ctl_free(&run);
    unlink(path);
    ctl(&run, "catalog", "show", sku("GOOD", name, sizeof name), NULL);
    ck_assert_int_eq(run.status, 1);
    ts_ctl_free(&run);
    /* a bad header stops at line 1 */
    csv("sku,title,price,currency\n@X,X,1,EUR,1\n", path, sizeof path);
    ctl(&run, "catalog", "import", path, NULL);
    ck_assert_int_eq(run.status, 1);
    snprintf(expected, sizeof expected, "%s:1: header: unknown column \"title\"", path);
    assert_contains(run.err, expected);
    assert_contains(run.err, "missing column \"stock\"");
    ts_ctl_free(&run);
    unlink(path);
    ctl(&run, "catalog", "import", "/nonexistent/catalog.csv", NULL);
    ck_assert_int_eq(run.status, 1);
    assert_contains(run.err, "/nonexistent/catalog.csv");
    ts_ctl_free(&run);
}
END_TEST

START_TEST(test_list_show_set_stock)
{
    char path[128], name[128];
    struct ts_ctl_run run;
    csv("sku,name,price,currency,stock\n@L1,Long name \xc3\xa9\xc3\xa9,1299,EUR,12\n"
        "@L2,Yen thing,500,JPY,3\n",
        path, sizeof path);
    ctl(&run, "catalog", "import", path, NULL);
    ck_assert_int_eq(run.status, 0);
    ts_ctl_free(&run);
    unlink(path);

    ctl(&run, "catalog", "list", NULL, NULL);
    ck_assert_int_eq(run.status, 0);
    assert_contains(run.out, "SKU");
    assert_contains(run.out, "RESERVED");
    assert_contains(run.out, sku("L1", name, sizeof name));
    assert_contains(run.out, "12.99 EUR");
    assert_contains(run.out, "500 JPY");
    ts_ctl_free(&run);

    ctl(&run, "catalog", "list", "--json", NULL);
    ck_assert_int_eq(run.status, 0);
    json_t *all = json_loads(run.out, 0, NULL), *row;
    size_t i;
    int found = 0;
    ck_assert_msg(json_is_array(all), "%s", run.out);
    json_array_foreach(all, i, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "sku")), name) == 0) {
            found++;
            ck_assert_int_eq(json_integer_value(json_object_get(row, "price")), 1299);
            ck_assert_int_eq(json_integer_value(json_object_get(row, "stock")), 12);
        }
    }
    ck_assert_int_eq(found, 1);
    json_decref(all);
    ts_ctl_free(&run);

    ctl(&run, "catalog", "show", name, NULL);
    ck_assert_int_eq(run.status, 0);
    assert_contains(run.out, "12.99 EUR (1299 minor units)");
    assert_contains(run.out, "12 available");
    ts_ctl_free(&run);

    ctl(&run, "catalog", "set-stock", name, "40");
    ck_assert_int_eq(run.status, 0);
    assert_contains(run.out, "stock 12 -> 40");
    ts_ctl_free(&run);
    ctl(&run, "catalog", "show", name, "--json");
    json_t *shown = json_loads(run.out, 0, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(shown, "stock")), 40);
    json_decref(shown);
    ts_ctl_free(&run);
}
END_TEST

START_TEST(test_exit_codes)
{
    static const struct {
        const char *args[5];
        int status;
        const char *stream_has; /* in stdout or stderr */
    } cases[] = {
        {{"catalog", NULL}, 2, "missing subcommand"},
        {{"catalog", "frobnicate", NULL}, 2, "unknown subcommand"},
        {{"catalog", "import", NULL}, 2, "missing arguments"},
        {{"catalog", "list", "extra", NULL}, 2, "unexpected argument"},
        {{"catalog", "list", "--yaml", NULL}, 2, "unknown option"},
        {{"catalog", "set-stock", "X", NULL}, 2, "missing arguments"},
        {{"catalog", "set-stock", "X", "-1"}, 2, "whole number"},
        {{"catalog", "set-stock", "X", "lots"}, 2, "whole number"},
        {{"catalog", "show", "NO-SUCH-SKU-ANYWHERE", NULL}, 1, "no SKU"},
        {{"catalog", "set-stock", "NO-SUCH-SKU-ANYWHERE", "3"}, 1, "no SKU"},
        {{"catalog", "--help", NULL}, 0, "catalog import"},
        {{"catalog", "import", "--help", NULL}, 0, "FILE:LINE"},
        {{"catalog", "list", "--help", NULL}, 0, "--json"},
        {{"catalog", "show", "--help", NULL}, 0, "SKU"},
        {{"catalog", "set-stock", "--help", NULL}, 0, "SKU N"},
        {{"--help", NULL}, 0, "catalog import"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ts_ctl_run run;
        ts_ctl(&run, cases[i].args);
        ck_assert_msg(run.status == cases[i].status, "case %zu (%s %s): exit %d, want %d\n%s%s", i,
                      cases[i].args[0], cases[i].args[1] ? cases[i].args[1] : "", run.status,
                      cases[i].status, run.out, run.err);
        ck_assert_msg(strstr(run.out, cases[i].stream_has) || strstr(run.err, cases[i].stream_has),
                      "case %zu: '%s' not in\n%s%s", i, cases[i].stream_has, run.out, run.err);
        ts_ctl_free(&run);
    }
}
END_TEST

static Suite *catalog_suite(void)
{
    Suite *s = suite_create("catalog");
    TCase *tc = tcase_create("warrenctl");
    tcase_add_unchecked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_import_new_unchanged_updated);
    tcase_add_test(tc, test_import_reports_every_bad_row_and_imports_nothing);
    tcase_add_test(tc, test_list_show_set_stock);
    tcase_add_test(tc, test_exit_codes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ts_run_suite(catalog_suite());
}
