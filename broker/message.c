/* Message properties and headers: warren's envelope, encoding struct
 * mq_message into AMQP basic.properties for publishing (no allocation for up to
 * MQ_INLINE_HEADERS headers) and copies a received envelope into a
 * struct mq_delivery held in one allocation. */
#include "broker/internal.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- warren's envelope ---------------------------------------------------- */

void mq_envelope(struct mq_message *msg, struct mq_header headers[MQ_ENVELOPE_HEADERS],
                 const char *traceparent, const char *storefront)
{
    size_t n = 0;
    headers[n++] = (struct mq_header){.key = "x-attempt", .kind = MQ_HEADER_INT, .integer = 1};
    if (traceparent)
        headers[n++] = (struct mq_header){
            .key = "traceparent", .kind = MQ_HEADER_STRING, .string = traceparent};
    if (storefront)
        headers[n++] = (struct mq_header){
            .key = "x-storefront", .kind = MQ_HEADER_STRING, .string = storefront};
    msg->routing_key = msg->type;
    msg->content_type = "application/json";
    msg->timestamp = (int64_t)time(NULL);
    msg->persistent = true;
    msg->headers = headers;
    msg->header_count = n;
}

/* ---- encoding ------------------------------------------------------------ */

static wr_status check_shortstr(const char *value, const char *field, struct wr_error *err)
{
    if (value && strlen(value) > MQ_SHORTSTR_MAX)
        return wr_error_set(err, WR_ERR_INVALID, "%s is longer than %d bytes", field,
                            MQ_SHORTSTR_MAX);
    return WR_OK;
}

static wr_status check_message(const struct mq_message *msg, struct wr_error *err)
{
    if (!msg->message_id || !*msg->message_id)
        return wr_error_set(err, WR_ERR_INVALID, "message_id is required");
    if (!msg->routing_key)
        return wr_error_set(err, WR_ERR_INVALID, "routing_key is required");
    if (msg->body_len > 0 && !msg->body)
        return wr_error_set(err, WR_ERR_INVALID, "body is NULL but body_len is %zu", msg->body_len);
    const char *fields[][2] = {{msg->exchange, "exchange"},
                               {msg->routing_key, "routing_key"},
                               {msg->message_id, "message_id"},
                               {msg->correlation_id, "correlation_id"},
                               {msg->type, "type"},
                               {msg->content_type, "content_type"}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (check_shortstr(fields[i][0], fields[i][1], err) != WR_OK)
            return WR_ERR_INVALID;
    }
    return WR_OK;
}

static void set_string(amqp_basic_properties_t *props, amqp_flags_t flag, amqp_bytes_t *slot,
                       const char *value)
{
    if (!value)
        return;
    *slot = amqp_cstring_bytes(value);
    props->_flags |= flag;
}

static wr_status encode_header(amqp_table_entry_t *entry, const struct mq_header *header,
                               struct wr_error *err)
{
    if (!header->key || check_shortstr(header->key, "header key", err) != WR_OK)
        return wr_error_set(err, WR_ERR_INVALID, "header key missing or too long");
    entry->key = amqp_cstring_bytes(header->key);
    if (header->kind == MQ_HEADER_INT) {
        entry->value.kind = AMQP_FIELD_KIND_I64;
        entry->value.value.i64 = header->integer;
        return WR_OK;
    }
    if (header->kind != MQ_HEADER_STRING || !header->string)
        return wr_error_set(err, WR_ERR_INVALID, "header '%s' has no value", header->key);
    entry->value.kind = AMQP_FIELD_KIND_UTF8;
    entry->value.value.bytes = amqp_cstring_bytes(header->string);
    return WR_OK;
}

static wr_status encode_headers(struct mq__props *props, const struct mq_message *msg,
                                struct wr_error *err)
{
    if (msg->header_count == 0)
        return WR_OK;
    if (!msg->headers)
        return wr_error_set(err, WR_ERR_INVALID, "headers is NULL but header_count is %zu",
                            msg->header_count);
    amqp_table_entry_t *entries = props->inline_entries;
    if (msg->header_count > MQ_INLINE_HEADERS) {
        props->heap_entries = calloc(msg->header_count, sizeof *entries);
        if (!props->heap_entries)
            return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
        entries = props->heap_entries;
    }
    for (size_t i = 0; i < msg->header_count; i++) {
        if (encode_header(&entries[i], &msg->headers[i], err) != WR_OK)
            return WR_ERR_INVALID;
    }
    props->amqp.headers.num_entries = (int)msg->header_count;
    props->amqp.headers.entries = entries;
    props->amqp._flags |= AMQP_BASIC_HEADERS_FLAG;
    return WR_OK;
}

