/* The plan: derived specs compared with the live broker state, a pure
 * function (no I/O) so it can be tested with hand-built states. Each
 * object is to be created, present and equal, or drifted (every differing
 * field with both sides as text); bindings to a drifted end are blocked. */
#include "topology/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/duration.h"
#include "core/grow.h"

#define NOT_SET "(not set)"

/* ---- showing values ------------------------------------------------------------ */

typedef void (*show_fn)(const struct mq_queue_spec *spec, char *out, size_t size);

static void show_string(const char *value, char *out, size_t size)
{
    if (value)
        topo_quote(value, out, size);
    else
        snprintf(out, size, NOT_SET);
}

static void show_number(int64_t value, char *out, size_t size)
{
    if (value)
        snprintf(out, size, "%lld", (long long)value);
    else
        snprintf(out, size, NOT_SET);
}

static void show_type(const struct mq_queue_spec *spec, char *out, size_t size)
{
    snprintf(out, size, "%s", topo_choice_name(&topo_queue_types, (int)spec->type));
}

static void show_ttl(const struct mq_queue_spec *spec, char *out, size_t size)
{
    show_number(spec->message_ttl_ms, out, size);
}

static void show_dlx(const struct mq_queue_spec *spec, char *out, size_t size)
{
    show_string(spec->dead_letter_exchange, out, size);
}

static void show_dlrk(const struct mq_queue_spec *spec, char *out, size_t size)
{
    show_string(spec->dead_letter_routing_key, out, size);
}

static void show_strategy(const struct mq_queue_spec *spec, char *out, size_t size)
{
    snprintf(out, size, "%s", spec->dl_strategy == MQ_DL_AT_LEAST_ONCE ? "at-least-once" : NOT_SET);
}

static void show_overflow(const struct mq_queue_spec *spec, char *out, size_t size)
{
    snprintf(out, size, "%s",
             spec->overflow == MQ_OVERFLOW_REJECT_PUBLISH ? "reject-publish" : NOT_SET);
}

static void show_max_length(const struct mq_queue_spec *spec, char *out, size_t size)
{
    show_number(spec->max_length, out, size);
}

/* Every queue property warren sets, compared as the text shown to people. */
static const struct {
    const char *field;
    show_fn show;
} queue_fields[] = {
    {"type", show_type},
    {"x-message-ttl", show_ttl},
    {"x-dead-letter-exchange", show_dlx},
    {"x-dead-letter-routing-key", show_dlrk},
    {"x-dead-letter-strategy", show_strategy},
    {"x-overflow", show_overflow},
    {"x-max-length", show_max_length},
};

/* ---- plan items --------------------------------------------------------------- */

static struct topo_plan_item *add_item(struct topo_plan *plan, enum topo_action action,
                                       enum topo_object object, size_t index, char *label)
{
    if (!label)
        return NULL;
    if (!wr_grow(&plan->items, &plan->capacity, plan->count, sizeof *plan->items, 16)) {
        free(label);
        return NULL;
    }
    struct topo_plan_item *item = &plan->items[plan->count++];
    *item =
        (struct topo_plan_item){.action = action, .object = object, .index = index, .label = label};
    plan->counts[action]++;
    return item;
}

static wr_status add_difference(struct topo_plan_item *item, const char *field,
                                const char *file_value, const char *broker_value)
{
    struct topo_difference *grown =
        realloc(item->differences, (item->difference_count + 1) * sizeof *item->differences);
    if (!grown)
        return WR_ERR_NOMEM;
    item->differences = grown;
    struct topo_difference *d = &grown[item->difference_count++];
    d->field = strdup(field);
    d->file_value = strdup(file_value);
    d->broker_value = strdup(broker_value);
    return d->field && d->file_value && d->broker_value ? WR_OK : WR_ERR_NOMEM;
}

/* Marks a present object as OK or DRIFT once its differences are known. */
static void settle(struct topo_plan *plan, struct topo_plan_item *item)
{
    if (item->difference_count == 0)
        return;
    plan->counts[item->action]--;
    item->action = TOPO_ACTION_DRIFT;
    plan->counts[item->action]++;
}

/* ---- exchanges -------------------------------------------------------------------- */

static const struct mq_live_exchange *live_exchange(const struct mq_live_state *live,
                                                    const char *name)
{
    for (size_t i = 0; i < live->exchange_count; i++) {
        if (live->exchanges[i].spec.name && strcmp(live->exchanges[i].spec.name, name) == 0)
            return &live->exchanges[i];
    }
    return NULL;
}

static wr_status compare_exchange(struct topo_plan_item *item, const struct mq_exchange_spec *want,
                                  const struct mq_live_exchange *have)
{
    wr_status status = WR_OK;
    if (want->type != have->spec.type)
        status =
            add_difference(item, "type", topo_choice_name(&topo_exchange_types, (int)want->type),
                           topo_choice_name(&topo_exchange_types, (int)have->spec.type));
    if (status == WR_OK && !have->durable)
        status = add_difference(item, "durable", "true", "false");
    if (status == WR_OK && have->auto_delete)
        status = add_difference(item, "auto_delete", "false", "true");
    return status;
}

