/* Checks across objects of a decoded topology: duplicate exchange and
 * queue names, duplicate bindings, bindings to undeclared exchanges, and
 * queue names that are (or could become) names of derived queues. */
#include "topology/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct cctx {
    const struct topo_model *model;
    struct topo_diags *diags;
    wr_status status;
    bool found;
};

static void problem(struct cctx *c, struct topo_pos at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct cctx *c, struct topo_pos at, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    c->found = true;
    if (topo_diag_add(c->diags, at.line, at.column, "%s", message) != WR_OK)
        c->status = WR_ERR_NOMEM;
}

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void check_exchange_names(struct cctx *c)
{
    const struct topo_model *m = c->model;
    for (size_t i = 0; i < m->exchange_count; i++) {
        for (size_t j = 0; j < i; j++) {
            if (same(m->exchanges[i].name, m->exchanges[j].name)) {
                problem(c, m->exchanges[i].pos,
                        "duplicate exchange name \"%s\" (first declared at line %d, column %d)",
                        m->exchanges[i].name, m->exchanges[j].pos.line, m->exchanges[j].pos.column);
                break;
            }
        }
    }
}

static void check_queue_names(struct cctx *c)
{
    const struct topo_model *m = c->model;
    for (size_t i = 0; i < m->queue_count; i++) {
        for (size_t j = 0; j < i; j++) {
            if (same(m->queues[i].name, m->queues[j].name)) {
                problem(c, m->queues[i].pos,
                        "duplicate queue name \"%s\" (first declared at line %d, column %d)",
                        m->queues[i].name, m->queues[j].pos.line, m->queues[j].pos.column);
                break;
            }
        }
    }
}

/* "; it is the dead-letter queue of queue \"payment\" (line 7)" if name is
 * exactly a name derived from another queue of the file, else "". */
static void derived_owner(const struct topo_model *m, const char *name, char *out, size_t size)
{
    char derived[TOPO_DERIVED_NAME_SIZE];
    out[0] = '\0';
    for (size_t i = 0; i < m->queue_count; i++) {
        const struct topo_queue *q = &m->queues[i];
        if (!q->name)
            continue;
        if (topo_dead_queue_name(q->name, derived, sizeof derived) == WR_OK &&
            strcmp(derived, name) == 0) {
            snprintf(out, size, "; it is the dead-letter queue of queue \"%s\" (line %d)", q->name,
                     q->pos.line);
            return;
        }
        for (size_t d = 0; d < q->retry_delay_count; d++) {
            if (topo_retry_queue_name(q->name, q->retry_delays_ms[d], derived, sizeof derived) ==
                    WR_OK &&
                strcmp(derived, name) == 0) {
                snprintf(out, size, "; it is a retry tier of queue \"%s\" (line %d)", q->name,
                         q->pos.line);
                return;
            }
        }
    }
}

static void check_reserved_names(struct cctx *c)
{
    const struct topo_model *m = c->model;
    char owner[256];
    for (size_t i = 0; i < m->queue_count; i++) {
        const char *name = m->queues[i].name;
        size_t length = name ? strlen(name) : 0;
        bool dead = length >= 5 && strcmp(name + length - 5, ".dead") == 0;
        if (!name || (!dead && !strstr(name, ".retry.")))
            continue;
        derived_owner(m, name, owner, sizeof owner);
        problem(c, m->queues[i].pos,
                "queue name \"%s\" is reserved for derived queues (names ending in \".dead\" or "
                "containing \".retry.\")%s",
                name, owner);
    }
}

static const struct topo_exchange *find_exchange(const struct topo_model *m, const char *name)
{
    for (size_t i = 0; i < m->exchange_count; i++) {
        if (same(m->exchanges[i].name, name))
            return &m->exchanges[i];
    }
    return NULL;
}

/* "declared exchanges: a, b" (each name once), or "no exchanges are declared". */
static void declared_exchanges(const struct topo_model *m, char *out, size_t size)
{
    size_t used = 0;
    snprintf(out, size, "no exchanges are declared");
    for (size_t i = 0; i < m->exchange_count && used < size; i++) {
        const char *name = m->exchanges[i].name;
        if (name && find_exchange(m, name) == &m->exchanges[i])
            used += (size_t)snprintf(out + used, size - used, "%s%s",
                                     used ? ", " : "declared exchanges: ", name);
    }
}

static void check_binding(struct cctx *c, const struct topo_queue *q, size_t index)
{
    const struct topo_binding *b = &q->bindings[index];
    char declared[512], exchange[128], key[128];
    topo_quote(b->exchange ? b->exchange : "", exchange, sizeof exchange);
    topo_quote(b->routing_key ? b->routing_key : "", key, sizeof key);
    if (b->exchange && !find_exchange(c->model, b->exchange)) {
        declared_exchanges(c->model, declared, sizeof declared);
        problem(c, b->pos, "binding to undeclared exchange %s; %s", exchange, declared);
    }
    for (size_t j = 0; j < index && b->routing_key; j++) {
        const struct topo_binding *first = &q->bindings[j];
        if (same(first->exchange, b->exchange) && same(first->routing_key, b->routing_key)) {
            problem(c, b->pos,
                    "duplicate binding to exchange %s with routing key %s (first at line %d, "
                    "column %d)",
                    exchange, key, first->pos.line, first->pos.column);
            break;
        }
    }
}

wr_status topo_check_model(const struct topo_model *model, struct topo_diags *diags, bool *found)
{
    struct cctx c = {.model = model, .diags = diags, .status = WR_OK};
    check_exchange_names(&c);
    check_queue_names(&c);
    check_reserved_names(&c);
    for (size_t i = 0; i < model->queue_count; i++) {
        for (size_t b = 0; b < model->queues[i].binding_count; b++)
            check_binding(&c, &model->queues[i], b);
    }
    *found = c.found;
    return c.status;
}