wr_status mq__props_build(struct mq__props *props, const struct mq_message *msg,
                          struct wr_error *err)
{
    memset(&props->amqp, 0, sizeof props->amqp);
    props->heap_entries = NULL;
    if (check_message(msg, err) != WR_OK)
        return WR_ERR_INVALID;
    amqp_basic_properties_t *p = &props->amqp;
    set_string(p, AMQP_BASIC_MESSAGE_ID_FLAG, &p->message_id, msg->message_id);
    set_string(p, AMQP_BASIC_CORRELATION_ID_FLAG, &p->correlation_id, msg->correlation_id);
    set_string(p, AMQP_BASIC_TYPE_FLAG, &p->type, msg->type);
    set_string(p, AMQP_BASIC_CONTENT_TYPE_FLAG, &p->content_type, msg->content_type);
    if (msg->timestamp != 0) {
        p->timestamp = (uint64_t)msg->timestamp;
        p->_flags |= AMQP_BASIC_TIMESTAMP_FLAG;
    }
    if (msg->persistent) {
        p->delivery_mode = AMQP_DELIVERY_PERSISTENT;
        p->_flags |= AMQP_BASIC_DELIVERY_MODE_FLAG;
    }
    return encode_headers(props, msg, err);
}

void mq__props_release(struct mq__props *props)
{
    free(props->heap_entries);
    props->heap_entries = NULL;
}

/* ---- decoding -------------------------------------------------------------- */

/* Carves one allocation into the delivery, its header array, strings and body. */
struct arena {
    char *next;
};

static size_t align_up(size_t size)
{
    const size_t a = alignof(max_align_t);
    return (size + a - 1) / a * a;
}

static char *arena_copy(struct arena *arena, const void *bytes, size_t len)
{
    char *out = arena->next;
    if (len)
        memcpy(out, bytes, len);
    out[len] = '\0';
    arena->next += len + 1;
    return out;
}

static bool header_is_kept(const amqp_field_value_t *value)
{
    switch (value->kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_I8:
    case AMQP_FIELD_KIND_U8:
    case AMQP_FIELD_KIND_I16:
    case AMQP_FIELD_KIND_U16:
    case AMQP_FIELD_KIND_I32:
    case AMQP_FIELD_KIND_U32:
    case AMQP_FIELD_KIND_I64:
        return true;
    default:
        return false;
    }
}

static int64_t header_integer(const amqp_field_value_t *value)
{
    switch (value->kind) {
    case AMQP_FIELD_KIND_I8:
        return value->value.i8;
    case AMQP_FIELD_KIND_U8:
        return value->value.u8;
    case AMQP_FIELD_KIND_I16:
        return value->value.i16;
    case AMQP_FIELD_KIND_U16:
        return value->value.u16;
    case AMQP_FIELD_KIND_I32:
        return value->value.i32;
    case AMQP_FIELD_KIND_U32:
        return value->value.u32;
    default:
        return value->value.i64;
    }
}

static const amqp_table_t *envelope_headers(const amqp_envelope_t *envelope)
{
    const amqp_basic_properties_t *p = &envelope->message.properties;
    return (p->_flags & AMQP_BASIC_HEADERS_FLAG) ? &p->headers : NULL;
}

/* The shortstr properties copied into the delivery, in a fixed order. */
enum { PROP_MESSAGE_ID, PROP_CORRELATION_ID, PROP_TYPE, PROP_CONTENT_TYPE, PROP_COUNT };

static const amqp_bytes_t *property(const amqp_basic_properties_t *p, int which)
{
    static const amqp_flags_t flags[PROP_COUNT] = {
        AMQP_BASIC_MESSAGE_ID_FLAG, AMQP_BASIC_CORRELATION_ID_FLAG, AMQP_BASIC_TYPE_FLAG,
        AMQP_BASIC_CONTENT_TYPE_FLAG};
    if (!(p->_flags & flags[which]))
        return NULL;
    switch (which) {
    case PROP_MESSAGE_ID:
        return &p->message_id;
    case PROP_CORRELATION_ID:
        return &p->correlation_id;
    case PROP_TYPE:
        return &p->type;
    default:
        return &p->content_type;
    }
}

