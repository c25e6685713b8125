/* Connections: open from an amqp:// URL (login with heartbeats, channel 1),
 * clean close, reconnect with a doubling backoff, and the single place
 * where rabbitmq-c results become wr_status (mq__status_from_reply). */
#include "broker/internal.h"

#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_MAX_BACKOFF_MS 30000
#define FIRST_BACKOFF_MS 100
/* Synchronous AMQP methods (declare, qos, ...) that take longer than this
 * mean the broker is unwell; the connection is then treated as lost. */
#define RPC_TIMEOUT_MS 30000
/* rabbitmq-c takes the lower of the broker's proposal and ours, so asking
 * for the maximum gives the broker's default (mq_conn_options: 0). */
#define HEARTBEAT_BROKER_DEFAULT 0xFFFF

static void set_state(struct mq_conn *conn, enum mq_conn_state state)
{
    conn->state = state;
}

/* Appends text to err's message (truncating), if err is set. */
static void error_append(struct wr_error *err, const char *text)
{
    if (!err)
        return;
    size_t len = strlen(err->message);
    snprintf(err->message + len, sizeof err->message - len, "%s", text);
}

int64_t mq_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

amqp_bytes_t mq__bytes(const char *text)
{
    return text ? amqp_cstring_bytes(text) : amqp_empty_bytes;
}

static struct timeval timeval_ms(int64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

/* ---- translation --------------------------------------------------------- */

static wr_status from_library_error(struct mq_conn *conn, int code, const char *what,
                                    struct wr_error *err)
{
    wr_status status = WR_ERR_CONNECTION;
    if (code == AMQP_STATUS_TIMEOUT)
        status = WR_ERR_TIMEOUT;
    else if (code == AMQP_STATUS_NO_MEMORY)
        status = WR_ERR_NOMEM;
    else if (code == AMQP_STATUS_BAD_AMQP_DATA || code == AMQP_STATUS_UNKNOWN_CLASS ||
             code == AMQP_STATUS_UNKNOWN_METHOD || code == AMQP_STATUS_WRONG_METHOD ||
             code == AMQP_STATUS_UNEXPECTED_STATE || code == AMQP_STATUS_TABLE_TOO_BIG)
        status = WR_ERR_PROTOCOL;
    /* After any of these the byte stream (or the broker) cannot be trusted. */
    set_state(conn, MQ_CONN_DOWN);
    return wr_error_set(err, status, "%s: %s (%s)", what, amqp_error_string2(code),
                        conn->redacted_url);
}

/* Frames rabbitmq-c queued while a synchronous call waited for its reply
 * (acks, deliveries) were sent before the broker closed the channel: they
 * are stale, and acks or delivery tags of the old channel must not reach
 * the publisher or consumer of the new one. (Only the channel is in use;
 * a queued connection.blocked notice is lost with them.) */
static void discard_queued_frames(struct mq_conn *conn)
{
    amqp_frame_t frame;
    struct timeval now = {0, 0};
    while (amqp_frames_enqueued(conn->amqp) &&
           amqp_simple_wait_frame_noblock(conn->amqp, &frame, &now) == AMQP_STATUS_OK) {
    }
}

/* Answers channel.close-ok and opens the channel again. */
static wr_status reopen_channel(struct mq_conn *conn, struct wr_error *err)
{
    discard_queued_frames(conn);
    amqp_channel_close_ok_t close_ok = {0};
    int rc = amqp_send_method(conn->amqp, MQ_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
    if (rc != AMQP_STATUS_OK)
        return from_library_error(conn, rc, "answering channel.close", err);
    amqp_channel_open(conn->amqp, MQ_CHANNEL);
    amqp_rpc_reply_t reply = amqp_get_rpc_reply(conn->amqp);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
        set_state(conn, MQ_CONN_DOWN);
        return wr_error_set(err, WR_ERR_CONNECTION, "reopening the channel failed");
    }
    conn->channel_gen++;
    return WR_OK;
}

static wr_status from_channel_close(struct mq_conn *conn, const amqp_channel_close_t *close,
                                    const char *what, struct wr_error *err)
{
    wr_error_set(err, WR_ERR_CHANNEL_CLOSED, "%s: channel closed by the broker: %.*s", what,
                 (int)close->reply_text.len, (const char *)close->reply_text.bytes);
    if (err)
        err->reply_code = close->reply_code;
    struct wr_error reopen_err;
    if (reopen_channel(conn, &reopen_err) != WR_OK) {
        wr_log(WR_LOG_WARN, "broker", "%s", reopen_err.message);
        error_append(err, "; reopening the channel failed: the connection is down");
    }
    return WR_ERR_CHANNEL_CLOSED;
}

static wr_status from_connection_close(struct mq_conn *conn, const amqp_connection_close_t *close,
                                       const char *what, struct wr_error *err)
{
    amqp_connection_close_ok_t close_ok = {0};
    (void)amqp_send_method(conn->amqp, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &close_ok);
    set_state(conn, MQ_CONN_DOWN);
    wr_error_set(err, WR_ERR_CONNECTION, "%s: connection closed by the broker: %.*s (%s)", what,
                 (int)close->reply_text.len, (const char *)close->reply_text.bytes,
                 conn->redacted_url);
    if (err)
        err->reply_code = close->reply_code;
    return WR_ERR_CONNECTION;
}

static wr_status from_server_exception(struct mq_conn *conn, amqp_method_t method, const char *what,
                                       struct wr_error *err)
{
    if (method.id == AMQP_CHANNEL_CLOSE_METHOD)
        return from_channel_close(conn, method.decoded, what, err);
    if (method.id == AMQP_CONNECTION_CLOSE_METHOD)
        return from_connection_close(conn, method.decoded, what, err);
    set_state(conn, MQ_CONN_DOWN);
    return wr_error_set(err, WR_ERR_PROTOCOL, "%s: unexpected method 0x%08x from the broker", what,
                        (unsigned)method.id);
}

wr_status mq__status_from_reply(struct mq_conn *conn, amqp_rpc_reply_t reply, const char *what,
                                struct wr_error *err)
{
    struct wr_error local;
    struct wr_error *e = err ? err : &local;
    wr_status status;
    switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return WR_OK;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        status = from_library_error(conn, reply.library_error, what, e);
        break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        status = from_server_exception(conn, reply.reply, what, e);
        break;
    default:
        set_state(conn, MQ_CONN_DOWN);
        status = wr_error_set(e, WR_ERR_PROTOCOL, "%s: no reply from rabbitmq-c", what);
        break;
    }
    conn->last_error = *e;
    wr_log(WR_LOG_DEBUG, "broker", "%s", e->message);
    return status;
}

