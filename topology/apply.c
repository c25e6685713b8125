/* Apply: declares what a plan says is missing, through broker/, and
 * nothing else. Drifted objects are reported and never touched; a
 * declaration the broker refuses with 406 (the object appeared with other
 * arguments after the plan was made) is treated as drift, not a crash. */
#include "topology/internal.h"

#include <stdlib.h>
#include <string.h>

/* 406 PRECONDITION_FAILED: the object exists with other properties. */
#define REPLY_PRECONDITION_FAILED 406

struct apply {
    struct mq_conn *conn;
    const struct topo_derived *want;
    FILE *out;
    struct topo_apply_result *result;
    bool *refused_exchanges; /* per want->exchanges: drifted or refused */
    bool *refused_queues;    /* per want->queues */
};

static wr_status declare(struct apply *a, const struct topo_plan_item *item, struct wr_error *err)
{
    switch (item->object) {
    case TOPO_OBJECT_EXCHANGE:
        return mq_declare_exchange(a->conn, &a->want->exchanges[item->index], err);
    case TOPO_OBJECT_QUEUE:
        return mq_declare_queue(a->conn, &a->want->queues[item->index], err);
    case TOPO_OBJECT_BINDING:
        return mq_bind_queue(a->conn, &a->want->bindings[item->index], err);
    }
    return WR_ERR_INVALID;
}

static void mark_refused(struct apply *a, const struct topo_plan_item *item)
{
    if (item->object == TOPO_OBJECT_EXCHANGE)
        a->refused_exchanges[item->index] = true;
    else if (item->object == TOPO_OBJECT_QUEUE)
        a->refused_queues[item->index] = true;
}

/* The name of a refused end of binding, or NULL. */
static const char *refused_end(const struct apply *a, const struct mq_binding_spec *binding)
{
    for (size_t i = 0; i < a->want->queue_count; i++) {
        if (a->refused_queues[i] && strcmp(a->want->queues[i].name, binding->queue) == 0)
            return binding->queue;
    }
    for (size_t i = 0; i < a->want->exchange_count; i++) {
        if (a->refused_exchanges[i] && strcmp(a->want->exchanges[i].name, binding->exchange) == 0)
            return binding->exchange;
    }
    return NULL;
}

static wr_status create(struct apply *a, const struct topo_plan_item *item, struct wr_error *err)
{
    struct wr_error inner = {0};
    if (item->object == TOPO_OBJECT_BINDING) {
        const char *end = refused_end(a, &a->want->bindings[item->index]);
        if (end) {
            a->result->blocked++;
            if (a->out)
                fprintf(a->out, "blocked: %s (%s was refused by the broker)\n", item->label, end);
            return WR_OK;
        }
    }
    wr_status status = declare(a, item, &inner);
    if (status == WR_OK) {
        a->result->created++;
        if (a->out)
            topo_plan_print_item(item, "created", a->out);
        return WR_OK;
    }
    if (status == WR_ERR_CHANNEL_CLOSED && inner.reply_code == REPLY_PRECONDITION_FAILED) {
        a->result->drifted++;
        mark_refused(a, item);
        if (a->out)
            fprintf(a->out, "drift: %s: the broker refused it: %s\n", item->label, inner.message);
        return WR_OK;
    }
    wr_error_set(err, status, "declaring %s: %s", item->label, inner.message);
    if (err)
        err->reply_code = inner.reply_code;
    return status;
}

static wr_status apply_item(struct apply *a, const struct topo_plan_item *item,
                            struct wr_error *err)
{
    switch (item->action) {
    case TOPO_ACTION_CREATE:
        return create(a, item, err);
    case TOPO_ACTION_OK:
        a->result->present++;
        break;
    case TOPO_ACTION_DRIFT:
        a->result->drifted++;
        mark_refused(a, item);
        break;
    case TOPO_ACTION_BLOCKED:
        a->result->blocked++;
        break;
    case TOPO_ACTION_EXTRA:
        break;
    }
    if (a->out && item->action != TOPO_ACTION_OK)
        topo_plan_print_item(item, NULL, a->out);
    return WR_OK;
}

wr_status topo_apply_plan(struct mq_conn *conn, const struct topo_derived *want,
                          const struct topo_plan *plan, FILE *out, struct topo_apply_result *result,
                          struct wr_error *err)
{
    struct apply a = {.conn = conn, .want = want, .out = out, .result = result};
    wr_status status = WR_ERR_NOMEM;
    memset(result, 0, sizeof *result);
    a.refused_exchanges = calloc(want->exchange_count + 1, sizeof *a.refused_exchanges);
    a.refused_queues = calloc(want->queue_count + 1, sizeof *a.refused_queues);
    if (!a.refused_exchanges || !a.refused_queues) {
        wr_error_set(err, status, "applying the plan: out of memory");
        goto out;
    }
    /* plan items come exchanges first, then queues, then bindings: the
     * order the broker needs them in */
    status = WR_OK;
    for (size_t i = 0; i < plan->count && status == WR_OK; i++)
        status = apply_item(&a, &plan->items[i], err);
    if (status == WR_OK && (result->drifted || result->blocked))
        status =
            wr_error_set(err, WR_ERR_DRIFT,
                         "%zu object(s) differ on the broker and were left alone", result->drifted);
out:
    free(a.refused_queues);
    free(a.refused_exchanges);
    return status;
}