static size_t delivery_size(const amqp_envelope_t *envelope, size_t *header_count)
{
    size_t strings = envelope->exchange.len + envelope->routing_key.len + 2;
    for (int i = 0; i < PROP_COUNT; i++) {
        const amqp_bytes_t *value = property(&envelope->message.properties, i);
        strings += value ? value->len + 1 : 0;
    }
    const amqp_table_t *headers = envelope_headers(envelope);
    *header_count = 0;
    for (int i = 0; headers && i < headers->num_entries; i++) {
        const amqp_table_entry_t *entry = &headers->entries[i];
        if (!header_is_kept(&entry->value))
            continue;
        (*header_count)++;
        strings += entry->key.len + 1;
        if (entry->value.kind == AMQP_FIELD_KIND_UTF8)
            strings += entry->value.value.bytes.len + 1;
    }
    return align_up(sizeof(struct mq_delivery)) +
           align_up(*header_count * sizeof(struct mq_header)) + strings +
           envelope->message.body.len + 1;
}

static void copy_headers(struct mq_delivery *d, struct arena *arena, const amqp_table_t *headers)
{
    size_t n = 0;
    for (int i = 0; headers && i < headers->num_entries; i++) {
        const amqp_table_entry_t *entry = &headers->entries[i];
        if (!header_is_kept(&entry->value))
            continue;
        struct mq_header *h = &d->headers[n++];
        h->key = arena_copy(arena, entry->key.bytes, entry->key.len);
        if (entry->value.kind == AMQP_FIELD_KIND_UTF8) {
            h->kind = MQ_HEADER_STRING;
            h->string =
                arena_copy(arena, entry->value.value.bytes.bytes, entry->value.value.bytes.len);
        } else {
            h->kind = MQ_HEADER_INT;
            h->integer = header_integer(&entry->value);
        }
    }
    d->header_count = n;
}

static void copy_properties(struct mq_delivery *d, struct arena *arena,
                            const amqp_basic_properties_t *p)
{
    char **slots[PROP_COUNT] = {&d->message_id, &d->correlation_id, &d->type, &d->content_type};
    for (int i = 0; i < PROP_COUNT; i++) {
        const amqp_bytes_t *value = property(p, i);
        *slots[i] = value ? arena_copy(arena, value->bytes, value->len) : NULL;
    }
    if (p->_flags & AMQP_BASIC_TIMESTAMP_FLAG)
        d->timestamp = (int64_t)p->timestamp;
    if (p->_flags & AMQP_BASIC_DELIVERY_MODE_FLAG)
        d->delivery_mode = p->delivery_mode;
}

wr_status mq__delivery_from_envelope(const amqp_envelope_t *envelope, uint64_t delivery_tag,
                                     struct mq_delivery **out, struct wr_error *err)
{
    size_t header_count;
    size_t size = delivery_size(envelope, &header_count);
    char *block = calloc(1, size);
    if (!block)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory for a %zu byte delivery", size);
    struct mq_delivery *d = (struct mq_delivery *)block;
    struct arena arena = {block + align_up(sizeof *d)};
    d->headers = header_count ? (struct mq_header *)arena.next : NULL;
    arena.next += align_up(header_count * sizeof(struct mq_header));
    d->delivery_tag = delivery_tag;
    d->redelivered = envelope->redelivered != 0;
    d->exchange = arena_copy(&arena, envelope->exchange.bytes, envelope->exchange.len);
    d->routing_key = arena_copy(&arena, envelope->routing_key.bytes, envelope->routing_key.len);
    copy_properties(d, &arena, &envelope->message.properties);
    copy_headers(d, &arena, envelope_headers(envelope));
    d->body_len = envelope->message.body.len;
    d->body = arena_copy(&arena, envelope->message.body.bytes, d->body_len);
    *out = d;
    return WR_OK;
}

void mq_delivery_free(struct mq_delivery *delivery)
{
    free(delivery); /* one block: see mq__delivery_from_envelope */
}

const struct mq_header *mq_delivery_header(const struct mq_delivery *delivery, const char *key)
{
    for (size_t i = 0; delivery && i < delivery->header_count; i++) {
        if (strcmp(delivery->headers[i].key, key) == 0)
            return &delivery->headers[i];
    }
    return NULL;
}
