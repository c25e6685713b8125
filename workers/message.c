/* Decoding a delivery into the message a handler sees, and the dedupe key
 * that makes its effect happen once: "<type>:<order id>", except for
 * order.placed with an Idempotency-Key, where the storefront's key is the
 * identity ("order.placed:<storefront>:<key>"), so a client's retry that
 * reached the broker twice still creates one order. */
#include "workers/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *header_string(const struct mq_delivery *d, const char *key)
{
    const struct mq_header *h = mq_delivery_header(d, key);
    return h && h->kind == MQ_HEADER_STRING ? h->string : NULL;
}

static int header_int(const struct mq_delivery *d, const char *key, int fallback)
{
    const struct mq_header *h = mq_delivery_header(d, key);
    if (!h)
        return fallback;
    if (h->kind == MQ_HEADER_INT)
        return h->integer > 0 && h->integer < 1000000 ? (int)h->integer : fallback;
    long value = h->string ? strtol(h->string, NULL, 10) : 0;
    return value > 0 && value < 1000000 ? (int)value : fallback;
}

static void make_dedupe_key(struct wrk_incoming *in)
{
    const char *idem = json_string_value(json_object_get(in->msg.body, "idempotency_key"));
    const char *storefront = json_string_value(json_object_get(in->msg.body, "storefront"));
    if (strcmp(in->msg.type, "order.placed") == 0 && idem && storefront)
        snprintf(in->dedupe_key, sizeof in->dedupe_key, "order.placed:%s:%s", storefront, idem);
    else
        snprintf(in->dedupe_key, sizeof in->dedupe_key, "%s:%s", in->msg.type, in->msg.order_id);
}

/* For a raw service: whatever the delivery is, with an empty body object
 * when it is not a JSON object, and empty strings for what is missing. */
static wr_status decode_raw(const struct mq_delivery *delivery, struct wrk_incoming *in)
{
    json_t *body = json_loadb(delivery->body, delivery->body_len, 0, NULL);
    in->msg.body = json_is_object(body) ? body : json_object();
    if (!json_is_object(body))
        json_decref(body);
    if (!in->msg.type)
        in->msg.type = "";
    in->msg.order_id = delivery->correlation_id ? delivery->correlation_id : "";
    snprintf(in->dedupe_key, sizeof in->dedupe_key, "%s", in->msg.message_id ? in->msg.message_id : "");
    return WR_OK;
}

wr_status wrk_incoming_decode(const struct mq_delivery *delivery, bool raw,
                              struct wrk_incoming *in)
{
    json_error_t error;
    memset(in, 0, sizeof *in);
    in->delivery = delivery;
    in->msg.type = delivery->type ? delivery->type : delivery->routing_key;
    in->msg.message_id = delivery->message_id;
    in->msg.storefront = header_string(delivery, "x-storefront");
    in->msg.traceparent = header_string(delivery, "traceparent");
    in->msg.attempt = header_int(delivery, "x-attempt", 1);
    in->msg.timestamp = delivery->timestamp;
    if (raw)
        return decode_raw(delivery, in);
    in->msg.body = json_loadb(delivery->body, delivery->body_len, JSON_REJECT_DUPLICATES, &error);
    if (!in->msg.body || !json_is_object(in->msg.body)) {
        snprintf(in->why_undecodable, sizeof in->why_undecodable,
                 "body is not a JSON object: %s", in->msg.body ? "other JSON value" : error.text);
        return WR_ERR_INVALID;
    }
    in->msg.order_id = delivery->correlation_id
                           ? delivery->correlation_id
                           : json_string_value(json_object_get(in->msg.body, "order_id"));
    if (!in->msg.type || !*in->msg.type || !in->msg.order_id || !*in->msg.order_id) {
        snprintf(in->why_undecodable, sizeof in->why_undecodable,
                 "message has no type or no order id (correlation_id)");
        return WR_ERR_INVALID;
    }
    make_dedupe_key(in);
    return WR_OK;
}

void wrk_incoming_clear(struct wrk_incoming *in)
{
    json_decref(in->msg.body);
    in->msg.body = NULL;
}
