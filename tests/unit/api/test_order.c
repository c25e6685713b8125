/* Unit tests of api/order.c: every rule of SPEC.md's order body, each
 * refusal asserted with its code and the path of the field at fault. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "api/order.h"
#include "tests/support/support.h"

#define GOOD_CUSTOMER "\"customer\":{\"id\":\"c-42\",\"email\":\"ana@example.com\",\"phone\":\"+4915112345678\",\"name\":\"Ana\"}"
#define GOOD_ITEMS "\"items\":[{\"sku\":\"TEE-RED-M\",\"quantity\":2}]"
#define GOOD_PAYMENT "\"payment\":{\"method\":\"card\",\"token\":\"pm_card_visa\"}"
#define GOOD_TAIL "\"currency\":\"EUR\"," GOOD_PAYMENT

static const char good_order[] =
    "{" GOOD_CUSTOMER "," GOOD_ITEMS "," GOOD_TAIL ","
    "\"shipping_address\":{\"line1\":\"Hauptstr. 1\",\"city\":\"Berlin\",\"postal_code\":\"10115\",\"country\":\"DE\"},"
    "\"notify\":[\"email\",\"sms\"]}";

static wr_status parse(const char *body, size_t len, json_t **order, struct api_order_error *error)
{
    struct api_order_limits limits = api_order_limits_default();
    return api_order_parse(body, len, &limits, order, error);
}

START_TEST(spec_example_is_accepted)
{
    json_t *order = NULL;
    struct api_order_error error;
    ck_assert_int_eq(parse(good_order, strlen(good_order), &order, &error), WR_OK);
    ck_assert_str_eq(json_string_value(json_object_get(order, "currency")), "EUR");
    ck_assert_int_eq(json_array_size(json_object_get(order, "notify")), 2);
    json_decref(order);
}
END_TEST

/* order.placed built from an accepted body: parsed back with duplicate
 * keys refused, it is the order as sent plus the API's fields. */
static json_t *placed(const char *body, const struct api_placed_fields *fields)
{
    json_t *order = NULL;
    struct api_order_error error;
    ck_assert_int_eq(parse(body, strlen(body), &order, &error), WR_OK);
    json_decref(order);
    char *text = api_order_placed_body(body, strlen(body), fields);
    ck_assert_ptr_nonnull(text);
    json_error_t json_error;
    json_t *message = json_loads(text, JSON_REJECT_DUPLICATES, &json_error);
    ck_assert_msg(message != NULL, "%s: %s", text, json_error.text);
    free(text);
    return message;
}

START_TEST(placed_body_defaults_notify_to_email_and_keeps_text_exactly)
{
    const char *body =
        "  {\"customer\":{\"email\":\"a@b\",\"name\":\"\\\"%s\\u200f 🛒\"}," GOOD_ITEMS
        "," GOOD_TAIL "}\r\n\t ";
    struct api_placed_fields fields = {.order_id = "0b7c5a0e-0f43-4b1e-9d3a-8c1f2f5e6a7b",
                                       .storefront = "shop",
                                       .placed_at = "2026-12-05T07:30:46.123Z"};
    json_t *message = placed(body, &fields);
    json_t *notify = json_object_get(message, "notify");
    ck_assert_int_eq(json_array_size(notify), 1);
    ck_assert_str_eq(json_string_value(json_array_get(notify, 0)), "email");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(message, "customer"), "name")),
        "\"%s\xe2\x80\x8f \xf0\x9f\x9b\x92");
    ck_assert_str_eq(json_string_value(json_object_get(message, "order_id")), fields.order_id);
    ck_assert_str_eq(json_string_value(json_object_get(message, "storefront")), "shop");
    ck_assert(json_is_null(json_object_get(message, "idempotency_key")));
    ck_assert_str_eq(json_string_value(json_object_get(message, "placed_at")), fields.placed_at);
    ck_assert_str_eq(json_string_value(json_object_get(message, "currency")), "EUR");
    ck_assert_int_eq(json_object_size(message), 9); /* customer items currency payment notify + 4 */
    json_decref(message);
}
END_TEST

START_TEST(placed_body_keeps_given_notify_and_escapes_what_it_adds)
{
    struct api_placed_fields fields = {.order_id = "0b7c5a0e-0f43-4b1e-9d3a-8c1f2f5e6a7b",
                                       .storefront = "the \"best\" shop",
                                       .idempotency_key = "key \\ with \"quotes\"",
                                       .placed_at = "2026-12-05T07:30:46.123Z",
                                       .notify_given = true};
    json_t *message = placed(good_order, &fields);
    json_t *notify = json_object_get(message, "notify");
    ck_assert_int_eq(json_array_size(notify), 2);
    ck_assert_str_eq(json_string_value(json_array_get(notify, 1)), "sms");
    ck_assert_str_eq(json_string_value(json_object_get(message, "storefront")), fields.storefront);
    ck_assert_str_eq(json_string_value(json_object_get(message, "idempotency_key")),
                     fields.idempotency_key);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(message, "shipping_address"), "city")),
        "Berlin");
    json_decref(message);

    const char not_an_object[] = "[1]";
    ck_assert_ptr_null(api_order_placed_body(not_an_object, strlen(not_an_object), &fields));
}
END_TEST

