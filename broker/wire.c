/* Writing a publish to the socket: basic.publish, the content header and
 * the body frames of one message are encoded (with rabbitmq-c's public
 * encoders) into the conn's reusable buffer and sent with one send().
 * amqp_basic_publish() costs three send() calls per message, and on a
 * 2-core host the client's system calls take CPU from the broker. */
#include "broker/internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define FRAME_HEADER 7 /* type, channel, payload size */
#define FRAME_END_SIZE 1
#define METHOD_ROOM 1024 /* basic.publish: two shortstrs and a few bytes */
#define SEND_STALL_MS 30000

static void put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/* Writes the frame header for a payload of len bytes at p and the frame
 * end after it; returns the frame's total size. */
static size_t close_frame(unsigned char *p, uint8_t type, size_t len)
{
    p[0] = type;
    put16(p + 1, MQ_CHANNEL);
    put32(p + 3, (uint32_t)len);
    p[FRAME_HEADER + len] = AMQP_FRAME_END;
    return FRAME_HEADER + len + FRAME_END_SIZE;
}

static wr_status reserve(struct mq_conn *conn, size_t size, struct wr_error *err)
{
    if (size <= conn->out_cap)
        return WR_OK;
    unsigned char *grown = realloc(conn->out_buf, size);
    if (!grown)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory for a %zu byte publish", size);
    conn->out_buf = grown;
    conn->out_cap = size;
    return WR_OK;
}

static int encode_method(unsigned char *p, size_t room, const amqp_basic_publish_t *method,
                         size_t *len)
{
    put32(p + FRAME_HEADER, AMQP_BASIC_PUBLISH_METHOD);
    amqp_bytes_t out = {.len = room, .bytes = p + FRAME_HEADER + 4};
    int rc = amqp_encode_method(AMQP_BASIC_PUBLISH_METHOD, (void *)method, out);
    if (rc < 0)
        return rc;
    *len = close_frame(p, AMQP_FRAME_METHOD, (size_t)rc + 4);
    return AMQP_STATUS_OK;
}

static int encode_header(unsigned char *p, size_t room, const amqp_basic_properties_t *props,
                         size_t body_len, size_t *len)
{
    put16(p + FRAME_HEADER, AMQP_BASIC_CLASS);
    put16(p + FRAME_HEADER + 2, 0); /* weight */
    put64(p + FRAME_HEADER + 4, body_len);
    amqp_bytes_t out = {.len = room, .bytes = p + FRAME_HEADER + 12};
    int rc = amqp_encode_properties(AMQP_BASIC_CLASS, (void *)props, out);
    if (rc < 0)
        return rc;
    *len = close_frame(p, AMQP_FRAME_HEADER, (size_t)rc + 12);
    return AMQP_STATUS_OK;
}

static size_t encode_body(unsigned char *p, const void *body, size_t body_len, size_t chunk)
{
    size_t len = 0;
    for (size_t off = 0; off < body_len; off += chunk) {
        size_t n = body_len - off < chunk ? body_len - off : chunk;
        memcpy(p + len + FRAME_HEADER, (const char *)body + off, n);
        len += close_frame(p + len, AMQP_FRAME_BODY, n);
    }
    return len;
}

/* Encodes the three parts into conn->out_buf; *len is the total. */
static wr_status encode(struct mq_conn *conn, const amqp_basic_publish_t *method,
                        const amqp_basic_properties_t *props, const struct mq_message *msg,
                        size_t *len, struct wr_error *err)
{
    size_t frame_max = (size_t)amqp_get_frame_max(conn->amqp);
    size_t chunk = frame_max - FRAME_HEADER - FRAME_END_SIZE;
    size_t frames = (msg->body_len + chunk - 1) / chunk;
    size_t header_room = frame_max; /* a content header must fit in one frame */
    if (reserve(conn, METHOD_ROOM + header_room + msg->body_len + frames * 8, err) != WR_OK)
        return WR_ERR_NOMEM;
    unsigned char *p = conn->out_buf;
    size_t method_len = 0, header_len = 0;
    int rc = encode_method(p, METHOD_ROOM - 16, method, &method_len);
    if (rc == AMQP_STATUS_OK)
        rc = encode_header(p + method_len, header_room - 32, props, msg->body_len, &header_len);
    if (rc != AMQP_STATUS_OK)
        return wr_error_set(err, WR_ERR_INVALID, "cannot encode the message: %s",
                            amqp_error_string2(rc));
    *len = method_len + header_len;
    *len += encode_body(p + *len, msg->body, msg->body_len, chunk);
    return WR_OK;
}

/* Sends len bytes, waiting (poll) while the socket buffer is full. */
static int send_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int ready = poll(&pfd, 1, SEND_STALL_MS);
            if (ready > 0 || (ready < 0 && errno == EINTR))
                continue;
            return ready == 0 ? AMQP_STATUS_TIMEOUT : AMQP_STATUS_SOCKET_ERROR;
        }
        return AMQP_STATUS_SOCKET_ERROR;
    }
    return AMQP_STATUS_OK;
}

wr_status mq__send_publish(struct mq_conn *conn, const struct mq_message *msg,
                           const amqp_basic_properties_t *props, bool mandatory,
                           struct wr_error *err)
{
    amqp_basic_publish_t method = {.exchange = mq__bytes(msg->exchange),
                                   .routing_key = amqp_cstring_bytes(msg->routing_key),
                                   .mandatory = mandatory ? 1 : 0};
    size_t len = 0;
    wr_status status = encode(conn, &method, props, msg, &len, err);
    if (status != WR_OK)
        return status;
    int rc = send_all(amqp_get_sockfd(conn->amqp), conn->out_buf, len);
    return mq__status_from_library(conn, rc, "publish", err);
}
