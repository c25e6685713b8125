/* The consumer: basic.qos prefetch and basic.consume with manual acks on
 * the conn's channel, deliveries copied into struct mq_delivery, ack and
 * nack, cancel for graceful shutdown and resume after a reconnect. */
#include "broker/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* The delivery_tag handed to callers carries the channel generation in its
 * top bits, so an ack for a message of a channel that is gone (and whose
 * messages the broker has already requeued) is refused here instead of
 * closing the new channel with 406 "unknown delivery tag". */
#define TAG_GEN_SHIFT 40
#define TAG_MASK ((UINT64_C(1) << TAG_GEN_SHIFT) - 1)
#define GEN_MASK UINT32_C(0xFFFFFF)

struct mq_consumer {
    struct mq_conn *conn;
    char *queue;
    uint16_t prefetch;
    char *consumer_tag;   /* from consume-ok while consuming, else NULL */
    uint32_t channel_gen; /* conn->channel_gen when basic.consume was sent */
    bool consuming;       /* basic.consume active (not cancelled) */
};

static uint64_t encode_tag(uint32_t gen, uint64_t broker_tag)
{
    return ((uint64_t)(gen & GEN_MASK) << TAG_GEN_SHIFT) | (broker_tag & TAG_MASK);
}

static wr_status set_consumer_tag(struct mq_consumer *c, amqp_bytes_t tag, struct wr_error *err)
{
    free(c->consumer_tag);
    c->consumer_tag = malloc(tag.len + 1);
    if (!c->consumer_tag)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    memcpy(c->consumer_tag, tag.bytes, tag.len);
    c->consumer_tag[tag.len] = '\0';
    return WR_OK;
}

/* basic.qos then basic.consume on the conn's current channel. */
static wr_status start_consuming(struct mq_consumer *c, struct wr_error *err)
{
    struct mq_conn *conn = c->conn;
    c->consuming = false;
    wr_status status = mq__require_open(conn, "consume", err);
    if (status != WR_OK)
        return status;
    amqp_basic_qos(conn->amqp, MQ_CHANNEL, 0, c->prefetch, 0);
    status = mq__last_reply(conn, "basic.qos", err);
    if (status != WR_OK)
        return status;
    amqp_basic_consume_ok_t *ok =
        amqp_basic_consume(conn->amqp, MQ_CHANNEL, amqp_cstring_bytes(c->queue), amqp_empty_bytes,
                           0, 0, 0, amqp_empty_table);
    char what[300];
    snprintf(what, sizeof what, "consume from queue '%s'", c->queue);
    status = mq__last_reply(conn, what, err);
    if (status == WR_OK)
        status = set_consumer_tag(c, ok->consumer_tag, err);
    if (status == WR_OK) {
        c->channel_gen = conn->channel_gen;
        c->consuming = true;
    }
    return status;
}

struct mq_consumer *mq_consumer_create(struct mq_conn *conn, const char *queue, uint16_t prefetch,
                                       struct wr_error *err)
{
    if (!conn || !queue || strlen(queue) > MQ_SHORTSTR_MAX) {
        wr_error_set(err, WR_ERR_INVALID, "mq_consumer_create: conn and a queue name required");
        return NULL;
    }
    struct mq_consumer *c = calloc(1, sizeof *c);
    if (!c || !(c->queue = strdup(queue))) {
        free(c);
        wr_error_set(err, WR_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->conn = conn;
    c->prefetch = prefetch;
    if (start_consuming(c, err) != WR_OK) {
        mq_consumer_destroy(c);
        return NULL;
    }
    return c;
}

void mq_consumer_destroy(struct mq_consumer *consumer)
{
    if (!consumer)
        return;
    (void)mq_consumer_cancel(consumer, NULL);
    free(consumer->consumer_tag);
    free(consumer->queue);
    free(consumer);
}

/* WR_OK while the channel the consumer was set up on is still the
 * conn's channel (deliveries can be read and acked). */
static wr_status check_channel(const struct mq_consumer *c, const char *what, struct wr_error *err)
{
    wr_status status = mq__require_open(c->conn, what, err);
    if (status != WR_OK)
        return status;
    if (c->channel_gen == c->conn->channel_gen)
        return WR_OK;
    wr_error_set(err, WR_ERR_CHANNEL_CLOSED,
                 "%s: the channel was closed since the consumer started (%s); call "
                 "mq_consumer_resume",
                 what, c->conn->last_error.message);
    if (err)
        err->reply_code = c->conn->last_error.reply_code;
    return WR_ERR_CHANNEL_CLOSED;
}

/* A frame other than basic.deliver arrived: read and act on it. WR_OK
 * means it was harmless and waiting can go on. */
static wr_status on_other_frame(struct mq_consumer *c, struct wr_error *err)
{
    amqp_frame_t frame;
    int rc = amqp_simple_wait_frame(c->conn->amqp, &frame);
    if (rc != AMQP_STATUS_OK)
        return mq__status_from_library(c->conn, rc, "consume", err);
    if (frame.frame_type != AMQP_FRAME_METHOD)
        return WR_OK;
    switch (frame.payload.method.id) {
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD:
        return mq__status_from_method(c->conn, frame.payload.method, "consume", err);
    case AMQP_BASIC_CANCEL_METHOD:
        c->consuming = false;
        return wr_error_set(err, WR_ERR_CHANNEL_CLOSED,
                            "consumer on queue '%s' cancelled by the broker (queue deleted?)",
                            c->queue);
    default:
        wr_log(WR_LOG_DEBUG, "broker", "consumer ignores method 0x%08x",
               (unsigned)frame.payload.method.id);
        return WR_OK;
    }
}

static struct timeval timeval_left(int64_t deadline)
{
    int64_t left = deadline - mq_now_ms();
    if (left < 0)
        left = 0;
    struct timeval tv = {.tv_sec = (time_t)(left / 1000),
                         .tv_usec = (suseconds_t)(left % 1000) * 1000};
    return tv;
}

/* One amqp_consume_message call; *again when waiting should go on. */
static wr_status consume_once(struct mq_consumer *c, int64_t deadline, struct mq_delivery **out,
                              bool *again, struct wr_error *err)
{
    struct mq_conn *conn = c->conn;
    struct timeval tv = timeval_left(deadline);
    amqp_envelope_t envelope;
    *again = false;
    amqp_maybe_release_buffers(conn->amqp);
    amqp_rpc_reply_t reply = amqp_consume_message(conn->amqp, &envelope, &tv, 0);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
        wr_status status = mq__delivery_from_envelope(
            &envelope, encode_tag(c->channel_gen, envelope.delivery_tag), out, err);
        amqp_destroy_envelope(&envelope);
        return status;
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        reply.library_error == AMQP_STATUS_TIMEOUT)
        return wr_error_set(err, WR_ERR_TIMEOUT, "no delivery from queue '%s'", c->queue);
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
        wr_status status = on_other_frame(c, err);
        *again = status == WR_OK;
        return status;
    }
    return mq__status_from_reply(conn, reply, "consume", err);
}