/* A refused body: its error code and field. */
struct refusal {
    const char *body;
    const char *code;
    const char *field;
};

static const struct refusal refusals[] = {
    {"{", "invalid_json", ""},
    {"[]", "invalid_field", ""},
    {"\"text\"", "invalid_json", ""},
    {"{\"customer\":{\"email\":\"a@b\"},\"customer\":{}}", "duplicate_key", ""},
    {"{" GOOD_CUSTOMER "," GOOD_ITEMS "}", "missing_field", "currency"},
    {"{" GOOD_CUSTOMER "," GOOD_ITEMS "," GOOD_TAIL ",\"total\":100}", "unknown_field", "total"},
    {"{" GOOD_CUSTOMER ",\"items\":[{\"sku\":\"A\",\"quantity\":1,\"unit_price\":5}]," GOOD_TAIL "}",
     "unknown_field", "items[0].unit_price"},
    {"{\"customer\":{\"email\":\"a b@c\"}," GOOD_ITEMS "," GOOD_TAIL "}", "invalid_field",
     "customer.email"},
    {"{\"customer\":{\"email\":\"a@b@c\"}," GOOD_ITEMS "," GOOD_TAIL "}", "invalid_field",
     "customer.email"},
    {"{\"customer\":{\"name\":\"x\"}," GOOD_ITEMS "," GOOD_TAIL "}", "missing_field",
     "customer.email"},
    {"{\"customer\":{\"email\":\"a@b\",\"phone\":\"0151\"}," GOOD_ITEMS "," GOOD_TAIL "}",
     "invalid_field", "customer.phone"},
    {"{\"customer\":{\"email\":\"a@b\"}," GOOD_ITEMS "," GOOD_TAIL ",\"notify\":[\"sms\"]}",
     "missing_field", "customer.phone"},
    {"{" GOOD_CUSTOMER ",\"items\":[]," GOOD_TAIL "}", "invalid_field", "items"},
    {"{" GOOD_CUSTOMER ",\"items\":{}," GOOD_TAIL "}", "invalid_field", "items"},
    {"{" GOOD_CUSTOMER ",\"items\":[{\"sku\":\"A\",\"quantity\":1},{\"sku\":\"B\",\"quantity\":0}]," GOOD_TAIL "}",
     "invalid_field", "items[1].quantity"},
    {"{" GOOD_CUSTOMER ",\"items\":[{\"sku\":\"A\",\"quantity\":1001}]," GOOD_TAIL "}",
     "invalid_field", "items[0].quantity"},
    {"{" GOOD_CUSTOMER ",\"items\":[{\"sku\":\"A\",\"quantity\":1.5}]," GOOD_TAIL "}",
     "invalid_field", "items[0].quantity"},
    {"{" GOOD_CUSTOMER ",\"items\":[{\"sku\":\"A\",\"quantity\":\"2\"}]," GOOD_TAIL "}",
     "invalid_field", "items[0].quantity"},
    {"{" GOOD_CUSTOMER ",\"items\":[{\"sku\":\"A B\",\"quantity\":1}]," GOOD_TAIL "}",
     "invalid_field", "items[0].sku"},
    {"{" GOOD_CUSTOMER ",\"items\":[{\"sku\":\"\",\"quantity\":1}]," GOOD_TAIL "}",
     "invalid_field", "items[0].sku"},
    {"{" GOOD_CUSTOMER ",\"items\":[{\"sku\":\"A\",\"quantity\":1},{\"sku\":\"A\",\"quantity\":2}]," GOOD_TAIL "}",
     "invalid_field", "items[1].sku"},
    {"{" GOOD_CUSTOMER ",\"items\":[{\"quantity\":1}]," GOOD_TAIL "}", "missing_field",
     "items[0].sku"},
    {"{" GOOD_CUSTOMER "," GOOD_ITEMS ",\"currency\":\"eur\"," GOOD_PAYMENT "}", "invalid_field",
     "currency"},
    {"{" GOOD_CUSTOMER "," GOOD_ITEMS ",\"currency\":\"ABC\"," GOOD_PAYMENT "}", "invalid_field",
     "currency"},
    {"{" GOOD_CUSTOMER "," GOOD_ITEMS ",\"currency\":\"EUR\",\"payment\":{\"method\":\"cash\",\"token\":\"t\"}}",
     "invalid_field", "payment.method"},
    {"{" GOOD_CUSTOMER "," GOOD_ITEMS ",\"currency\":\"EUR\",\"payment\":{\"method\":\"card\",\"token\":\"a b\"}}",
     "invalid_field", "payment.token"},
    {"{" GOOD_CUSTOMER "," GOOD_ITEMS "," GOOD_TAIL ",\"shipping_address\":{\"country\":\"de\"}}",
     "invalid_field", "shipping_address.country"},
    {"{" GOOD_CUSTOMER "," GOOD_ITEMS "," GOOD_TAIL ",\"notify\":[\"fax\"]}", "invalid_field",
     "notify[0]"},
    {"{" GOOD_CUSTOMER "," GOOD_ITEMS "," GOOD_TAIL ",\"notify\":[\"email\",\"email\"]}",
     "invalid_field", "notify[1]"},
    {"{\"customer\":{\"email\":\"a@b\",\"name\":\"a\\u0000b\"}," GOOD_ITEMS "," GOOD_TAIL "}",
     "invalid_json", ""},
    {"{" GOOD_CUSTOMER ",\"items\":[{\"sku\":\"A\",\"quantity\":123456789012345678901234567890}]," GOOD_TAIL "}",
     "invalid_json", ""},
};

