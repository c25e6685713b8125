/* Private declarations shared by the files of broker/: the connection
 * struct, the one translation from rabbitmq-c results to wr_status, and
 * the message property encoders/decoders. Never included outside broker/
 * (amqp_* types stay in this folder). */
#ifndef WARREN_BROKER_INTERNAL_H
#define WARREN_BROKER_INTERNAL_H

#include <amqp.h>

#include "broker/broker.h"

/* warren uses exactly one channel per connection. */
#define MQ_CHANNEL 1

/* Upper bound of an AMQP shortstr (names, routing keys, property strings). */
#define MQ_SHORTSTR_MAX 255

/* Lifecycle of struct mq_conn; changed only through mq__conn_set_state(). */
enum mq_conn_state {
    MQ_CONN_DOWN, /* no usable socket: never connected, lost, or closed by the broker */
    MQ_CONN_OPEN, /* socket logged in and channel MQ_CHANNEL open */
};

struct mq_conn {
    char *url;              /* owned copy of options->url */
    char *name;             /* owned copy of options->name, or NULL */
    char redacted_url[256]; /* url without the password, for messages */
    int heartbeat_s;
    int64_t connect_timeout_ms;
    int64_t max_backoff_ms;
    amqp_connection_state_t amqp; /* NULL until the first connect */
    enum mq_conn_state state;
    /* Bumped each time MQ_CHANNEL is (re)opened, so publishers and
     * consumers notice that their channel-scoped setup (confirm mode,
     * basic.consume, delivery tags) is gone. */
    uint32_t channel_gen;
    /* Why the channel or connection last went away (for outcomes of
     * publishes that were in flight at that moment). */
    struct wr_error last_error;
};

/* ---- conn.c ---------------------------------------------------------- */

/* THE translation of a rabbitmq-c result into wr_status (the only one in
 * warren). what names the operation for the message ("declare queue 'q'").
 * Side effects keep conn consistent:
 *  - channel.close from the broker: answers close-ok and reopens the
 *    channel (channel_gen changes); WR_ERR_CHANNEL_CLOSED with reply_code;
 *  - connection.close from the broker, socket errors, heartbeat timeouts,
 *    protocol errors: conn goes MQ_CONN_DOWN (WR_ERR_CONNECTION, with the
 *    broker's reply_code when there was one).
 * The reply's decoded method must still be valid (do not release buffers
 * before calling). Also records err in conn->last_error. */
wr_status mq__status_from_reply(struct mq_conn *conn, amqp_rpc_reply_t reply, const char *what,
                                struct wr_error *err);

/* Same for an int status returned by rabbitmq-c (amqp_basic_publish,
 * amqp_simple_wait_frame, ...): wraps it as a library exception. */
wr_status mq__status_from_library(struct mq_conn *conn, int amqp_status, const char *what,
                                  struct wr_error *err);

/* Same for a channel.close or connection.close method read as a frame. */
wr_status mq__status_from_method(struct mq_conn *conn, amqp_method_t method, const char *what,
                                 struct wr_error *err);

/* The reply of the last synchronous rabbitmq-c call on conn, translated. */
wr_status mq__last_reply(struct mq_conn *conn, const char *what, struct wr_error *err);

/* WR_OK if conn is MQ_CONN_OPEN, else WR_ERR_CONNECTION naming what. */
wr_status mq__require_open(struct mq_conn *conn, const char *what, struct wr_error *err);

/* Borrowed view of a C string as amqp_bytes_t (NULL gives empty bytes). */
amqp_bytes_t mq__bytes(const char *text);

/* ---- message.c --------------------------------------------------------- */

/* Header table entries kept on the stack before falling back to malloc. */
#define MQ_INLINE_HEADERS 16

/* basic.properties of one outgoing message; borrows msg's strings. */
struct mq__props {
    amqp_basic_properties_t amqp;
    amqp_table_entry_t inline_entries[MQ_INLINE_HEADERS];
    amqp_table_entry_t *heap_entries; /* when header_count > MQ_INLINE_HEADERS */
};

/* Validates msg (message_id present, shortstr lengths) and fills props.
 * WR_ERR_INVALID or WR_ERR_NOMEM on failure. Release with
 * mq__props_release() whatever the result. */
wr_status mq__props_build(struct mq__props *props, const struct mq_message *msg,
                          struct wr_error *err);
void mq__props_release(struct mq__props *props);

/* Copies an envelope into one allocation (freed by mq_delivery_free()).
 * delivery_tag is stored as given. */
wr_status mq__delivery_from_envelope(const amqp_envelope_t *envelope, uint64_t delivery_tag,
                                     struct mq_delivery **out, struct wr_error *err);

/* ---- spec.c ------------------------------------------------------------ */

/* "reject-publish" / "at-least-once", or NULL for the defaults. */
const char *mq__overflow_name(enum mq_overflow overflow);
const char *mq__dl_strategy_name(enum mq_dead_letter_strategy strategy);

#endif
