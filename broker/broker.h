/* broker/: the one way warren talks to RabbitMQ.
 *
 * Built on rabbitmq-c (AMQP 0-9-1) and, for reading the broker's state, the
 * management HTTP API (libcurl + jansson). No amqp_* type leaves this folder.
 *
 * A connection (struct mq_conn) is one TCP connection with one channel and
 * is used by one thread at a time. Publishing and consuming use separate
 * connections (RabbitMQ advice: flow control on a publishing connection must
 * not stall consumers), so a worker holds one of each.
 *
 * Every fallible call returns wr_status and fills the caller's struct
 * wr_error (may be NULL) with what failed: connection, channel closed (with
 * the broker's reply code and text), nack, unroutable, timeout. */
#ifndef WARREN_BROKER_H
#define WARREN_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* ---- connection ------------------------------------------------------ */

struct mq_conn_options {
    const char *url;                  /* amqp://user:pass@host:port/vhost */
    const char *name;                 /* connection_name shown in the management UI; may be NULL */
    int heartbeat_s;                  /* 0 = broker default; 30 recommended. Heartbeats
                                       * are exchanged while conn reads (publisher poll,
                                       * consumer next): call one at least every
                                       * heartbeat_s / 2 or the broker drops conn. */
    int64_t connect_timeout_ms;       /* TCP connect + AMQP handshake; 0 = 5000 */
    int64_t reconnect_max_backoff_ms; /* cap of the doubling backoff; 0 = 30000 */
};

struct mq_conn;

/* Opens a connection and channel 1. Returns NULL on failure with err set.
 * The caller owns the result and frees it with mq_conn_close(). */
struct mq_conn *mq_conn_open(const struct mq_conn_options *options, struct wr_error *err);

/* Closes the channel and connection cleanly (best effort) and frees conn.
 * NULL is allowed. */
void mq_conn_close(struct mq_conn *conn);

/* True while the socket and channel are believed usable. */
bool mq_conn_is_open(const struct mq_conn *conn);

/* The socket of an open conn (-1 otherwise), only to poll() for POLLIN in
 * a caller's own event loop; never read or write it. Once a
 * mq_publisher_poll(pub, 0, ...) has returned, no complete frame is held
 * in memory, so waiting for the socket to become readable is safe. */
int mq_conn_socket(const struct mq_conn *conn);

/* Drops the current socket (if any) and connects again, sleeping with a
 * doubling backoff (100 ms up to reconnect_max_backoff_ms) between tries,
 * until it succeeds or deadline_ms (CLOCK_MONOTONIC ms, 0 = no deadline)
 * passes (WR_ERR_TIMEOUT). Consumers and publishers created on conn are
 * re-established by their own functions (see mq_consumer_resume). */
wr_status mq_conn_reconnect(struct mq_conn *conn, int64_t deadline_ms, struct wr_error *err)
    WR_MUST_CHECK;

/* Monotonic clock in milliseconds (for deadlines above). */
int64_t mq_now_ms(void);

/* ---- topology objects --------------------------------------------------- */

enum mq_exchange_type { MQ_EXCHANGE_DIRECT, MQ_EXCHANGE_TOPIC, MQ_EXCHANGE_FANOUT, MQ_EXCHANGE_HEADERS };
enum mq_queue_type { MQ_QUEUE_CLASSIC, MQ_QUEUE_QUORUM };
enum mq_overflow { MQ_OVERFLOW_DEFAULT, MQ_OVERFLOW_REJECT_PUBLISH };
enum mq_dead_letter_strategy { MQ_DL_DEFAULT, MQ_DL_AT_LEAST_ONCE };

/* Names as RabbitMQ spells them ("topic", "quorum", "reject-publish",
 * "at-least-once"); the parse functions return 0 or -1 if unknown. */
const char *mq_exchange_type_name(enum mq_exchange_type type);
int mq_exchange_type_parse(const char *name, enum mq_exchange_type *out);
const char *mq_queue_type_name(enum mq_queue_type type);
int mq_queue_type_parse(const char *name, enum mq_queue_type *out);

struct mq_exchange_spec {
    char *name;
    enum mq_exchange_type type; /* always durable, never auto-delete */
};

/* A durable queue and the x-arguments warren sets. Unset fields are not sent. */
struct mq_queue_spec {
    char *name;
    enum mq_queue_type type;             /* x-queue-type */
    int64_t message_ttl_ms;              /* x-message-ttl; 0 = not set */
    char *dead_letter_exchange;          /* x-dead-letter-exchange; NULL = not set ("" = default exchange) */
    char *dead_letter_routing_key;       /* x-dead-letter-routing-key; NULL = not set */
    enum mq_dead_letter_strategy dl_strategy; /* x-dead-letter-strategy (quorum only) */
    enum mq_overflow overflow;           /* x-overflow */
    int64_t max_length;                  /* x-max-length (messages); 0 = not set */
};