START_TEST(each_refusal_names_code_and_field)
{
    const struct refusal *r = &refusals[_i];
    json_t *order = NULL;
    struct api_order_error error;
    ck_assert_msg(parse(r->body, strlen(r->body), &order, &error) == WR_ERR_INVALID,
                  "accepted: %s", r->body);
    ck_assert_ptr_null(order);
    ck_assert_msg(strcmp(error.code, r->code) == 0 && strcmp(error.field, r->field) == 0,
                  "body %s: got %s/%s (%s), want %s/%s", r->body, error.code, error.field,
                  error.message, r->code, r->field);
    ck_assert_int_gt(strlen(error.message), 0);
}
END_TEST

START_TEST(invalid_utf8_and_raw_nul_are_refused)
{
    static const char bad_utf8[] = "{\"customer\":{\"email\":\"a@b\",\"name\":\"\xc3\x28\"}}";
    static const char raw_nul[] = "{\"customer\":{\"email\":\"a@b\"}\0}";
    json_t *order = NULL;
    struct api_order_error error;
    ck_assert_int_eq(parse(bad_utf8, sizeof bad_utf8 - 1, &order, &error), WR_ERR_INVALID);
    ck_assert_str_eq(error.code, "invalid_json");
    ck_assert_int_eq(parse(raw_nul, sizeof raw_nul - 1, &order, &error), WR_ERR_INVALID);
    ck_assert_str_eq(error.code, "invalid_json");
}
END_TEST

START_TEST(deep_nesting_is_refused_without_crash)
{
    size_t depth = 100000;
    char *body = malloc(depth * 2 + 1);
    memset(body, '[', depth);
    memset(body + depth, ']', depth);
    json_t *order = NULL;
    struct api_order_error error;
    ck_assert_int_eq(parse(body, depth * 2, &order, &error), WR_ERR_INVALID);
    ck_assert_str_eq(error.code, "invalid_json");
    free(body);
}
END_TEST

START_TEST(item_count_limit)
{
    char body[8192];
    size_t n = (size_t)snprintf(body, sizeof body, "{" GOOD_CUSTOMER "," GOOD_TAIL ",\"items\":[");
    for (int i = 0; i < 101; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "%s{\"sku\":\"S%d\",\"quantity\":1}",
                              i ? "," : "", i);
    snprintf(body + n, sizeof body - n, "]}");
    json_t *order = NULL;
    struct api_order_error error;
    ck_assert_int_eq(parse(body, strlen(body), &order, &error), WR_ERR_INVALID);
    ck_assert_str_eq(error.field, "items");
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("api_order");
    TCase *tc = tcase_create("order");
    tcase_add_test(tc, spec_example_is_accepted);
    tcase_add_test(tc, placed_body_defaults_notify_to_email_and_keeps_text_exactly);
    tcase_add_test(tc, placed_body_keeps_given_notify_and_escapes_what_it_adds);
    tcase_add_loop_test(tc, each_refusal_names_code_and_field, 0,
                        (int)(sizeof refusals / sizeof refusals[0]));
    tcase_add_test(tc, invalid_utf8_and_raw_nul_are_refused);
    tcase_add_test(tc, deep_nesting_is_refused_without_crash);
    tcase_add_test(tc, item_count_limit);
    suite_add_tcase(suite, tc);
    return ts_run_suite(suite);
}