static wr_status plan_exchanges(struct topo_plan *plan, const struct topo_derived *want,
                                const struct mq_live_state *live)
{
    for (size_t i = 0; i < want->exchange_count; i++) {
        const struct mq_exchange_spec *spec = &want->exchanges[i];
        const struct mq_live_exchange *have = live_exchange(live, spec->name);
        struct topo_plan_item *item =
            add_item(plan, have ? TOPO_ACTION_OK : TOPO_ACTION_CREATE, TOPO_OBJECT_EXCHANGE, i,
                     topo_format("exchange %s", spec->name));
        if (!item)
            return WR_ERR_NOMEM;
        if (!have) {
            item->detail = strdup(topo_choice_name(&topo_exchange_types, (int)spec->type));
            if (!item->detail)
                return WR_ERR_NOMEM;
            continue;
        }
        if (compare_exchange(item, spec, have) != WR_OK)
            return WR_ERR_NOMEM;
        settle(plan, item);
    }
    return WR_OK;
}

/* ---- queues ------------------------------------------------------------------------- */

static const struct mq_live_queue *live_queue(const struct mq_live_state *live, const char *name)
{
    for (size_t i = 0; i < live->queue_count; i++) {
        if (live->queues[i].spec.name && strcmp(live->queues[i].spec.name, name) == 0)
            return &live->queues[i];
    }
    return NULL;
}

static wr_status compare_queue(struct topo_plan_item *item, const struct mq_queue_spec *want,
                               const struct mq_live_queue *have)
{
    char file_value[128], broker_value[128];
    wr_status status = WR_OK;
    for (size_t f = 0; f < sizeof queue_fields / sizeof queue_fields[0] && status == WR_OK; f++) {
        queue_fields[f].show(want, file_value, sizeof file_value);
        queue_fields[f].show(&have->spec, broker_value, sizeof broker_value);
        if (strcmp(file_value, broker_value) != 0)
            status = add_difference(item, queue_fields[f].field, file_value, broker_value);
    }
    if (status == WR_OK && !have->durable)
        status = add_difference(item, "durable", "true", "false");
    if (status == WR_OK && have->other_arguments)
        status = add_difference(item, "other arguments", "(none)", have->other_arguments);
    return status;
}

/* "quorum, ttl 10s, dead-letters to payment" */
static char *queue_detail(const struct mq_queue_spec *spec)
{
    char ttl[48] = "";
    if (spec->message_ttl_ms) {
        memcpy(ttl, ", ttl ", 6);
        wr_duration_format(spec->message_ttl_ms, ttl + 6, sizeof ttl - 6);
    }
    return topo_format("%s%s%s%s", topo_choice_name(&topo_queue_types, (int)spec->type), ttl,
                       spec->dead_letter_routing_key ? ", dead-letters to " : "",
                       spec->dead_letter_routing_key ? spec->dead_letter_routing_key : "");
}

static wr_status plan_queues(struct topo_plan *plan, const struct topo_derived *want,
                             const struct mq_live_state *live)
{
    for (size_t i = 0; i < want->queue_count; i++) {
        const struct mq_queue_spec *spec = &want->queues[i];
        const struct mq_live_queue *have = live_queue(live, spec->name);
        struct topo_plan_item *item =
            add_item(plan, have ? TOPO_ACTION_OK : TOPO_ACTION_CREATE, TOPO_OBJECT_QUEUE, i,
                     topo_format("queue %s", spec->name));
        if (!item)
            return WR_ERR_NOMEM;
        if (!have) {
            if (!(item->detail = queue_detail(spec)))
                return WR_ERR_NOMEM;
            continue;
        }
        if (compare_queue(item, spec, have) != WR_OK)
            return WR_ERR_NOMEM;
        settle(plan, item);
    }
    return WR_OK;
}

/* ---- bindings ---------------------------------------------------------------------- */

static bool same_binding(const struct mq_binding_spec *a, const struct mq_binding_spec *b)
{
    return a->exchange && b->exchange && a->queue && b->queue && a->routing_key && b->routing_key &&
           strcmp(a->exchange, b->exchange) == 0 && strcmp(a->queue, b->queue) == 0 &&
           strcmp(a->routing_key, b->routing_key) == 0;
}

static char *binding_label(const struct mq_binding_spec *b)
{
    return topo_format("binding %s -> %s [%s]", b->exchange, b->queue, b->routing_key);
}

