/* Declaring and inspecting broker objects over AMQP: durable exchanges,
 * durable queues with warren's x-arguments, bindings, passive declares for
 * exact counts, deletes and purges. */
#include "broker/internal.h"

#include <stdio.h>

/* Room for every x-argument mq_queue_spec can carry. */
#define MAX_QUEUE_ARGS 8

struct queue_args {
    amqp_table_entry_t entries[MAX_QUEUE_ARGS];
    int count;
};

static void add_string_arg(struct queue_args *args, const char *key, const char *value)
{
    if (!value)
        return;
    amqp_table_entry_t *e = &args->entries[args->count++];
    e->key = amqp_cstring_bytes(key);
    e->value.kind = AMQP_FIELD_KIND_UTF8;
    e->value.value.bytes = amqp_cstring_bytes(value);
}

static void add_int_arg(struct queue_args *args, const char *key, int64_t value)
{
    if (value <= 0)
        return;
    amqp_table_entry_t *e = &args->entries[args->count++];
    e->key = amqp_cstring_bytes(key);
    e->value.kind = AMQP_FIELD_KIND_I64;
    e->value.value.i64 = value;
}

/* Classic is RabbitMQ's default type and is left unsent, so a queue
 * declared by another client without x-queue-type stays equivalent. */
static amqp_table_t queue_arguments(const struct mq_queue_spec *spec, struct queue_args *args)
{
    args->count = 0;
    if (spec->type == MQ_QUEUE_QUORUM)
        add_string_arg(args, "x-queue-type", mq_queue_type_name(spec->type));
    add_int_arg(args, "x-message-ttl", spec->message_ttl_ms);
    add_string_arg(args, "x-dead-letter-exchange", spec->dead_letter_exchange);
    add_string_arg(args, "x-dead-letter-routing-key", spec->dead_letter_routing_key);
    add_string_arg(args, "x-dead-letter-strategy", mq__dl_strategy_name(spec->dl_strategy));
    add_string_arg(args, "x-overflow", mq__overflow_name(spec->overflow));
    add_int_arg(args, "x-max-length", spec->max_length);
    amqp_table_t table = {.num_entries = args->count, .entries = args->entries};
    return table;
}

static wr_status check_name(const char *name, const char *what, struct wr_error *err)
{
    if (!name)
        return wr_error_set(err, WR_ERR_INVALID, "%s: no name", what);
    for (size_t len = 0; name[len]; len++) {
        if (len >= MQ_SHORTSTR_MAX)
            return wr_error_set(err, WR_ERR_INVALID, "%s: name longer than %d bytes", what,
                                MQ_SHORTSTR_MAX);
    }
    return WR_OK;
}

/* Common prologue: names what into buf, checks the name and the link. */
static wr_status begin(struct mq_conn *conn, const char *verb, const char *name, char *what,
                       size_t what_size, struct wr_error *err)
{
    snprintf(what, what_size, "%s '%s'", verb, name ? name : "(null)");
    wr_status status = check_name(name, what, err);
    if (status != WR_OK)
        return status;
    return mq__require_open(conn, what, err);
}

wr_status mq_declare_exchange(struct mq_conn *conn, const struct mq_exchange_spec *spec,
                              struct wr_error *err)
{
    char what[300];
    wr_status status = begin(conn, "declare exchange", spec->name, what, sizeof what, err);
    if (status != WR_OK)
        return status;
    amqp_exchange_declare(conn->amqp, MQ_CHANNEL, amqp_cstring_bytes(spec->name),
                          amqp_cstring_bytes(mq_exchange_type_name(spec->type)), 0, 1, 0, 0,
                          amqp_empty_table);
    return mq__last_reply(conn, what, err);
}

