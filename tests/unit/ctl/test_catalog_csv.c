/* Unit tests of the catalog CSV reader behind `warrenctl catalog import`
 * (quoting, CRLF, byte order mark, columns in any order, every bad row
 * reported with its line, the shipped data/catalog.csv) and of the amount
 * formatter the catalog and report commands print with. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/catalog_csv.h"
#include "ctl/ctl.h"
#include "tests/support/support.h"

/* Parses text; *problems receives the messages (free it). */
static size_t parse(const char *text, json_t **rows, char **problems)
{
    size_t size = 0;
    FILE *out = open_memstream(problems, &size);
    size_t n = catalog_csv_parse("cat.csv", text, strlen(text), rows, out);
    fclose(out);
    return n;
}

static const char *field(const json_t *rows, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(rows, i), key));
}

static json_int_t number(const json_t *rows, size_t i, const char *key)
{
    return json_integer_value(json_object_get(json_array_get(rows, i), key));
}

START_TEST(test_good_file)
{
    json_t *rows = NULL;
    char *problems = NULL;
    size_t n = parse("\xef\xbb\xbf"
                     "Stock, currency ,price,name,SKU\r\n"
                     "\r\n"
                     "5,EUR,1299,\"Tee, \"\"red\"\"\",TEE-RED-M\r\n"
                     "0 , JPY, 500 , Plain name ,a.b_c-1\n"
                     "   \n",
                     &rows, &problems);
    ck_assert_msg(n == 0, "%s", problems);
    ck_assert_int_eq(json_array_size(rows), 2);
    ck_assert_str_eq(field(rows, 0, "sku"), "TEE-RED-M");
    ck_assert_str_eq(field(rows, 0, "name"), "Tee, \"red\"");
    ck_assert_int_eq(number(rows, 0, "price"), 1299);
    ck_assert_int_eq(number(rows, 0, "stock"), 5);
    ck_assert_str_eq(field(rows, 1, "name"), "Plain name");
    ck_assert_str_eq(field(rows, 1, "currency"), "JPY");
    ck_assert_int_eq(number(rows, 1, "stock"), 0);
    json_decref(rows);
    free(problems);
}
END_TEST

/* One bad row per case: the line and the words its message must have. */
static const struct {
    const char *row;
    const char *message;
} bad_rows[] = {
    {"bad sku!,N,1,EUR,1", "cat.csv:2: sku \"bad sku!\": expected 1-64 characters"},
    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,N,1,EUR,1",
     "cat.csv:2: sku \""},
    {",N,1,EUR,1", "cat.csv:2: sku \"\""},
    {"S,,1,EUR,1", "cat.csv:2: name \"\": expected 1-200 bytes"},
    {"S,bad \xff utf8,1,EUR,1", "not valid UTF-8"},
    {"S,tab\there,1,EUR,1", "control characters"},
    {"S,N,12.99,EUR,1", "cat.csv:2: price \"12.99\": expected a whole number of minor units"},
    {"S,N,-1,EUR,1", "price \"-1\""},
    {"S,N,1,eur,1", "cat.csv:2: currency \"eur\": expected an ISO 4217 code"},
    {"S,N,1,EURO,1", "currency \"EURO\""},
    {"S,N,1,EUR,-3", "cat.csv:2: stock \"-3\": expected a whole number from 0 to 2147483647"},
    {"S,N,1,EUR,2147483648", "stock \"2147483648\""},
    {"S,N,1,EUR", "cat.csv:2: expected 5 fields (sku,name,price,currency,stock), found 4"},
    {"S,N,1,EUR,1,extra", "found 6"},
    {"S,\"open,1,EUR,1", "cat.csv:2: unterminated quoted field"},
    {"S,\"closed\" junk,1,EUR,1", "cat.csv:2: unexpected text after a closing quote"},
};

START_TEST(test_bad_row)
{
    char text[256], *problems = NULL;
    json_t *rows = (json_t *)1;
    snprintf(text, sizeof text, "sku,name,price,currency,stock\n%s\nGOOD,Good,1,EUR,1\n",
             bad_rows[_i].row);
    ck_assert_uint_ge(parse(text, &rows, &problems), 1);
    ck_assert_ptr_null(rows);
    ck_assert_msg(strstr(problems, bad_rows[_i].message), "want '%s' in:\n%s", bad_rows[_i].message,
                  problems);
    free(problems);
}
END_TEST

