/* Validation of the body of POST /v1/orders (SPEC.md "HTTP intake API").
 *
 * A body is checked field by field against a table of rules; the first
 * problem is reported with an error code and the path of the field at
 * fault ("items[3].quantity"), so the API can answer
 * {"error": {"code", "message", "field"}} and publish nothing. */
#ifndef WARREN_API_ORDER_H
#define WARREN_API_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "core/status.h"

/* Limits an operator may tune (config); api_order_limits_default() gives SPEC's. */
struct api_order_limits {
    size_t max_items;     /* items: 1..max_items entries (100) */
    int max_quantity;     /* quantity: 1..max_quantity (1000) */
    size_t max_text;      /* customer.id/name, shipping_address.*: bytes (200) */
    size_t max_email;     /* customer.email: bytes (254) */
    size_t max_body;      /* request body: bytes (65536) */
};

struct api_order_limits api_order_limits_default(void);

/* Why a body was refused. code is one of: invalid_json, duplicate_key,
 * unknown_field, missing_field, invalid_field; field is "" when the whole
 * body is at fault. */
struct api_order_error {
    const char *code;
    char field[128];
    char message[256];
};

/* Parses and validates body (body_len bytes, not NUL-terminated). On
 * WR_OK *order_out is the validated order exactly as sent, which the
 * caller releases with json_decref(). On WR_ERR_INVALID, *error says why
 * and nothing is allocated. */
wr_status api_order_parse(const char *body, size_t body_len, const struct api_order_limits *limits,
                          json_t **order_out, struct api_order_error *error) WR_MUST_CHECK;

/* What order.placed adds to the order the client sent. */
struct api_placed_fields {
    const char *order_id;
    const char *storefront;
    const char *idempotency_key; /* NULL: none (null in the message) */
    const char *placed_at;
    bool notify_given; /* false: notify is added with its default, ["email"] */
};

/* The body of order.placed: the text of an order that api_order_parse
 * accepted (body, body_len), with the added fields (and the defaults of
 * what the client left out) written before its closing brace. Malloc'd;
 * NULL when out of memory. */
char *api_order_placed_body(const char *body, size_t body_len,
                            const struct api_placed_fields *fields);

#endif