wr_status mq_declare_queue(struct mq_conn *conn, const struct mq_queue_spec *spec,
                           struct wr_error *err)
{
    char what[300];
    wr_status status = begin(conn, "declare queue", spec->name, what, sizeof what, err);
    if (status != WR_OK)
        return status;
    struct queue_args args;
    amqp_queue_declare(conn->amqp, MQ_CHANNEL, amqp_cstring_bytes(spec->name), 0, 1, 0, 0,
                       queue_arguments(spec, &args));
    return mq__last_reply(conn, what, err);
}

wr_status mq_bind_queue(struct mq_conn *conn, const struct mq_binding_spec *spec,
                        struct wr_error *err)
{
    char what[600];
    snprintf(what, sizeof what, "bind queue '%s' to exchange '%s' with key '%s'",
             spec->queue ? spec->queue : "(null)", spec->exchange ? spec->exchange : "(null)",
             spec->routing_key ? spec->routing_key : "");
    wr_status status = check_name(spec->queue, what, err);
    if (status == WR_OK)
        status = check_name(spec->exchange, what, err);
    if (status == WR_OK)
        status = mq__require_open(conn, what, err);
    if (status != WR_OK)
        return status;
    amqp_queue_bind(conn->amqp, MQ_CHANNEL, amqp_cstring_bytes(spec->queue),
                    amqp_cstring_bytes(spec->exchange), mq__bytes(spec->routing_key),
                    amqp_empty_table);
    return mq__last_reply(conn, what, err);
}

wr_status mq_queue_inspect(struct mq_conn *conn, const char *queue, uint32_t *messages,
                           uint32_t *consumers, struct wr_error *err)
{
    char what[300];
    struct wr_error local;
    struct wr_error *e = err ? err : &local;
    wr_status status = begin(conn, "inspect queue", queue, what, sizeof what, e);
    if (status != WR_OK)
        return status;
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(
        conn->amqp, MQ_CHANNEL, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
    status = mq__last_reply(conn, what, e);
    if (status == WR_ERR_CHANNEL_CLOSED && e->reply_code == AMQP_NOT_FOUND)
        return wr_error_set(e, WR_ERR_NOT_FOUND, "%s: no such queue", what);
    if (status != WR_OK)
        return status;
    if (messages)
        *messages = ok->message_count;
    if (consumers)
        *consumers = ok->consumer_count;
    return WR_OK;
}

/* A 404 on delete means it was already gone: not an error. */
static wr_status absent_is_ok(wr_status status, struct wr_error *err)
{
    if (status == WR_ERR_CHANNEL_CLOSED && err && err->reply_code == AMQP_NOT_FOUND) {
        wr_error_clear(err);
        return WR_OK;
    }
    return status;
}

wr_status mq_delete_queue(struct mq_conn *conn, const char *queue, struct wr_error *err)
{
    char what[300];
    struct wr_error local;
    struct wr_error *e = err ? err : &local;
    wr_status status = begin(conn, "delete queue", queue, what, sizeof what, e);
    if (status != WR_OK)
        return status;
    amqp_queue_delete(conn->amqp, MQ_CHANNEL, amqp_cstring_bytes(queue), 0, 0);
    return absent_is_ok(mq__last_reply(conn, what, e), e);
}

wr_status mq_delete_exchange(struct mq_conn *conn, const char *exchange, struct wr_error *err)
{
    char what[300];
    struct wr_error local;
    struct wr_error *e = err ? err : &local;
    wr_status status = begin(conn, "delete exchange", exchange, what, sizeof what, e);
    if (status != WR_OK)
        return status;
    amqp_exchange_delete(conn->amqp, MQ_CHANNEL, amqp_cstring_bytes(exchange), 0);
    return absent_is_ok(mq__last_reply(conn, what, e), e);
}

wr_status mq_purge_queue(struct mq_conn *conn, const char *queue, struct wr_error *err)
{
    char what[300];
    wr_status status = begin(conn, "purge queue", queue, what, sizeof what, err);
    if (status != WR_OK)
        return status;
    amqp_queue_purge(conn->amqp, MQ_CHANNEL, amqp_cstring_bytes(queue));
    return mq__last_reply(conn, what, err);
}
