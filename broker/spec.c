/* Topology object names as RabbitMQ spells them ("topic", "quorum",
 * "reject-publish", ...) and the helpers that free the strings inside
 * the spec structs. */
#include "broker/internal.h"

#include <stdlib.h>
#include <string.h>

static const char *const exchange_type_names[] = {
    [MQ_EXCHANGE_DIRECT] = "direct",
    [MQ_EXCHANGE_TOPIC] = "topic",
    [MQ_EXCHANGE_FANOUT] = "fanout",
    [MQ_EXCHANGE_HEADERS] = "headers",
};

static const char *const queue_type_names[] = {
    [MQ_QUEUE_CLASSIC] = "classic",
    [MQ_QUEUE_QUORUM] = "quorum",
};

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* Index of name in names[0..count), or -1. */
static int lookup(const char *const *names, size_t count, const char *name)
{
    for (size_t i = 0; name && i < count; i++) {
        if (strcmp(names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

const char *mq_exchange_type_name(enum mq_exchange_type type)
{
    return (size_t)type < COUNT(exchange_type_names) ? exchange_type_names[type] : "?";
}

int mq_exchange_type_parse(const char *name, enum mq_exchange_type *out)
{
    int i = lookup(exchange_type_names, COUNT(exchange_type_names), name);
    if (i < 0)
        return -1;
    *out = (enum mq_exchange_type)i;
    return 0;
}

const char *mq_queue_type_name(enum mq_queue_type type)
{
    return (size_t)type < COUNT(queue_type_names) ? queue_type_names[type] : "?";
}

int mq_queue_type_parse(const char *name, enum mq_queue_type *out)
{
    int i = lookup(queue_type_names, COUNT(queue_type_names), name);
    if (i < 0)
        return -1;
    *out = (enum mq_queue_type)i;
    return 0;
}

const char *mq__overflow_name(enum mq_overflow overflow)
{
    return overflow == MQ_OVERFLOW_REJECT_PUBLISH ? "reject-publish" : NULL;
}

const char *mq__dl_strategy_name(enum mq_dead_letter_strategy strategy)
{
    return strategy == MQ_DL_AT_LEAST_ONCE ? "at-least-once" : NULL;
}

void mq_queue_spec_clear(struct mq_queue_spec *spec)
{
    if (!spec)
        return;
    free(spec->name);
    free(spec->dead_letter_exchange);
    free(spec->dead_letter_routing_key);
    spec->name = spec->dead_letter_exchange = spec->dead_letter_routing_key = NULL;
}

void mq_exchange_spec_clear(struct mq_exchange_spec *spec)
{
    if (!spec)
        return;
    free(spec->name);
    spec->name = NULL;
}

void mq_binding_spec_clear(struct mq_binding_spec *spec)
{
    if (!spec)
        return;
    free(spec->exchange);
    free(spec->queue);
    free(spec->routing_key);
    spec->exchange = spec->queue = spec->routing_key = NULL;
}