struct mq_binding_spec {
    char *exchange;
    char *queue;
    char *routing_key;
};

/* Declares (idempotently) on conn. A queue that exists with other
 * arguments gives WR_ERR_CHANNEL_CLOSED with reply_code 406 (the channel is
 * reopened before returning, so conn stays usable). */
wr_status mq_declare_exchange(struct mq_conn *conn, const struct mq_exchange_spec *spec,
                              struct wr_error *err) WR_MUST_CHECK;
wr_status mq_declare_queue(struct mq_conn *conn, const struct mq_queue_spec *spec,
                           struct wr_error *err) WR_MUST_CHECK;
wr_status mq_bind_queue(struct mq_conn *conn, const struct mq_binding_spec *spec,
                        struct wr_error *err) WR_MUST_CHECK;

/* Passive declare: exact message and consumer counts. WR_ERR_NOT_FOUND if
 * the queue does not exist (conn stays usable). */
wr_status mq_queue_inspect(struct mq_conn *conn, const char *queue, uint32_t *messages,
                           uint32_t *consumers, struct wr_error *err) WR_MUST_CHECK;

/* Deletes a queue / exchange (tests and tools). Missing is not an error. */
wr_status mq_delete_queue(struct mq_conn *conn, const char *queue, struct wr_error *err);
wr_status mq_delete_exchange(struct mq_conn *conn, const char *exchange, struct wr_error *err);
/* Removes all ready messages from a queue. */
wr_status mq_purge_queue(struct mq_conn *conn, const char *queue, struct wr_error *err);

/* ---- messages ------------------------------------------------------------ */

enum mq_header_kind { MQ_HEADER_STRING, MQ_HEADER_INT };

struct mq_header {
    const char *key;
    enum mq_header_kind kind;
    const char *string; /* MQ_HEADER_STRING */
    int64_t integer; /* MQ_HEADER_INT */
};

/* A message to publish. Strings are borrowed for the duration of the call.
 * NULL properties are not sent; message_id is required (it is also how a
 * basic.return is matched to its publish). */
struct mq_message {
    const char *exchange;    /* "" = default exchange */
    const char *routing_key;
    const void *body;
    size_t body_len;
    const char *message_id;
    const char *correlation_id;
    const char *type;
    const char *content_type;
    int64_t timestamp;       /* seconds since the epoch; 0 = not sent */
    bool persistent;         /* delivery_mode 2 */
    const struct mq_header *headers;
    size_t header_count;
};

/* Headers of warren's envelope: x-attempt, traceparent, x-storefront. */
#define MQ_ENVELOPE_HEADERS 3

/* Completes msg as warren's envelope (SPEC.md "Messages"): the routing key
 * is msg->type, the body JSON, persistent, the timestamp now, and the
 * headers x-attempt 1, traceparent and x-storefront (each left out when
 * NULL), written into headers. The caller sets exchange, type, body,
 * message_id and correlation_id (the order id); strings stay borrowed. */
void mq_envelope(struct mq_message *msg, struct mq_header headers[MQ_ENVELOPE_HEADERS],
                 const char *traceparent, const char *storefront);

/* ---- publisher (confirms, mandatory) ------------------------------------ */

/* Called once per publish when its fate is known: WR_OK (confirmed),
 * WR_ERR_NACK, WR_ERR_UNROUTABLE (returned, then confirmed), WR_ERR_TIMEOUT
 * (no confirm within confirm_timeout_ms), WR_ERR_CHANNEL_CLOSED (the broker
 * closed the channel first, e.g. reply_code 404 for a missing exchange;
 * the publisher reopens it and goes on) or WR_ERR_CONNECTION (lost before
 * confirm; the message may or may not be on the broker). detail explains
 * (never NULL; valid during the call only). publish_ctx is the pointer
 * given to mq_publish. The callback must not call mq_publish, poll, flush,
 * resume or destroy on the same publisher (they return WR_ERR_INVALID). */
typedef void (*mq_confirm_fn)(void *publish_ctx, wr_status result, const struct wr_error *detail,
                              void *user);

struct mq_publisher_options {
    size_t max_in_flight;       /* publishes awaiting confirm; mq_publish blocks beyond; 0 = 256 */
    int64_t confirm_timeout_ms; /* 0 = 5000 */
    mq_confirm_fn on_confirm;   /* required */
    void *user;                 /* passed to on_confirm */
    /* false: mq_publish writes its frames before it returns. true: they
     * wait in memory and a burst of publishes goes out in one write(), at
     * the next mq_publisher_poll/flush (or a mq_publish that finds 64 KiB
     * waiting): for a caller that publishes in bursts and then polls, as
     * the API's publisher thread does. */
    bool batch_writes;
};

