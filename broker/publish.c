/* The confirming publisher: mandatory publishes with many in flight,
 * tracked in a ring indexed by delivery tag, settled by basic.ack /
 * basic.nack (single or multiple) and matched to basic.return by
 * message_id; plus the unconfirmed baseline used by bench/publish.
 * A publish's three frames (basic.publish, content header, body) are
 * encoded here into one buffer and written with one send(), or a burst
 * of publishes with one (batch_writes): rabbitmq-c's amqp_basic_publish
 * makes a system call per frame. */
#include "broker/internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/grow.h"
#include "core/log.h"

#define DEFAULT_MAX_IN_FLIGHT 256
#define DEFAULT_CONFIRM_TIMEOUT_MS 5000
/* Between blocking waits, the socket is checked for confirms once every
 * this many publishes, so callbacks run promptly without a syscall each. */
#define POLL_EVERY 32
/* With batch_writes, frames waiting beyond this are written at once. */
#define BATCH_WRITE_BYTES (64 * 1024)
/* AMQP frame: type (1), channel (2), payload size (4), payload, end (1). */
#define FRAME_HEADER_SIZE 7
#define FRAME_END 0xCE
/* basic.publish's arguments: two shortstrs (at most 256 bytes each) and a few more. */
#define METHOD_FRAME_MAX 1024

/* One publish awaiting its outcome; it lives in ring[tag % max_in_flight]. */
struct inflight {
    void *ctx;
    int64_t sent_ms;
    uint64_t id_hash; /* route_hash(), to match a basic.return */
    char *returned;   /* why the broker returned it (then it is unroutable), or NULL */
    bool pending;
};

struct mq_publisher {
    struct mq_conn *conn;
    mq_confirm_fn on_confirm;
    void *user;
    size_t max_in_flight;
    int64_t confirm_timeout_ms;
    uint32_t channel_gen; /* conn->channel_gen when confirm mode was set; 0 = not set */
    struct inflight *ring;
    uint64_t head;  /* oldest tag whose slot is occupied (== next when empty) */
    uint64_t next;  /* tag of the next publish (confirm mode numbers from 1) */
    size_t pending; /* publishes whose outcome is not reported yet */
    unsigned since_poll;
    bool in_callback;
    bool batch_writes;
    struct wr_error ok_detail; /* passed with WR_OK outcomes */
    /* encoded frames not written yet (see write_frames) */
    unsigned char *out;
    size_t out_len, out_cap;
};

static struct inflight *slot(struct mq_publisher *pub, uint64_t tag)
{
    return &pub->ring[tag % pub->max_in_flight];
}

