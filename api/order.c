/* Validation of order bodies: a table of rules per JSON object, applied
 * recursively, stopping at the first problem with the path of the field. */
#include "api/order.h"

#include "core/json_text.h"
#include "core/text.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct validator {
    const struct api_order_limits *limits;
    struct api_order_error *error;
};

typedef bool (*check_fn)(struct validator *v, json_t *value, const char *path);

/* One allowed key of an object and the check for its value. */
struct field_rule {
    const char *key;
    bool required;
    check_fn check;
};

static bool fail(struct validator *v, const char *code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool fail(struct validator *v, const char *code, const char *path, const char *fmt, ...)
{
    va_list ap;
    v->error->code = code;
    snprintf(v->error->field, sizeof v->error->field, "%s", path);
    va_start(ap, fmt);
    vsnprintf(v->error->message, sizeof v->error->message, fmt, ap);
    va_end(ap);
    return false;
}

/* Paths are built for every field checked, so without printf; a path too
 * long for out is cut. "parent.key" */
static void child_path(char *out, size_t size, const char *parent, const char *key)
{
    size_t len = 0;
    wr_append_text(out, size, &len, parent);
    if (*parent)
        wr_append_text(out, size, &len, ".");
    wr_append_text(out, size, &len, key);
}

/* "parent[index]" */
static void index_path(char *out, size_t size, const char *parent, size_t index)
{
    size_t len = 0;
    wr_append_text(out, size, &len, parent);
    wr_append_text(out, size, &len, "[");
    wr_decimal_append(out, size, &len, (long long)index);
    wr_append_text(out, size, &len, "]");
}

static bool check_object(struct validator *v, json_t *obj, const char *path,
                         const struct field_rule *rules, size_t rule_count)
{
    char sub[128];
    if (!json_is_object(obj))
        return fail(v, "invalid_field", path, "%s must be an object", *path ? path : "the body");
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value) {
        size_t i = 0;
        while (i < rule_count && strcmp(rules[i].key, key) != 0)
            i++;
        child_path(sub, sizeof sub, path, key);
        if (i == rule_count)
            return fail(v, "unknown_field", sub, "unknown field %s%s", sub,
                        strstr(key, "price") || strcmp(key, "total") == 0 ||
                                strcmp(key, "amount") == 0
                            ? " (prices come from the catalog)"
                            : "");
    }
    for (size_t i = 0; i < rule_count; i++) {
        child_path(sub, sizeof sub, path, rules[i].key);
        value = json_object_get(obj, rules[i].key);
        if (!value && rules[i].required)
            return fail(v, "missing_field", sub, "%s is required", sub);
        if (value && !rules[i].check(v, value, sub))
            return false;
    }
    return true;
}

static bool is_text(struct validator *v, json_t *value, const char *path, size_t min,
                    size_t max)
{
    if (!json_is_string(value))
        return fail(v, "invalid_field", path, "%s must be a string", path);
    size_t len = json_string_length(value);
    if (len < min || len > max)
        return fail(v, "invalid_field", path, "%s must be %zu to %zu bytes long", path, min,
                    max);
    return true;
}

static bool check_text(struct validator *v, json_t *value, const char *path)
{
    return is_text(v, value, path, 0, v->limits->max_text);
}

static bool check_email(struct validator *v, json_t *value, const char *path)
{
    if (!is_text(v, value, path, 3, v->limits->max_email))
        return false;
    const char *text = json_string_value(value);
    const char *at = strchr(text, '@');
    bool ok = at && at != text && at[1] && !strchr(at + 1, '@');
    for (const unsigned char *p = (const unsigned char *)text; ok && *p; p++)
        ok = *p > 0x20 && *p != 0x7f;
    return ok || fail(v, "invalid_field", path, "%s must be an email address", path);
}

static bool check_phone(struct validator *v, json_t *value, const char *path)
{
    if (!is_text(v, value, path, 9, 16))
        return fail(v, "invalid_field", path, "%s must be E.164: + and 8 to 15 digits", path);
    const char *text = json_string_value(value);
    bool ok = text[0] == '+';
    for (const char *p = text + 1; ok && *p; p++)
        ok = *p >= '0' && *p <= '9';
    return ok || fail(v, "invalid_field", path, "%s must be E.164: + and 8 to 15 digits", path);
}

