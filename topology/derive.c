/* The model -> the concrete broker objects (broker.h specs): each queue,
 * its retry tier queues and its dead-letter queue, with the x-arguments
 * that make tiers work without any broker plugin. Derived names are made
 * here and only here (workers call the same functions). */
#include "topology/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/duration.h"

wr_status topo_retry_queue_name(const char *queue, int64_t delay_ms, char *out, size_t out_size)
{
    char delay[32];
    wr_duration_format(delay_ms, delay, sizeof delay);
    int n = snprintf(out, out_size, "%s.retry.%s", queue, delay);
    return n >= 0 && (size_t)n < out_size ? WR_OK : WR_ERR_INVALID;
}

wr_status topo_dead_queue_name(const char *queue, char *out, size_t out_size)
{
    int n = snprintf(out, out_size, "%s.dead", queue);
    return n >= 0 && (size_t)n < out_size ? WR_OK : WR_ERR_INVALID;
}

void topo_derived_free(struct topo_derived *derived)
{
    for (size_t i = 0; i < derived->exchange_count; i++)
        mq_exchange_spec_clear(&derived->exchanges[i]);
    for (size_t i = 0; i < derived->queue_count; i++)
        mq_queue_spec_clear(&derived->queues[i]);
    for (size_t i = 0; i < derived->binding_count; i++)
        mq_binding_spec_clear(&derived->bindings[i]);
    free(derived->exchanges);
    free(derived->queues);
    free(derived->bindings);
    memset(derived, 0, sizeof *derived);
}

/* Appends a queue that dead-letters to dl_target through the default
 * exchange (dl_target NULL: no dead-lettering) after ttl_ms (0: no TTL). */
static wr_status add_queue(struct topo_derived *d, const char *name, enum mq_queue_type type,
                           int64_t ttl_ms, const char *dl_target)
{
    struct mq_queue_spec *spec = &d->queues[d->queue_count];
    *spec = (struct mq_queue_spec){.type = type, .message_ttl_ms = ttl_ms};
    d->queue_count++; /* counted now so topo_derived_free frees partial work */
    if (!(spec->name = strdup(name)))
        return WR_ERR_NOMEM;
    if (!dl_target)
        return WR_OK;
    if (!(spec->dead_letter_exchange = strdup("")) ||
        !(spec->dead_letter_routing_key = strdup(dl_target)))
        return WR_ERR_NOMEM;
    if (type == MQ_QUEUE_QUORUM) {
        /* RabbitMQ only dead-letters at-least-once with reject-publish */
        spec->dl_strategy = MQ_DL_AT_LEAST_ONCE;
        spec->overflow = MQ_OVERFLOW_REJECT_PUBLISH;
    }
    return WR_OK;
}

/* Q (dead-lettering to Q.dead), its tiers, then Q.dead. */
static wr_status derive_queue(struct topo_derived *d, const struct topo_queue *q)
{
    char dead[TOPO_DERIVED_NAME_SIZE], tier[TOPO_DERIVED_NAME_SIZE];
    wr_status status = topo_dead_queue_name(q->name, dead, sizeof dead);
    if (status == WR_OK)
        status = add_queue(d, q->name, q->type, 0, dead);
    for (size_t i = 0; i < q->retry_delay_count && status == WR_OK; i++) {
        status = topo_retry_queue_name(q->name, q->retry_delays_ms[i], tier, sizeof tier);
        if (status == WR_OK)
            status = add_queue(d, tier, q->type, q->retry_delays_ms[i], q->name);
    }
    if (status == WR_OK)
        status = add_queue(d, dead, q->type, 0, NULL);
    return status;
}

static wr_status add_binding(struct topo_derived *d, const char *queue,
                             const struct topo_binding *binding)
{
    struct mq_binding_spec *spec = &d->bindings[d->binding_count++];
    spec->exchange = strdup(binding->exchange);
    spec->queue = strdup(queue);
    spec->routing_key = strdup(binding->routing_key);
    return spec->exchange && spec->queue && spec->routing_key ? WR_OK : WR_ERR_NOMEM;
}

static wr_status allocate(struct topo_derived *d, const struct topo_model *model)
{
    size_t queues = 0, bindings = 0;
    for (size_t i = 0; i < model->queue_count; i++) {
        queues += 2 + model->queues[i].retry_delay_count;
        bindings += model->queues[i].binding_count;
    }
    d->exchanges = calloc(model->exchange_count + 1, sizeof *d->exchanges);
    d->queues = calloc(queues + 1, sizeof *d->queues);
    d->bindings = calloc(bindings + 1, sizeof *d->bindings);
    return d->exchanges && d->queues && d->bindings ? WR_OK : WR_ERR_NOMEM;
}

wr_status topo_derive(const struct topo_model *model, struct topo_derived *out,
                      struct wr_error *err)
{
    memset(out, 0, sizeof *out);
    wr_status status = allocate(out, model);
    for (size_t i = 0; i < model->exchange_count && status == WR_OK; i++) {
        struct mq_exchange_spec *spec = &out->exchanges[out->exchange_count++];
        spec->type = model->exchanges[i].type;
        if (!(spec->name = strdup(model->exchanges[i].name)))
            status = WR_ERR_NOMEM;
    }
    for (size_t i = 0; i < model->queue_count && status == WR_OK; i++) {
        const struct topo_queue *q = &model->queues[i];
        status = derive_queue(out, q);
        for (size_t b = 0; b < q->binding_count && status == WR_OK; b++)
            status = add_binding(out, q->name, &q->bindings[b]);
    }
    if (status != WR_OK) {
        topo_derived_free(out);
        return wr_error_set(err, status, "deriving broker objects: %s", wr_status_str(status));
    }
    return WR_OK;
}