/* FNV-1a, continued from h over len bytes. */
static uint64_t hash_more(uint64_t h, const void *bytes, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= ((const unsigned char *)bytes)[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* What a basic.return is matched on: message_id, exchange and routing key
 * (a return carries all three). Publishes in flight with the same three
 * are routed alike, so which of them a return marks does not matter. The
 * 64-bit hash is compared only among publishes in flight. */
static uint64_t route_hash(amqp_bytes_t message_id, amqp_bytes_t exchange, amqp_bytes_t key)
{
    uint64_t h = hash_more(14695981039346656037ULL, message_id.bytes, message_id.len);
    h = hash_more(h, "\n", 1);
    h = hash_more(h, exchange.bytes, exchange.len);
    h = hash_more(h, "\n", 1);
    return hash_more(h, key.bytes, key.len);
}

/* ---- settling outcomes --------------------------------------------------- */

static void report(struct mq_publisher *pub, struct inflight *entry, wr_status status,
                   const struct wr_error *detail)
{
    entry->pending = false;
    pub->pending--;
    pub->in_callback = true;
    pub->on_confirm(entry->ctx, status, detail, pub->user);
    pub->in_callback = false;
    free(entry->returned);
    entry->returned = NULL;
}

/* Settles tag with status (WR_OK, WR_ERR_NACK or WR_ERR_TIMEOUT). */
static void settle(struct mq_publisher *pub, uint64_t tag, wr_status status)
{
    struct inflight *entry = slot(pub, tag);
    if (status == WR_OK && !entry->returned) {
        report(pub, entry, WR_OK, &pub->ok_detail);
        return;
    }
    struct wr_error detail;
    if (status == WR_OK)
        wr_error_set(&detail, WR_ERR_UNROUTABLE, "%s", entry->returned);
    else if (status == WR_ERR_NACK)
        wr_error_set(&detail, status,
                     "the broker nacked the publish (e.g. a full queue with "
                     "x-overflow=reject-publish, or an internal error)");
    else
        wr_error_set(&detail, status, "no confirm from the broker within %lld ms",
                     (long long)pub->confirm_timeout_ms);
    report(pub, entry, detail.code, &detail);
}

static void advance_head(struct mq_publisher *pub)
{
    while (pub->head < pub->next && !slot(pub, pub->head)->pending)
        pub->head++;
}

/* Reports every outstanding publish as failed with why (its code is the
 * status) and empties the ring. */
static void fail_all(struct mq_publisher *pub, const struct wr_error *why)
{
    for (uint64_t tag = pub->head; tag < pub->next; tag++) {
        struct inflight *entry = slot(pub, tag);
        if (entry->pending)
            report(pub, entry, why->code, why);
    }
    pub->head = pub->next;
}

static void on_confirm_frame(struct mq_publisher *pub, uint64_t tag, bool multiple,
                             wr_status status)
{
    if (tag >= pub->next) {
        wr_log(WR_LOG_WARN, "broker", "confirm for unknown delivery tag %llu",
               (unsigned long long)tag);
        tag = pub->next - 1;
    }
    uint64_t first = multiple ? pub->head : tag;
    for (uint64_t t = first < pub->head ? pub->head : first; t <= tag; t++) {
        if (slot(pub, t)->pending)
            settle(pub, t, status);
    }
    advance_head(pub);
}

/* Fails publishes older than confirm_timeout_ms (they sit at the head). */
static void expire(struct mq_publisher *pub, int64_t now)
{
    while (pub->head < pub->next) {
        struct inflight *entry = slot(pub, pub->head);
        if (entry->pending && now - entry->sent_ms < pub->confirm_timeout_ms)
            return;
        if (entry->pending)
            settle(pub, pub->head, WR_ERR_TIMEOUT);
        pub->head++;
    }
}

/* ---- encoding and writing frames ---------------------------------------- */

static void put_u16(unsigned char *at, uint16_t v)
{
    at[0] = (unsigned char)(v >> 8);
    at[1] = (unsigned char)v;
}

static void put_u32(unsigned char *at, uint32_t v)
{
    put_u16(at, (uint16_t)(v >> 16));
    put_u16(at + 2, (uint16_t)v);
}

static void put_u64(unsigned char *at, uint64_t v)
{
    put_u32(at, (uint32_t)(v >> 32));
    put_u32(at + 4, (uint32_t)v);
}

/* Makes room for `more` bytes after the frames already waiting. */
static bool reserve(struct mq_publisher *pub, size_t more)
{
    while (pub->out_len + more > pub->out_cap) {
        if (!wr_grow(&pub->out, &pub->out_cap, pub->out_cap, 1, 16 * 1024))
            return false;
    }
    return true;
}

/* Closes the frame whose header starts at out[start]: its size and end octet. */
static void end_frame(struct mq_publisher *pub, size_t start)
{
    put_u32(pub->out + start + 3, (uint32_t)(pub->out_len - start - FRAME_HEADER_SIZE));
    pub->out[pub->out_len++] = FRAME_END;
}

static size_t begin_frame(struct mq_publisher *pub, uint8_t type)
{
    size_t start = pub->out_len;
    pub->out[start] = type;
    put_u16(pub->out + start + 1, MQ_CHANNEL);
    pub->out_len += FRAME_HEADER_SIZE;
    return start;
}

/* Appends basic.publish (mandatory), the content header and the body
 * frames of one message; on failure nothing is appended. The encoding of
 * the method's arguments and of the properties is rabbitmq-c's. */
static wr_status encode_publish(struct mq_publisher *pub, const struct mq_message *msg,
                                const struct mq__props *props, struct wr_error *err)
{
    size_t frame_max = (size_t)amqp_get_frame_max(pub->conn->amqp); /* at least 4096 */
    size_t chunk = frame_max - FRAME_HEADER_SIZE - 1;
    size_t body_frames = (msg->body_len + chunk - 1) / chunk;
    size_t before = pub->out_len;
    /* the method frame fits in one small frame, the header in one frame */
    if (!reserve(pub, METHOD_FRAME_MAX + frame_max + msg->body_len +
                          body_frames * (FRAME_HEADER_SIZE + 1)))
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory for a publish's frames");
    amqp_basic_publish_t method = {.exchange = mq__bytes(msg->exchange),
                                   .routing_key = amqp_cstring_bytes(msg->routing_key),
                                   .mandatory = 1};
    size_t start = begin_frame(pub, AMQP_FRAME_METHOD);
    put_u32(pub->out + pub->out_len, AMQP_BASIC_PUBLISH_METHOD);
    amqp_bytes_t room = {.len = METHOD_FRAME_MAX - FRAME_HEADER_SIZE - 5,
                         .bytes = pub->out + pub->out_len + 4};
    int n = amqp_encode_method(AMQP_BASIC_PUBLISH_METHOD, &method, room);
    if (n < 0)
        goto too_big;
    pub->out_len += 4 + (size_t)n;
    end_frame(pub, start);
    start = begin_frame(pub, AMQP_FRAME_HEADER);
    put_u16(pub->out + pub->out_len, AMQP_BASIC_CLASS);
    put_u16(pub->out + pub->out_len + 2, 0); /* weight */
    put_u64(pub->out + pub->out_len + 4, msg->body_len);
    room = (amqp_bytes_t){.len = frame_max - FRAME_HEADER_SIZE - 13,
                          .bytes = pub->out + pub->out_len + 12};
    n = amqp_encode_properties(AMQP_BASIC_CLASS, (void *)&props->amqp, room);
    if (n < 0)
        goto too_big;
    pub->out_len += 12 + (size_t)n;
    end_frame(pub, start);
    for (size_t at = 0; at < msg->body_len; at += chunk) {
        size_t len = msg->body_len - at < chunk ? msg->body_len - at : chunk;
        start = begin_frame(pub, AMQP_FRAME_BODY);
        memcpy(pub->out + pub->out_len, (const char *)msg->body + at, len);
        pub->out_len += len;
        end_frame(pub, start);
    }
    return WR_OK;
too_big:
    pub->out_len = before;
    return wr_error_set(err, WR_ERR_INVALID,
                        "the message's routing or properties do not fit in a %zu-byte frame",
                        frame_max);
}

/* Writes every waiting frame to the broker's socket (non-blocking: waits
 * for room up to confirm_timeout_ms). On failure the connection is down
 * and every publish in flight has been failed. */
static wr_status write_frames(struct mq_publisher *pub, struct wr_error *err)
{
    struct mq_conn *conn = pub->conn;
    size_t done = 0;
    int fd = amqp_get_sockfd(conn->amqp);
    int64_t deadline = mq_now_ms() + pub->confirm_timeout_ms;
    while (done < pub->out_len) {
        ssize_t n = send(fd, pub->out + done, pub->out_len - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        int64_t left = deadline - mq_now_ms();
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && left > 0) {
            struct pollfd room = {.fd = fd, .events = POLLOUT};
            (void)poll(&room, 1, (int)left);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        pub->out_len = 0;
        wr_status status = mq__status_from_library(
            conn, left > 0 ? AMQP_STATUS_SOCKET_ERROR : AMQP_STATUS_TIMEOUT, "publish", err);
        fail_all(pub, &conn->last_error);
        return status;
    }
    pub->out_len = 0;
    return WR_OK;
}

/* ---- confirm mode ---------------------------------------------------------- */

/* Puts the current channel in confirm mode. Publishes still outstanding
 * were sent on a channel that is gone: their outcome is unknown. */
static wr_status select_confirms(struct mq_publisher *pub, struct wr_error *err)
{
    struct mq_conn *conn = pub->conn;
    struct wr_error why = conn->last_error;
    if (why.code != WR_ERR_CONNECTION && why.code != WR_ERR_CHANNEL_CLOSED)
        wr_error_set(&why, WR_ERR_CONNECTION, "the channel was replaced before the confirm");
    fail_all(pub, &why);
    pub->out_len = 0; /* frames for the channel that is gone */
    pub->head = pub->next = 1;
    pub->channel_gen = 0;
    wr_status status = mq__require_open(conn, "confirm.select", err);
    if (status != WR_OK)
        return status;
    amqp_confirm_select(conn->amqp, MQ_CHANNEL);
    status = mq__last_reply(conn, "confirm.select", err);
    if (status == WR_OK)
        pub->channel_gen = conn->channel_gen;
    return status;
}

/* Makes sure the publisher's channel is the conn's current one, in
 * confirm mode; fails what was in flight when the link changed. */
static wr_status sync_channel(struct mq_publisher *pub, struct wr_error *err)
{
    if (pub->conn->state != MQ_CONN_OPEN) {
        struct wr_error why;
        mq__require_open(pub->conn, "publish", &why);
        pub->out_len = 0;
        fail_all(pub, &why);
        return mq__require_open(pub->conn, "publish", err);
    }
    if (pub->channel_gen == pub->conn->channel_gen)
        return WR_OK;
    return select_confirms(pub, err);
}

/* ---- reading frames ---------------------------------------------------------- */

static char *return_text(const amqp_basic_return_t *ret)
{
    char text[1024];
    snprintf(text, sizeof text,
             "returned by the broker as unroutable: %u %.*s (exchange '%.*s', routing key "
             "'%.*s')",
             ret->reply_code, (int)ret->reply_text.len, (const char *)ret->reply_text.bytes,
             (int)ret->exchange.len, (const char *)ret->exchange.bytes, (int)ret->routing_key.len,
             (const char *)ret->routing_key.bytes);
    return strdup(text);
}

/* Marks the oldest pending, not yet returned publish with this id,
 * exchange and routing key. */
static void mark_returned(struct mq_publisher *pub, const amqp_basic_return_t *ret,
                          const amqp_basic_properties_t *props, char *text)
{
    if (props->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
        uint64_t h = route_hash(props->message_id, ret->exchange, ret->routing_key);
        for (uint64_t tag = pub->head; tag < pub->next; tag++) {
            struct inflight *entry = slot(pub, tag);
            if (entry->pending && !entry->returned && entry->id_hash == h) {
                entry->returned = text;
                return;
            }
        }
    }
    wr_log(WR_LOG_WARN, "broker", "basic.return matches no publish in flight: %s",
           text ? text : "");
    free(text);
}

/* basic.return: the content (header and body frames) follows. */
static wr_status on_return(struct mq_publisher *pub, const amqp_basic_return_t *ret,
                           struct wr_error *err)
{
    char *text = return_text(ret);
    amqp_message_t message;
    amqp_rpc_reply_t reply = amqp_read_message(pub->conn->amqp, MQ_CHANNEL, &message, 0);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
        free(text);
        return mq__status_from_reply(pub->conn, reply, "reading a basic.return", err);
    }
    mark_returned(pub, ret, &message.properties, text);
    amqp_destroy_message(&message);
    return WR_OK;
}

/* channel.close or connection.close while publishing: everything in
 * flight is lost. After a channel close the channel has been reopened
 * and confirm mode is set again, so the publisher goes on (WR_OK). */
static wr_status on_close(struct mq_publisher *pub, amqp_method_t method, struct wr_error *err)
{
    struct wr_error why;
    wr_status status = mq__status_from_method(pub->conn, method, "publish", &why);
    wr_log(WR_LOG_WARN, "broker", "%s", why.message);
    fail_all(pub, &why);
    if (status == WR_ERR_CHANNEL_CLOSED && pub->conn->state == MQ_CONN_OPEN)
        return select_confirms(pub, err);
    if (err)
        *err = why;
    return status;
}

static wr_status on_method(struct mq_publisher *pub, amqp_method_t method, struct wr_error *err)
{
    switch (method.id) {
    case AMQP_BASIC_ACK_METHOD: {
        const amqp_basic_ack_t *ack = method.decoded;
        on_confirm_frame(pub, ack->delivery_tag, ack->multiple, WR_OK);
        return WR_OK;
    }
    case AMQP_BASIC_NACK_METHOD: {
        const amqp_basic_nack_t *nack = method.decoded;
        on_confirm_frame(pub, nack->delivery_tag, nack->multiple, WR_ERR_NACK);
        return WR_OK;
    }
    case AMQP_BASIC_RETURN_METHOD:
        return on_return(pub, method.decoded, err);
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD:
        return on_close(pub, method, err);
    case AMQP_CONNECTION_BLOCKED_METHOD:
        wr_log(WR_LOG_WARN, "broker", "the broker blocks publishing (resource alarm)");
        return WR_OK;
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
        wr_log(WR_LOG_INFO, "broker", "the broker unblocked publishing");
        return WR_OK;
    default:
        wr_log(WR_LOG_DEBUG, "broker", "publisher ignores method 0x%08x", (unsigned)method.id);
        return WR_OK;
    }
}

/* Reads one frame (waiting up to timeout_ms) and handles it; *got says
 * whether there was one. */
static wr_status read_one(struct mq_publisher *pub, int64_t timeout_ms, bool *got,
                          struct wr_error *err)
{
    struct mq_conn *conn = pub->conn;
    struct timeval tv = {.tv_sec = (time_t)(timeout_ms / 1000),
                         .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000};
    amqp_frame_t frame;
    *got = false;
    int rc = amqp_simple_wait_frame_noblock(conn->amqp, &frame, &tv);
    if (rc == AMQP_STATUS_TIMEOUT)
        return WR_OK;
    if (rc != AMQP_STATUS_OK) {
        wr_status status = mq__status_from_library(conn, rc, "reading confirms", err);
        fail_all(pub, &conn->last_error);
        return status;
    }
    *got = true;
    if (frame.frame_type != AMQP_FRAME_METHOD)
        return WR_OK; /* stray content frame: nothing to settle */
    return on_method(pub, frame.payload.method, err);
}

/* Waits up to timeout_ms for a frame, then handles whatever else is
 * already readable without waiting. */
static wr_status read_frames(struct mq_publisher *pub, int64_t timeout_ms, struct wr_error *err)
{
    bool got;
    if (pub->out_len > 0) { /* what is awaited must have been sent */
        wr_status status = write_frames(pub, err);
        if (status != WR_OK)
            return status;
    }
    wr_status status = read_one(pub, timeout_ms, &got, err);
    while (status == WR_OK && got && pub->conn->state == MQ_CONN_OPEN)
        status = read_one(pub, 0, &got, err);
    if (pub->conn->state == MQ_CONN_OPEN)
        amqp_maybe_release_buffers(pub->conn->amqp);
    pub->since_poll = 0;
    return status;
}

/* Milliseconds until the oldest publish times out (at least 1). */
static int64_t until_expiry(const struct mq_publisher *pub, int64_t now)
{
    const struct inflight *entry = &pub->ring[pub->head % pub->max_in_flight];
    int64_t left = entry->sent_ms + pub->confirm_timeout_ms - now;
    return left > 0 ? left : 1;
}

/* Blocks until a slot is free (max_in_flight not reached). */
static wr_status make_room(struct mq_publisher *pub, struct wr_error *err)
{
    for (;;) {
        int64_t now = mq_now_ms();
        expire(pub, now);
        if (pub->next - pub->head < pub->max_in_flight)
            return WR_OK;
        wr_status status = read_frames(pub, until_expiry(pub, now), err);
        if (status == WR_OK)
            status = sync_channel(pub, err);
        if (status != WR_OK)
            return status;
    }
}

/* ---- public API ------------------------------------------------------------ */

struct mq_publisher *mq_publisher_create(struct mq_conn *conn,
                                         const struct mq_publisher_options *options,
                                         struct wr_error *err)
{
    if (!conn || !options || !options->on_confirm) {
        wr_error_set(err, WR_ERR_INVALID, "mq_publisher_create: conn and on_confirm required");
        return NULL;
    }
    struct mq_publisher *pub = calloc(1, sizeof *pub);
    size_t max = options->max_in_flight ? options->max_in_flight : DEFAULT_MAX_IN_FLIGHT;
    struct inflight *ring = calloc(max, sizeof *ring);
    if (!pub || !ring) {
        free(pub);
        free(ring);
        wr_error_set(err, WR_ERR_NOMEM, "out of memory for %zu publishes in flight", max);
        return NULL;
    }
    *pub = (struct mq_publisher){
        .conn = conn,
        .on_confirm = options->on_confirm,
        .user = options->user,
        .max_in_flight = max,
        .confirm_timeout_ms = options->confirm_timeout_ms > 0 ? options->confirm_timeout_ms
                                                              : DEFAULT_CONFIRM_TIMEOUT_MS,
        .ring = ring,
        .batch_writes = options->batch_writes,
        .head = 1,
        .next = 1,
    };
    if (select_confirms(pub, err) != WR_OK) {
        mq_publisher_destroy(pub);
        return NULL;
    }
    return pub;
}

void mq_publisher_destroy(struct mq_publisher *pub)
{
    if (!pub)
        return;
    struct wr_error why;
    wr_error_set(&why, WR_ERR_CONNECTION, "publisher destroyed before the broker confirmed");
    fail_all(pub, &why);
    free(pub->out);
    free(pub->ring);
    free(pub);
}

static wr_status check_not_in_callback(const struct mq_publisher *pub, struct wr_error *err)
{
    if (pub->in_callback)
        return wr_error_set(err, WR_ERR_INVALID, "publisher used from its on_confirm callback");
    return WR_OK;
}

/* Encodes the frames, writes them (now, or with the burst when
 * batch_writes) and records the publish under the next tag. */
static wr_status send_publish(struct mq_publisher *pub, const struct mq_message *msg,
                              const struct mq__props *props, void *publish_ctx,
                              struct wr_error *err)
{
    wr_status status = encode_publish(pub, msg, props, err);
    if (status == WR_OK && (!pub->batch_writes || pub->out_len >= BATCH_WRITE_BYTES))
        status = write_frames(pub, err);
    if (status != WR_OK)
        return status;
    struct inflight *entry = slot(pub, pub->next++);
    *entry = (struct inflight){
        .ctx = publish_ctx,
        .sent_ms = mq_now_ms(),
        .id_hash = route_hash(props->amqp.message_id, mq__bytes(msg->exchange),
                              amqp_cstring_bytes(msg->routing_key)),
        .pending = true,
    };
    pub->pending++;
    return WR_OK;
}

wr_status mq_publish(struct mq_publisher *pub, const struct mq_message *msg, void *publish_ctx,
                     struct wr_error *err)
{
    struct mq__props props;
    wr_status status = check_not_in_callback(pub, err);
    if (status == WR_OK)
        status = mq__props_build(&props, msg, err);
    else
        props.heap_entries = NULL;
    if (status == WR_OK)
        status = sync_channel(pub, err);
    if (status == WR_OK)
        status = make_room(pub, err);
    if (status == WR_OK)
        status = send_publish(pub, msg, &props, publish_ctx, err);
    mq__props_release(&props);
    if (status != WR_OK)
        return status;
    /* Confirms for earlier publishes are handled now and then without
     * blocking; a lost link shows in the next call's result. */
    if (++pub->since_poll >= POLL_EVERY || amqp_data_in_buffer(pub->conn->amqp))
        (void)read_frames(pub, 0, NULL);
    return WR_OK;
}

wr_status mq_publisher_poll(struct mq_publisher *pub, int64_t timeout_ms, struct wr_error *err)
{
    wr_status status = check_not_in_callback(pub, err);
    if (status == WR_OK)
        status = sync_channel(pub, err);
    if (status == WR_OK)
        status = read_frames(pub, timeout_ms > 0 ? timeout_ms : 0, err);
    if (status == WR_OK)
        status = sync_channel(pub, err);
    expire(pub, mq_now_ms());
    return status;
}

wr_status mq_publisher_flush(struct mq_publisher *pub, int64_t timeout_ms, struct wr_error *err)
{
    int64_t deadline = mq_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    wr_status status = check_not_in_callback(pub, err);
    while (status == WR_OK && pub->pending > 0) {
        int64_t now = mq_now_ms();
        expire(pub, now);
        if (pub->pending == 0)
            break;
        if (now >= deadline)
            return wr_error_set(err, WR_ERR_TIMEOUT,
                                "%zu publishes still unconfirmed after %lld ms", pub->pending,
                                (long long)timeout_ms);
        int64_t wait = until_expiry(pub, now);
        status = sync_channel(pub, err);
        if (status == WR_OK)
            status = read_frames(pub, wait < deadline - now ? wait : deadline - now, err);
    }
    return status;
}

size_t mq_publisher_in_flight(const struct mq_publisher *pub)
{
    return pub->pending;
}

wr_status mq_publisher_resume(struct mq_publisher *pub, struct wr_error *err)
{
    wr_status status = check_not_in_callback(pub, err);
    if (status == WR_OK)
        status = sync_channel(pub, err);
    return status;
}

wr_status mq_publish_unconfirmed(struct mq_conn *conn, const struct mq_message *msg,
                                 struct wr_error *err)
{
    struct mq__props props;
    wr_status status = mq__props_build(&props, msg, err);
    if (status == WR_OK)
        status = mq__require_open(conn, "publish", err);
    if (status == WR_OK) {
        amqp_bytes_t body = {.len = msg->body_len, .bytes = (void *)msg->body};
        int rc = amqp_basic_publish(conn->amqp, MQ_CHANNEL, mq__bytes(msg->exchange),
                                    amqp_cstring_bytes(msg->routing_key), 0, 0, &props.amqp, body);
        status = mq__status_from_library(conn, rc, "publish", err);
    }
    mq__props_release(&props);
    return status;
}