wr_status mq__status_from_library(struct mq_conn *conn, int amqp_status, const char *what,
                                  struct wr_error *err)
{
    amqp_rpc_reply_t reply = {.reply_type = amqp_status == AMQP_STATUS_OK
                                                ? AMQP_RESPONSE_NORMAL
                                                : AMQP_RESPONSE_LIBRARY_EXCEPTION,
                              .library_error = amqp_status};
    return mq__status_from_reply(conn, reply, what, err);
}

wr_status mq__status_from_method(struct mq_conn *conn, amqp_method_t method, const char *what,
                                 struct wr_error *err)
{
    amqp_rpc_reply_t reply = {.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION, .reply = method};
    return mq__status_from_reply(conn, reply, what, err);
}

wr_status mq__last_reply(struct mq_conn *conn, const char *what, struct wr_error *err)
{
    return mq__status_from_reply(conn, amqp_get_rpc_reply(conn->amqp), what, err);
}

wr_status mq__require_open(struct mq_conn *conn, const char *what, struct wr_error *err)
{
    if (conn->state == MQ_CONN_OPEN)
        return WR_OK;
    wr_error_set(err, WR_ERR_CONNECTION, "%s: not connected to %s (reconnect first)", what,
                 conn->redacted_url);
    if (err && conn->last_error.code == WR_ERR_CONNECTION)
        err->reply_code = conn->last_error.reply_code;
    return WR_ERR_CONNECTION;
}

/* ---- connecting ---------------------------------------------------------- */

/* The parts of conn->url; points into a scratch copy owned by the caller. */
struct url_parts {
    char *scratch;
    struct amqp_connection_info info;
};

static wr_status parse_url(const struct mq_conn *conn, struct url_parts *parts,
                           struct wr_error *err)
{
    parts->scratch = strdup(conn->url);
    if (!parts->scratch)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    amqp_default_connection_info(&parts->info);
    if (amqp_parse_url(parts->scratch, &parts->info) != AMQP_STATUS_OK)
        return wr_error_set(err, WR_ERR_INVALID, "invalid AMQP URL '%s'", conn->redacted_url);
    if (parts->info.ssl)
        return wr_error_set(err, WR_ERR_INVALID, "amqps:// is not supported ('%s')",
                            conn->redacted_url);
    /* "amqp://host/" names the default vhost, as most clients read it. */
    if (parts->info.vhost[0] == '\0')
        parts->info.vhost = "/";
    return WR_OK;
}