START_TEST(test_every_problem_reported)
{
    json_t *rows = NULL;
    char *problems = NULL;
    size_t n = parse("sku,name,price,currency,stock\n"
                     "A,Fine,1,EUR,1\n"
                     "B,,x,eur,-1\n"
                     "A,Again,1,EUR,1\n"
                     "C,Short\n",
                     &rows, &problems);
    ck_assert_int_eq(n, 6);
    ck_assert_ptr_nonnull(strstr(problems, "cat.csv:3: name"));
    ck_assert_ptr_nonnull(strstr(problems, "cat.csv:3: price"));
    ck_assert_ptr_nonnull(strstr(problems, "cat.csv:3: currency"));
    ck_assert_ptr_nonnull(strstr(problems, "cat.csv:3: stock"));
    ck_assert_ptr_nonnull(strstr(problems, "cat.csv:4: sku \"A\" is also on line 2"));
    ck_assert_ptr_nonnull(strstr(problems, "cat.csv:5: expected 5 fields"));
    ck_assert_ptr_null(rows);
    free(problems);
}
END_TEST

START_TEST(test_header_problems)
{
    json_t *rows = NULL;
    char *problems = NULL;
    ck_assert_uint_ge(parse("sku,name,sku,cost\nA,B,C,D\n", &rows, &problems), 4);
    ck_assert_ptr_nonnull(strstr(problems, "cat.csv:1: header: column \"sku\" appears twice"));
    ck_assert_ptr_nonnull(strstr(problems, "cat.csv:1: header: unknown column \"cost\""));
    ck_assert_ptr_nonnull(strstr(problems, "missing column \"price\""));
    ck_assert_ptr_null(strstr(problems, "cat.csv:2"));
    free(problems);
    ck_assert_int_eq(parse("", &rows, &problems), 1);
    ck_assert_ptr_nonnull(strstr(problems, "cat.csv:1: no header line"));
    free(problems);
    ck_assert_int_eq(parse("sku,name,price,currency,stock\n", &rows, &problems), 0);
    ck_assert_int_eq(json_array_size(rows), 0);
    json_decref(rows);
    free(problems);
}
END_TEST

START_TEST(test_shipped_sample)
{
    char path[512], *problems = NULL, *text = NULL;
    size_t size = 0;
    FILE *in = fopen(ts_source_path("data/catalog.csv", path, sizeof path), "rb");
    ck_assert_ptr_nonnull(in);
    FILE *copy = open_memstream(&text, &size);
    for (int c; (c = fgetc(in)) != EOF;)
        fputc(c, copy);
    fclose(copy);
    fclose(in);
    json_t *rows = NULL;
    ck_assert_int_eq(parse(text, &rows, &problems), 0);
    int tee = 0, zero = 0, flash = 0;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        tee += strcmp(field(rows, i, "sku"), "TEE-RED-M") == 0 &&
               number(rows, i, "price") == 1299 && strcmp(field(rows, i, "currency"), "EUR") == 0 &&
               number(rows, i, "stock") == 100;
        zero += number(rows, i, "stock") == 0;
        flash +=
            strcmp(field(rows, i, "sku"), "FLASH-SNEAKER") == 0 && number(rows, i, "stock") == 50;
    }
    ck_assert_int_eq(tee, 1);
    ck_assert_int_ge(zero, 1);
    ck_assert_int_eq(flash, 1);
    json_decref(rows);
    free(problems);
    free(text);
}
END_TEST

START_TEST(test_amounts)
{
    static const struct {
        long long minor;
        const char *currency, *text;
    } cases[] = {
        {1299, "EUR", "12.99 EUR"}, {5, "USD", "0.05 USD"},     {0, "EUR", "0.00 EUR"},
        {500, "JPY", "500 JPY"},    {1299, "BHD", "1.299 BHD"}, {-250, "EUR", "-2.50 EUR"},
        {100, "XOF", "100 XOF"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        ctl_format_amount(cases[i].minor, cases[i].currency, out, sizeof out);
        ck_assert_str_eq(out, cases[i].text);
    }
}
END_TEST

static Suite *csv_suite(void)
{
    Suite *s = suite_create("catalog_csv");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_good_file);
    tcase_add_loop_test(tc, test_bad_row, 0, sizeof bad_rows / sizeof bad_rows[0]);
    tcase_add_test(tc, test_every_problem_reported);
    tcase_add_test(tc, test_header_problems);
    tcase_add_test(tc, test_shipped_sample);
    tcase_add_test(tc, test_amounts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ts_run_suite(csv_suite());
}