struct mq_publisher;

/* Puts the channel of conn in confirm mode. conn must not be used for
 * consuming. Free with mq_publisher_destroy() before closing conn. */
struct mq_publisher *mq_publisher_create(struct mq_conn *conn,
                                         const struct mq_publisher_options *options,
                                         struct wr_error *err);

/* Fails every outstanding publish with WR_ERR_CONNECTION and frees. */
void mq_publisher_destroy(struct mq_publisher *pub);

/* Publishes with mandatory set. Returns as soon as the frames are written
 * (or, with batch_writes, queued for the next write);
 * the outcome arrives through on_confirm (from mq_publisher_poll or a later
 * mq_publish). If max_in_flight publishes are outstanding it first reads
 * confirms until one completes. A non-OK return means the message was not
 * sent (on_confirm is not called for it); on WR_ERR_CONNECTION every
 * outstanding publish has been failed through on_confirm, and the caller
 * may mq_conn_reconnect() then mq_publisher_resume(). */
wr_status mq_publish(struct mq_publisher *pub, const struct mq_message *msg, void *publish_ctx,
                     struct wr_error *err) WR_MUST_CHECK;

/* Reads confirms/returns for up to timeout_ms (0 = only what is already
 * buffered or readable now), calling on_confirm, and fails publishes
 * older than confirm_timeout_ms. A channel closed by the broker is
 * reported through on_confirm and recovered from (WR_OK); a lost
 * connection returns WR_ERR_CONNECTION. */
wr_status mq_publisher_poll(struct mq_publisher *pub, int64_t timeout_ms, struct wr_error *err)
    WR_MUST_CHECK;

/* Polls until nothing is outstanding or timeout_ms passes (WR_ERR_TIMEOUT). */
wr_status mq_publisher_flush(struct mq_publisher *pub, int64_t timeout_ms, struct wr_error *err)
    WR_MUST_CHECK;

/* Number of publishes awaiting their outcome. */
size_t mq_publisher_in_flight(const struct mq_publisher *pub);

/* After mq_conn_reconnect(): puts the new channel in confirm mode again. */
wr_status mq_publisher_resume(struct mq_publisher *pub, struct wr_error *err) WR_MUST_CHECK;

/* Publishes msg on conn without confirms and without mandatory: the
 * unconfirmed baseline of bench/publish, not for business messages (a
 * lost or unroutable message goes unnoticed). conn must carry no
 * publisher or consumer; broker-side errors (e.g. a missing exchange)
 * surface only in a later synchronous call on conn. WR_OK once the frames
 * are written to the socket. */
wr_status mq_publish_unconfirmed(struct mq_conn *conn, const struct mq_message *msg,
                                 struct wr_error *err) WR_MUST_CHECK;

/* ---- consumer (manual ack, prefetch) ------------------------------------ */

/* One received message; every string is a NUL-terminated copy (NULL when
 * the property was absent). Free with mq_delivery_free(). */
struct mq_delivery {
    uint64_t delivery_tag; /* opaque: pass to mq_ack/mq_nack (it also names the
                            * channel, so a tag from a closed channel is refused) */
    bool redelivered;
    char *exchange;
    char *routing_key;
    char *message_id;
    char *correlation_id;
    char *type;
    char *content_type;
    int64_t timestamp; /* 0 when absent */
    int delivery_mode; /* 0 when absent */
    struct mq_header *headers; /* header_count entries; other AMQP field kinds are skipped */
    size_t header_count;
    void *body;        /* body_len bytes, plus a NUL after them for convenience */
    size_t body_len;
};

void mq_delivery_free(struct mq_delivery *delivery);

/* Looks up a header by key; NULL if absent. */
const struct mq_header *mq_delivery_header(const struct mq_delivery *delivery, const char *key);

struct mq_consumer;

/* basic.qos(prefetch) then basic.consume(queue, manual ack) on conn.
 * conn must not be used for publishing. Free with mq_consumer_destroy(). */
struct mq_consumer *mq_consumer_create(struct mq_conn *conn, const char *queue, uint16_t prefetch,
                                       struct wr_error *err);

/* Cancels the consumer (best effort) and frees it. Unacked messages are
 * requeued by the broker when the channel or connection closes. */
void mq_consumer_destroy(struct mq_consumer *consumer);

/* Waits up to timeout_ms for the next delivery. WR_OK with *out set (the
 * caller frees it), WR_ERR_TIMEOUT if none arrived, WR_ERR_CONNECTION or
 * WR_ERR_CHANNEL_CLOSED if the link is gone (reconnect, then resume). */