static wr_status open_socket(struct mq_conn *conn, const struct url_parts *parts,
                             int64_t timeout_ms, struct wr_error *err)
{
    amqp_socket_t *socket = amqp_tcp_socket_new(conn->amqp);
    if (!socket)
        return wr_error_set(err, WR_ERR_NOMEM, "cannot create a socket");
    struct timeval tv = timeval_ms(timeout_ms);
    int rc = amqp_socket_open_noblock(socket, parts->info.host, parts->info.port, &tv);
    if (rc != AMQP_STATUS_OK) {
        char what[300];
        snprintf(what, sizeof what, "connect to %s:%d (is the broker running?)", parts->info.host,
                 parts->info.port);
        return mq__status_from_library(conn, rc, what, err);
    }
    (void)amqp_set_handshake_timeout(conn->amqp, &tv);
    struct timeval rpc = timeval_ms(RPC_TIMEOUT_MS);
    (void)amqp_set_rpc_timeout(conn->amqp, &rpc);
    return WR_OK;
}

static amqp_table_entry_t flag_entry(const char *key)
{
    amqp_table_entry_t entry = {.key = amqp_cstring_bytes(key),
                                .value = {.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1}};
    return entry;
}

/* Client properties: the connection name, and the capabilities that make
 * the broker tell us when it cancels a consumer (queue deleted) or blocks
 * publishers (memory or disk alarm). rabbitmq-c merges in its own. */
static wr_status login(struct mq_conn *conn, const struct url_parts *parts, struct wr_error *err)
{
    amqp_table_entry_t flags[] = {flag_entry("consumer_cancel_notify"),
                                  flag_entry("connection.blocked")};
    amqp_table_entry_t entries[] = {
        {.key = amqp_cstring_bytes("capabilities"),
         .value = {.kind = AMQP_FIELD_KIND_TABLE, .value.table = {2, flags}}},
        {.key = amqp_cstring_bytes("connection_name"),
         .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = mq__bytes(conn->name)}},
    };
    amqp_table_t properties = {.num_entries = conn->name ? 2 : 1, .entries = entries};
    int heartbeat = conn->heartbeat_s > 0 ? conn->heartbeat_s : HEARTBEAT_BROKER_DEFAULT;
    amqp_rpc_reply_t reply = amqp_login_with_properties(
        conn->amqp, parts->info.vhost, 0, AMQP_DEFAULT_FRAME_SIZE, heartbeat, &properties,
        AMQP_SASL_METHOD_PLAIN, parts->info.user, parts->info.password);
    wr_status status = mq__status_from_reply(conn, reply, "login", err);
    if (status == WR_ERR_CONNECTION && reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        reply.library_error == AMQP_STATUS_CONNECTION_CLOSED)
        error_append(err, " (wrong credentials or vhost?)");
    return status;
}

static wr_status open_channel(struct mq_conn *conn, struct wr_error *err)
{
    amqp_channel_open(conn->amqp, MQ_CHANNEL);
    wr_status status = mq__last_reply(conn, "open channel", err);
    if (status == WR_OK)
        conn->channel_gen++;
    return status;
}

static void drop_amqp(struct mq_conn *conn)
{
    if (conn->amqp)
        amqp_destroy_connection(conn->amqp);
    conn->amqp = NULL;
    set_state(conn, MQ_CONN_DOWN);
}

/* One attempt: a fresh rabbitmq-c state, socket, login and channel. err
 * must not be NULL. */
static wr_status connect_once(struct mq_conn *conn, int64_t timeout_ms, struct wr_error *err)
{
    struct url_parts parts = {0};
    wr_status status = parse_url(conn, &parts, err);
    if (status != WR_OK)
        goto out;
    drop_amqp(conn);
    conn->amqp = amqp_new_connection();
    if (!conn->amqp) {
        status = wr_error_set(err, WR_ERR_NOMEM, "out of memory");
        goto out;
    }
    set_state(conn, MQ_CONN_OPEN); /* so the translation can mark it down */
    status = open_socket(conn, &parts, timeout_ms, err);
    if (status == WR_OK)
        status = login(conn, &parts, err);
    if (status == WR_OK)
        status = open_channel(conn, err);
out:
    if (status != WR_OK)
        set_state(conn, MQ_CONN_DOWN);
    free(parts.scratch);
    return status;
}