static bool check_sku(struct validator *v, json_t *value, const char *path)
{
    if (!is_text(v, value, path, 1, 64))
        return false;
    for (const char *p = json_string_value(value); *p; p++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-", *p))
            return fail(v, "invalid_field", path, "%s may hold only A-Z a-z 0-9 . _ -", path);
    return true;
}

static bool check_quantity(struct validator *v, json_t *value, const char *path)
{
    if (!json_is_integer(value) || json_integer_value(value) < 1 ||
        json_integer_value(value) > v->limits->max_quantity)
        return fail(v, "invalid_field", path, "%s must be an integer from 1 to %d", path,
                    v->limits->max_quantity);
    return true;
}

static const struct field_rule item_rules[] = {
    {"sku", true, check_sku},
    {"quantity", true, check_quantity},
};

static bool check_items(struct validator *v, json_t *value, const char *path)
{
    char sub[128];
    if (!json_is_array(value) || json_array_size(value) < 1 ||
        json_array_size(value) > v->limits->max_items)
        return fail(v, "invalid_field", path, "%s must be a list of 1 to %zu items", path,
                    v->limits->max_items);
    for (size_t i = 0; i < json_array_size(value); i++) {
        index_path(sub, sizeof sub, path, i);
        json_t *item = json_array_get(value, i);
        if (!check_object(v, item, sub, item_rules, 2))
            return false;
        const char *sku = json_string_value(json_object_get(item, "sku"));
        for (size_t j = 0; j < i; j++) {
            if (strcmp(sku, json_string_value(json_object_get(json_array_get(value, j), "sku"))) ==
                0) {
                snprintf(sub, sizeof sub, "%s[%zu].sku", path, i);
                return fail(v, "invalid_field", sub, "%s repeats the SKU of %s[%zu]", sub, path,
                            j);
            }
        }
    }
    return true;
}

/* ISO 4217 currencies (active codes, without precious metals and test codes). */
static const char iso4217[] =
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD "
    "BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP "
    "DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR "
    "IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD "
    "MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB "
    "PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD "
    "SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS "
    "VED VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL";

static bool check_currency(struct validator *v, json_t *value, const char *path)
{
    const char *code = json_is_string(value) ? json_string_value(value) : "";
    bool ok = json_string_length(value) == 3 && code[0] >= 'A' && code[0] <= 'Z' &&
              code[1] >= 'A' && code[1] <= 'Z' && code[2] >= 'A' && code[2] <= 'Z' &&
              strstr(iso4217, code);
    return ok || fail(v, "invalid_field", path, "%s must be an ISO 4217 code such as EUR", path);
}

static bool check_method(struct validator *v, json_t *value, const char *path)
{
    if (json_is_string(value) && strcmp(json_string_value(value), "card") == 0)
        return true;
    return fail(v, "invalid_field", path, "%s must be \"card\"", path);
}

static bool check_token(struct validator *v, json_t *value, const char *path)
{
    if (!is_text(v, value, path, 1, 255))
        return false;
    for (const char *p = json_string_value(value); *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return fail(v, "invalid_field", path, "%s must be printable ASCII", path);
    return true;
}

static bool check_country(struct validator *v, json_t *value, const char *path)
{
    const char *c = json_is_string(value) ? json_string_value(value) : "";
    if (json_string_length(value) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' &&
        c[1] <= 'Z')
        return true;
    return fail(v, "invalid_field", path, "%s must be two capital letters (ISO 3166)", path);
}

static bool check_notify(struct validator *v, json_t *value, const char *path)
{
    char sub[128];
    if (!json_is_array(value) || json_array_size(value) > 2)
        return fail(v, "invalid_field", path, "%s must be a list of \"email\" and/or \"sms\"",
                    path);
    for (size_t i = 0; i < json_array_size(value); i++) {
        const char *channel = json_string_value(json_array_get(value, i));
        const char *other = i ? json_string_value(json_array_get(value, 0)) : NULL;
        index_path(sub, sizeof sub, path, i);
        if (!channel || (strcmp(channel, "email") != 0 && strcmp(channel, "sms") != 0))
            return fail(v, "invalid_field", sub, "%s must be \"email\" or \"sms\"", sub);
        if (other && strcmp(other, channel) == 0)
            return fail(v, "invalid_field", sub, "%s repeats \"%s\"", sub, channel);
    }
    return true;
}

#define RULES(table) table, sizeof table / sizeof table[0]

static const struct field_rule customer_rules[] = {
    {"id", false, check_text},
    {"email", true, check_email},
    {"phone", false, check_phone},
    {"name", false, check_text},
};

static bool check_customer(struct validator *v, json_t *value, const char *path)
{
    return check_object(v, value, path, RULES(customer_rules));
}

static const struct field_rule payment_rules[] = {
    {"method", true, check_method},
    {"token", true, check_token},
};

static bool check_payment(struct validator *v, json_t *value, const char *path)
{
    return check_object(v, value, path, RULES(payment_rules));
}

static const struct field_rule address_rules[] = {
    {"line1", false, check_text},       {"line2", false, check_text},
    {"city", false, check_text},        {"state", false, check_text},
    {"postal_code", false, check_text}, {"country", false, check_country},
};

static bool check_address(struct validator *v, json_t *value, const char *path)
{
    return check_object(v, value, path, RULES(address_rules));
}

static const struct field_rule order_rules[] = {
    {"customer", true, check_customer},
    {"items", true, check_items},
    {"currency", true, check_currency},
    {"payment", true, check_payment},
    {"shipping_address", false, check_address},
    {"notify", false, check_notify},
};

/* Rules that span fields: a phone is needed to send an SMS. */
static bool check_cross_fields(struct validator *v, json_t *order)
{
    json_t *notify = json_object_get(order, "notify");
    for (size_t i = 0; i < json_array_size(notify); i++)
        if (strcmp(json_string_value(json_array_get(notify, i)), "sms") == 0 &&
            !json_object_get(json_object_get(order, "customer"), "phone"))
            return fail(v, "missing_field", "customer.phone",
                        "customer.phone is required when notify has \"sms\"");
    return true;
}

static wr_status parse_json(const char *body, size_t body_len, json_t **out,
                            struct api_order_error *error)
{
    json_error_t json_error;
    *out = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &json_error);
    if (*out)
        return WR_OK;
    bool duplicate = json_error_code(&json_error) == json_error_duplicate_key;
    error->code = duplicate ? "duplicate_key" : "invalid_json";
    error->field[0] = '\0';
    snprintf(error->message, sizeof error->message, "%s at line %d, column %d", json_error.text,
             json_error.line, json_error.column);
    return WR_ERR_INVALID;
}

wr_status api_order_parse(const char *body, size_t body_len, const struct api_order_limits *limits,
                          json_t **order_out, struct api_order_error *error)
{
    struct validator v = {.limits = limits, .error = error};
    json_t *order = NULL;
    if (parse_json(body, body_len, &order, error) != WR_OK)
        return WR_ERR_INVALID;
    if (!check_object(&v, order, "", RULES(order_rules)) || !check_cross_fields(&v, order)) {
        json_decref(order);
        return WR_ERR_INVALID;
    }
    *order_out = order;
    return WR_OK;
}

/* Appends ,"name": and text as a JSON string, or null for NULL. */
static void append_member(char *out, size_t size, size_t *len, const char *name, const char *text)
{
    wr_append_text(out, size, len, ",\"");
    wr_append_text(out, size, len, name);
    wr_append_text(out, size, len, text ? "\":\"" : "\":null");
    if (text) {
        wr_json_escape_append(out, size, len, text);
        wr_append_text(out, size, len, "\"");
    }
}

/* The client's text is kept as it was sent, not re-serialised from the
 * parsed value: api_order_parse accepted it as one object holding only
 * known fields, each once, so the added fields cannot clash with it, and
 * writing the parsed order out again with jansson cost about a quarter of
 * warren-api's CPU per order (bench/README.md, sixth pass). */
char *api_order_placed_body(const char *body, size_t body_len,
                            const struct api_placed_fields *fields)
{
    size_t end = body_len; /* just past the closing brace */
    while (end > 0 && (body[end - 1] == ' ' || body[end - 1] == '\t' || body[end - 1] == '\n' ||
                       body[end - 1] == '\r'))
        end--;
    if (end == 0 || body[end - 1] != '}')
        return NULL; /* not a body api_order_parse accepted */
    const char *key = fields->idempotency_key;
    /* 128: the names, quotes, null and notify's default */
    size_t size = end + 128 + wr_json_escaped_length(fields->order_id) +
                  wr_json_escaped_length(fields->storefront) +
                  (key ? wr_json_escaped_length(key) : 0) +
                  wr_json_escaped_length(fields->placed_at);
    char *out = malloc(size);
    if (!out)
        return NULL;
    size_t len = end - 1;
    memcpy(out, body, len);
    out[len] = '\0';
    if (!fields->notify_given)
        wr_append_text(out, size, &len, ",\"notify\":[\"email\"]");
    append_member(out, size, &len, "order_id", fields->order_id);
    append_member(out, size, &len, "storefront", fields->storefront);
    append_member(out, size, &len, "idempotency_key", key);
    append_member(out, size, &len, "placed_at", fields->placed_at);
    wr_append_text(out, size, &len, "}");
    return out;
}

struct api_order_limits api_order_limits_default(void)
{
    return (struct api_order_limits){
        .max_items = 100, .max_quantity = 1000, .max_text = 200, .max_email = 254,
        .max_body = 65536};
}