/* The label of the drifted exchange or queue of that name, or NULL. */
static const char *drifted(const struct topo_plan *plan, const struct topo_derived *want,
                           enum topo_object object, const char *name)
{
    for (size_t i = 0; i < plan->count; i++) {
        const struct topo_plan_item *item = &plan->items[i];
        if (item->object != object || item->action != TOPO_ACTION_DRIFT)
            continue;
        const char *item_name = object == TOPO_OBJECT_QUEUE ? want->queues[item->index].name
                                                            : want->exchanges[item->index].name;
        if (strcmp(item_name, name) == 0)
            return item->label;
    }
    return NULL;
}

static wr_status plan_binding(struct topo_plan *plan, const struct topo_derived *want, size_t i,
                              const struct mq_live_state *live)
{
    const struct mq_binding_spec *spec = &want->bindings[i];
    const char *blocker = drifted(plan, want, TOPO_OBJECT_QUEUE, spec->queue);
    enum topo_action action = TOPO_ACTION_CREATE;
    if (!blocker)
        blocker = drifted(plan, want, TOPO_OBJECT_EXCHANGE, spec->exchange);
    for (size_t j = 0; j < live->binding_count; j++) {
        if (same_binding(spec, &live->bindings[j]))
            action = TOPO_ACTION_OK;
    }
    if (action == TOPO_ACTION_CREATE && blocker)
        action = TOPO_ACTION_BLOCKED;
    struct topo_plan_item *item =
        add_item(plan, action, TOPO_OBJECT_BINDING, i, binding_label(spec));
    if (!item)
        return WR_ERR_NOMEM;
    if (action == TOPO_ACTION_BLOCKED && !(item->detail = topo_format("%s has drifted", blocker)))
        return WR_ERR_NOMEM;
    return WR_OK;
}

/* ---- on the broker, not in the file --------------------------------------------------- */

static bool wanted_queue(const struct topo_derived *want, const char *name)
{
    for (size_t i = 0; i < want->queue_count; i++) {
        if (strcmp(want->queues[i].name, name) == 0)
            return true;
    }
    return false;
}

/* A binding to one of the file's queues that the file does not list. */
static bool stale_binding(const struct topo_derived *want, const struct mq_binding_spec *b)
{
    if (!b->queue || !wanted_queue(want, b->queue))
        return false;
    for (size_t i = 0; i < want->binding_count; i++) {
        if (same_binding(&want->bindings[i], b))
            return false;
    }
    return true;
}

/* A tier or dead-letter queue of one of the file's queues that the file
 * no longer derives (e.g. after a delay changed). */
static bool stale_queue(const struct topo_derived *want, const char *name)
{
    if (!name || wanted_queue(want, name))
        return false;
    for (size_t i = 0; i < want->queue_count; i++) {
        const char *q = want->queues[i].name;
        size_t length = strlen(q);
        if (strncmp(name, q, length) == 0 &&
            (strncmp(name + length, ".retry.", 7) == 0 || strcmp(name + length, ".dead") == 0))
            return true;
    }
    return false;
}

static wr_status plan_extras(struct topo_plan *plan, const struct topo_derived *want,
                             const struct mq_live_state *live)
{
    for (size_t i = 0; i < live->queue_count; i++) {
        const char *name = live->queues[i].spec.name;
        if (stale_queue(want, name) &&
            !add_item(plan, TOPO_ACTION_EXTRA, TOPO_OBJECT_QUEUE, i, topo_format("queue %s", name)))
            return WR_ERR_NOMEM;
    }
    for (size_t i = 0; i < live->binding_count; i++) {
        const struct mq_binding_spec *b = &live->bindings[i];
        if (stale_binding(want, b) &&
            !add_item(plan, TOPO_ACTION_EXTRA, TOPO_OBJECT_BINDING, i, binding_label(b)))
            return WR_ERR_NOMEM;
    }
    return WR_OK;
}

/* ---- public --------------------------------------------------------------------------- */

void topo_plan_free(struct topo_plan *plan)
{
    for (size_t i = 0; i < plan->count; i++) {
        struct topo_plan_item *item = &plan->items[i];
        for (size_t d = 0; d < item->difference_count; d++) {
            free(item->differences[d].field);
            free(item->differences[d].file_value);
            free(item->differences[d].broker_value);
        }
        free(item->differences);
        free(item->label);
        free(item->detail);
    }
    free(plan->items);
    memset(plan, 0, sizeof *plan);
}

wr_status topo_plan_build(const struct topo_derived *want, const struct mq_live_state *live,
                          struct topo_plan *out, struct wr_error *err)
{
    memset(out, 0, sizeof *out);
    wr_status status = plan_exchanges(out, want, live);
    if (status == WR_OK)
        status = plan_queues(out, want, live);
    for (size_t i = 0; i < want->binding_count && status == WR_OK; i++)
        status = plan_binding(out, want, i, live);
    if (status == WR_OK)
        status = plan_extras(out, want, live);
    if (status != WR_OK) {
        topo_plan_free(out);
        return wr_error_set(err, status, "building the plan: %s", wr_status_str(status));
    }
    return WR_OK;
}