wr_status mq_consumer_next(struct mq_consumer *consumer, int64_t timeout_ms,
                           struct mq_delivery **out, struct wr_error *err)
{
    *out = NULL;
    wr_status status = check_channel(consumer, "consume", err);
    if (status != WR_OK)
        return status;
    int64_t deadline = mq_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    bool again = true;
    while (status == WR_OK && again && !*out)
        status = consume_once(consumer, deadline, out, &again, err);
    return status;
}

static wr_status check_tag(const struct mq_consumer *c, uint64_t delivery_tag, const char *what,
                           struct wr_error *err)
{
    wr_status status = check_channel(c, what, err);
    if (status != WR_OK)
        return status;
    if ((delivery_tag >> TAG_GEN_SHIFT) != (c->conn->channel_gen & GEN_MASK))
        return wr_error_set(err, WR_ERR_CHANNEL_CLOSED,
                            "%s: the delivery came on a channel that is closed; the broker has "
                            "requeued it",
                            what);
    return WR_OK;
}

/* basic.ack of delivery_tag, and with multiple of every unsettled one before it. */
static wr_status ack(struct mq_consumer *consumer, uint64_t delivery_tag, bool multiple,
                     struct wr_error *err)
{
    wr_status status = check_tag(consumer, delivery_tag, "ack", err);
    if (status != WR_OK)
        return status;
    int rc = amqp_basic_ack(consumer->conn->amqp, MQ_CHANNEL, delivery_tag & TAG_MASK, multiple);
    return mq__status_from_library(consumer->conn, rc, "ack", err);
}

wr_status mq_ack(struct mq_consumer *consumer, uint64_t delivery_tag, struct wr_error *err)
{
    return ack(consumer, delivery_tag, false, err);
}

wr_status mq_ack_through(struct mq_consumer *consumer, uint64_t delivery_tag, struct wr_error *err)
{
    return ack(consumer, delivery_tag, true, err);
}

wr_status mq_nack(struct mq_consumer *consumer, uint64_t delivery_tag, bool requeue,
                  struct wr_error *err)
{
    wr_status status = check_tag(consumer, delivery_tag, "nack", err);
    if (status != WR_OK)
        return status;
    int rc = amqp_basic_nack(consumer->conn->amqp, MQ_CHANNEL, delivery_tag & TAG_MASK, 0,
                             requeue ? 1 : 0);
    return mq__status_from_library(consumer->conn, rc, "nack", err);
}

wr_status mq_consumer_cancel(struct mq_consumer *consumer, struct wr_error *err)
{
    if (!consumer->consuming || check_channel(consumer, "cancel", NULL) != WR_OK) {
        consumer->consuming = false;
        return WR_OK; /* nothing is consuming on the current channel */
    }
    consumer->consuming = false;
    amqp_basic_cancel(consumer->conn->amqp, MQ_CHANNEL, amqp_cstring_bytes(consumer->consumer_tag));
    return mq__last_reply(consumer->conn, "cancel consumer", err);
}

wr_status mq_consumer_resume(struct mq_consumer *consumer, struct wr_error *err)
{
    if (consumer->consuming && check_channel(consumer, "resume", NULL) == WR_OK)
        return WR_OK;
    return start_consuming(consumer, err);
}

void mq_consumer_set_prefetch(struct mq_consumer *consumer, uint16_t prefetch)
{
    consumer->prefetch = prefetch;
}

bool mq_consumer_is_consuming(const struct mq_consumer *consumer)
{
    return consumer->consuming && check_channel(consumer, "consume", NULL) == WR_OK;
}