wr_status mq_consumer_next(struct mq_consumer *consumer, int64_t timeout_ms,
                           struct mq_delivery **out, struct wr_error *err) WR_MUST_CHECK;

/* Acknowledges / rejects one delivery (requeue: back to the queue, else
 * dropped or dead-lettered). WR_ERR_CHANNEL_CLOSED if the delivery came on
 * a channel that has closed since (the broker has requeued it already). */
wr_status mq_ack(struct mq_consumer *consumer, uint64_t delivery_tag, struct wr_error *err)
    WR_MUST_CHECK;
wr_status mq_nack(struct mq_consumer *consumer, uint64_t delivery_tag, bool requeue,
                  struct wr_error *err) WR_MUST_CHECK;

/* Acknowledges, in one basic.ack with `multiple`, every delivery of the
 * consumer's channel up to and including delivery_tag that is not settled
 * yet: for a caller that settles deliveries in the order they came and has
 * settled every earlier one. Errors as for mq_ack. */
wr_status mq_ack_through(struct mq_consumer *consumer, uint64_t delivery_tag,
                         struct wr_error *err) WR_MUST_CHECK;

/* Stops new deliveries (basic.cancel) while keeping the channel open so
 * held messages can still be acked; used for graceful shutdown. */
wr_status mq_consumer_cancel(struct mq_consumer *consumer, struct wr_error *err);

/* After mq_conn_reconnect(): qos and consume again on the new channel.
 * After mq_consumer_cancel(): consume again on the same channel. A
 * consumer that is consuming on the current channel is left as it is. */
wr_status mq_consumer_resume(struct mq_consumer *consumer, struct wr_error *err) WR_MUST_CHECK;

/* Sets the prefetch of the consumer's next start (mq_consumer_resume after
 * a cancel or a reconnect): RabbitMQ applies basic.qos only to consumers
 * started after it, so a consuming consumer keeps its limit until then. */
void mq_consumer_set_prefetch(struct mq_consumer *consumer, uint16_t prefetch);

/* True while basic.consume is active on the current channel. */
bool mq_consumer_is_consuming(const struct mq_consumer *consumer);

/* ---- management HTTP API (read side) ------------------------------------ */

/* One queue as the broker reports it, with its x-arguments decoded. */
struct mq_live_queue {
    struct mq_queue_spec spec;
    bool durable;
    char *other_arguments; /* JSON of x-arguments warren does not set, or NULL */
    uint64_t messages;         /* ready + unacknowledged */
    uint64_t messages_unacked; /* delivered to consumers, not yet acked */
    uint64_t consumers;
    uint64_t redelivered;  /* deliveries flagged redelivered since the queue's stats began */
    double publish_rate;   /* messages/s published into the queue (the broker's last sample) */
    double deliver_rate;   /* messages/s delivered to consumers or fetched (deliver_get) */
};

struct mq_live_exchange {
    struct mq_exchange_spec spec;
    bool durable;
    bool auto_delete;
};

/* What the broker holds in one vhost (built-in amq.* and "" exchanges and
 * bindings from the default exchange are left out). */
struct mq_live_state {
    struct mq_live_exchange *exchanges;
    size_t exchange_count;
    struct mq_live_queue *queues;
    size_t queue_count;
    struct mq_binding_spec *bindings; /* exchange -> queue bindings only */
    size_t binding_count;
};

/* GETs /api/exchanges, /api/queues and /api/bindings of vhost (NULL = "/")
 * from management_url (http://user:pass@host:port; 5 s to connect, 10 s
 * per request). Fills *out, which the caller frees with
 * mq_live_state_free(); on failure *out is left empty. WR_ERR_HTTP (401,
 * unreachable, bad JSON; the message never shows the password) or
 * WR_ERR_NOT_FOUND (unknown vhost). Queue x-arguments that mq_queue_spec
 * cannot represent exactly (other keys, or values such as
 * x-overflow=drop-head) are kept in other_arguments as compact JSON with
 * sorted keys. Exchanges and queues of types warren does not model
 * (e.g. streams) are skipped with a warning. Uses libcurl: a threaded
 * program calls curl_global_init() first. */
wr_status mq_live_state_fetch(const char *management_url, const char *vhost,
                              struct mq_live_state *out, struct wr_error *err) WR_MUST_CHECK;
void mq_live_state_free(struct mq_live_state *state);

/* Frees the strings inside a spec (not the struct itself). */
void mq_queue_spec_clear(struct mq_queue_spec *spec);
void mq_exchange_spec_clear(struct mq_exchange_spec *spec);
void mq_binding_spec_clear(struct mq_binding_spec *spec);

#endif