static struct mq_conn *conn_new(const struct mq_conn_options *options)
{
    struct mq_conn *conn = calloc(1, sizeof *conn);
    if (!conn)
        return NULL;
    conn->url = strdup(options->url);
    conn->name = options->name ? strdup(options->name) : NULL;
    if (!conn->url || (options->name && !conn->name)) {
        free(conn->url);
        free(conn->name);
        free(conn);
        return NULL;
    }
    wr_redact_url(conn->url, conn->redacted_url, sizeof conn->redacted_url);
    conn->heartbeat_s = options->heartbeat_s;
    conn->connect_timeout_ms =
        options->connect_timeout_ms > 0 ? options->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    conn->max_backoff_ms = options->reconnect_max_backoff_ms > 0 ? options->reconnect_max_backoff_ms
                                                                 : DEFAULT_MAX_BACKOFF_MS;
    set_state(conn, MQ_CONN_DOWN);
    return conn;
}

static void conn_free(struct mq_conn *conn)
{
    drop_amqp(conn);
    free(conn->url);
    free(conn->name);
    free(conn);
}

struct mq_conn *mq_conn_open(const struct mq_conn_options *options, struct wr_error *err)
{
    struct wr_error local;
    struct wr_error *e = err ? err : &local;
    if (!options || !options->url) {
        wr_error_set(e, WR_ERR_INVALID, "mq_conn_open: no URL");
        return NULL;
    }
    struct mq_conn *conn = conn_new(options);
    if (!conn) {
        wr_error_set(e, WR_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (connect_once(conn, conn->connect_timeout_ms, e) != WR_OK) {
        conn_free(conn);
        return NULL;
    }
    wr_log(WR_LOG_DEBUG, "broker", "connected to %s", conn->redacted_url);
    return conn;
}

void mq_conn_close(struct mq_conn *conn)
{
    if (!conn)
        return;
    if (conn->state == MQ_CONN_OPEN) {
        (void)amqp_channel_close(conn->amqp, MQ_CHANNEL, AMQP_REPLY_SUCCESS);
        (void)amqp_connection_close(conn->amqp, AMQP_REPLY_SUCCESS);
    }
    conn_free(conn);
}

bool mq_conn_is_open(const struct mq_conn *conn)
{
    return conn && conn->state == MQ_CONN_OPEN;
}

int mq_conn_socket(const struct mq_conn *conn)
{
    return mq_conn_is_open(conn) ? amqp_get_sockfd(conn->amqp) : -1;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int64_t attempt_timeout(const struct mq_conn *conn, int64_t deadline_ms)
{
    if (deadline_ms <= 0)
        return conn->connect_timeout_ms;
    int64_t left = deadline_ms - mq_now_ms();
    if (left < 1)
        left = 1;
    return left < conn->connect_timeout_ms ? left : conn->connect_timeout_ms;
}

wr_status mq_conn_reconnect(struct mq_conn *conn, int64_t deadline_ms, struct wr_error *err)
{
    struct wr_error attempt;
    int64_t backoff = FIRST_BACKOFF_MS;
    drop_amqp(conn);
    for (int tries = 1;; tries++) {
        if (connect_once(conn, attempt_timeout(conn, deadline_ms), &attempt) == WR_OK) {
            wr_log(WR_LOG_INFO, "broker", "reconnected to %s after %d attempt(s)",
                   conn->redacted_url, tries);
            return WR_OK;
        }
        if (attempt.code == WR_ERR_INVALID || attempt.code == WR_ERR_NOMEM)
            return wr_error_set(err, attempt.code, "%s", attempt.message);
        wr_log(WR_LOG_WARN, "broker", "reconnect attempt %d failed: %s; retrying in %lld ms", tries,
               attempt.message, (long long)backoff);
        if (deadline_ms > 0 && mq_now_ms() + backoff >= deadline_ms)
            return wr_error_set(err, WR_ERR_TIMEOUT, "reconnect gave up after %d attempt(s): %s",
                                tries, attempt.message);
        sleep_ms(backoff);
        backoff = backoff * 2 < conn->max_backoff_ms ? backoff * 2 : conn->max_backoff_ms;
    }
}
