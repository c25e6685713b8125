/* The node tree -> struct topo_model, checking every mapping against a
 * table of allowed keys and every value against its type and range, and
 * collecting every problem (not just the first) with its position.
 * Cross-object checks (duplicates, references) are in check.c. */
#include "topology/internal.h"

#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/duration.h"

struct vctx {
    struct topo_diags *diags;
    wr_status status; /* WR_ERR_NOMEM once memory ran out, else WR_OK */
    bool found;       /* a problem was reported */
};

typedef void (*decode_fn)(struct vctx *c, const struct topo_node *value, void *target);

/* One allowed key of a mapping: how to decode its value into the target. */
struct key_rule {
    const char *key;
    bool required;
    decode_fn decode;
};

struct mapping_rules {
    const char *what; /* "queue", used in messages */
    bool top;         /* the root mapping: "at the top level" */
    const struct key_rule *rules;
    size_t count;
};

/* Values of keys a queue leaves out (docs/TOPOLOGY.md lists them). */
static const struct topo_queue queue_defaults = {
    .type = MQ_QUEUE_QUORUM,
    .service = TOPO_SERVICE_ORDER, /* never used: service is required */
    .workers = 1,
    .prefetch = 50,
    .retry_delay_count = 0,
    .max_attempts = 1, /* no retry: the first failure is dead-lettered */
};

/* Retry decoding needs to know what was given before it can check
 * max_attempts against the number of delays. */
struct retry_target {
    struct topo_queue *queue;
    const struct topo_node *max_attempts_node; /* NULL if absent or invalid */
    bool delays_ok;
};

/* ---- reporting ---------------------------------------------------------------- */

static void problem(struct vctx *c, const struct topo_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct vctx *c, const struct topo_node *at, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    c->found = true;
    if (topo_diag_add(c->diags, at->line, at->column, "%s", message) != WR_OK)
        c->status = WR_ERR_NOMEM;
}

/* What a node is, for "must be X, got Y" messages. */
static const char *describe(const struct topo_node *node, char *buf, size_t size)
{
    char quoted[128];
    if (node->kind == TOPO_NODE_MAPPING)
        return "a mapping";
    if (node->kind == TOPO_NODE_SEQUENCE)
        return "a list";
    if (topo_node_is_null(node))
        return "an empty value";
    topo_quote(node->text, quoted, sizeof quoted);
    snprintf(buf, size, "%s%s", node->plain ? "" : "a quoted string ", quoted);
    return buf;
}

static bool expect_kind(struct vctx *c, const struct topo_node *node, enum topo_node_kind kind,
                        const char *subject)
{
    static const char *const names[] = {"a string", "a list", "a mapping"};
    char buf[160];
    if (node->kind == kind && !(kind == TOPO_NODE_SCALAR && topo_node_is_null(node)))
        return true;
    problem(c, node, "%s must be %s, got %s", subject, names[kind],
            describe(node, buf, sizeof buf));
    return false;
}

static char *copy_text(struct vctx *c, const char *text)
{
    char *copy = strdup(text);
    if (!copy)
        c->status = WR_ERR_NOMEM;
    return copy;
}

/* ---- scalars ------------------------------------------------------------------- */

/* Parses [+-]digits; a number too large for long long is clamped (so
 * it is reported as out of range, not as "not an integer"). */
static bool parse_integer(const char *text, long long *out)
{
    const char *p = text;
    char *end;
    if (*p == '+' || *p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return false;
    *out = strtoll(text, &end, 10);
    return *end == '\0';
}

static bool get_int(struct vctx *c, const struct topo_node *node, const char *key, int min, int max,
                    int *out)
{
    char subject[64], buf[160];
    long long value;
    snprintf(subject, sizeof subject, "\"%s\"", key);
    if (node->kind != TOPO_NODE_SCALAR || !node->plain || topo_node_is_null(node) ||
        !parse_integer(node->text, &value)) {
        problem(c, node, "%s must be an integer, got %s", subject, describe(node, buf, sizeof buf));
        return false;
    }
    if (value < min || value > max) {
        problem(c, node, "%s must be from %d to %d, got %s", subject, min, max, node->text);
        return false;
    }
    *out = (int)value;
    return true;
}

static const char *get_string(struct vctx *c, const struct topo_node *node, const char *key)
{
    char subject[64];
    snprintf(subject, sizeof subject, "\"%s\"", key);
    return expect_kind(c, node, TOPO_NODE_SCALAR, subject) ? node->text : NULL;
}

static bool get_choice(struct vctx *c, const struct topo_node *node, const char *key,
                       const struct topo_choice_set *set, int *out)
{
    char quoted[128], allowed[128];
    const char *text = get_string(c, node, key);
    if (!text)
        return false;
    if (topo_choice_parse(set, text, out) == 0)
        return true;
    topo_quote(text, quoted, sizeof quoted);
    topo_choice_list(set, allowed, sizeof allowed);
    problem(c, node, "unknown %s %s; allowed: %s", set->what, quoted, allowed);
    return false;
}

static bool name_char_ok(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-' || ch == ':';
}

/* Names become AMQP names and parts of derived names: keep them plain. */
static char *get_name(struct vctx *c, const struct topo_node *node, const char *what)
{
    char quoted[128];
    const char *text = get_string(c, node, "name");
    size_t length = text ? strlen(text) : 0;
    if (!text)
        return NULL;
    topo_quote(text, quoted, sizeof quoted);
    for (size_t i = 0; i < length; i++) {
        if (!name_char_ok(text[i]))
            length = 0;
    }
    if (length == 0 || length > TOPO_NAME_MAX) {
        problem(c, node, "invalid %s name %s: use 1-%d characters from A-Z a-z 0-9 . _ - :", what,
                quoted, TOPO_NAME_MAX);
        return NULL;
    }
    if (strncmp(text, "amq.", 4) == 0) {
        problem(c, node, "%s name %s is reserved: names starting with \"amq.\" belong to RabbitMQ",
                what, quoted);
        return NULL;
    }
    return copy_text(c, text);
}

/* ---- mappings -------------------------------------------------------------- */

/* Edit distance of two short strings (for "did you mean"), capped at 9. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[33];
    if (la > 32 || lb > 32)
        return 9;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diagonal + (a[i - 1] != b[j - 1]);
            best = up + 1 < best ? up + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            diagonal = up;
            row[j] = best;
        }
    }
    return row[lb];
}

static void unknown_key(struct vctx *c, const struct topo_node *key, const struct mapping_rules *m,
                        const char *label)
{
    char allowed[256] = "", hint[96] = "", quoted[128];
    size_t used = 0;
    for (size_t i = 0; i < m->count; i++) {
        used += (size_t)snprintf(allowed + used, sizeof allowed - used, "%s%s", i ? ", " : "",
                                 m->rules[i].key);
        if (!hint[0] && strlen(key->text) >= 3 && edit_distance(key->text, m->rules[i].key) <= 2)
            snprintf(hint, sizeof hint, " (did you mean \"%s\"?)", m->rules[i].key);
    }
    topo_quote(key->text, quoted, sizeof quoted);
    problem(c, key, "unknown key %s %s %s%s; allowed keys: %s", quoted, m->top ? "at" : "in", label,
            hint, allowed);
}

/* The index of an earlier pair with the same key, or SIZE_MAX. */
static size_t earlier_key(const struct topo_node *map, size_t index)
{
    const struct topo_node *key = map->pairs[index].key;
    for (size_t i = 0; i < index; i++) {
        const struct topo_node *other = map->pairs[i].key;
        if (other->kind == TOPO_NODE_SCALAR && strcmp(other->text, key->text) == 0)
            return i;
    }
    return SIZE_MAX;
}

/* "queue \"payment\"" when the mapping has a usable name, else "queue". */
static void mapping_label(const struct topo_node *map, const char *what, char *out, size_t size)
{
    char quoted[128];
    snprintf(out, size, "%s", what);
    for (size_t i = 0; i < map->count; i++) {
        const struct topo_pair *pair = &map->pairs[i];
        if (pair->key->kind == TOPO_NODE_SCALAR && strcmp(pair->key->text, "name") == 0 &&
            pair->value->kind == TOPO_NODE_SCALAR && !topo_node_is_null(pair->value)) {
            topo_quote(pair->value->text, quoted, sizeof quoted);
            snprintf(out, size, "%s %s", what, quoted);
            return;
        }
    }
}

static const struct key_rule *find_rule(const struct mapping_rules *m, const char *key)
{
    for (size_t i = 0; i < m->count; i++) {
        if (strcmp(m->rules[i].key, key) == 0)
            return &m->rules[i];
    }
    return NULL;
}

/* Decodes each known key of map into target and reports unknown,
 * duplicate and missing keys. */
static void walk_mapping(struct vctx *c, const struct topo_node *map, const struct mapping_rules *m,
                         void *target)
{
    bool seen[16] = {false};
    char label[160], buf[160];
    mapping_label(map, m->what, label, sizeof label);
    for (size_t i = 0; i < map->count; i++) {
        const struct topo_node *key = map->pairs[i].key;
        if (key->kind != TOPO_NODE_SCALAR) {
            problem(c, key, "a key must be a string, got %s", describe(key, buf, sizeof buf));
            continue;
        }
        size_t first = earlier_key(map, i);
        if (first != SIZE_MAX) {
            const struct topo_node *earlier = map->pairs[first].key;
            problem(c, key, "duplicate key \"%s\" %s %s (first at line %d, column %d)", key->text,
                    m->top ? "at" : "in", label, earlier->line, earlier->column);
            continue;
        }
        const struct key_rule *rule = find_rule(m, key->text);
        if (!rule) {
            unknown_key(c, key, m, label);
            continue;
        }
        seen[rule - m->rules] = true;
        rule->decode(c, map->pairs[i].value, target);
    }
    for (size_t r = 0; r < m->count; r++) {
        if (m->rules[r].required && !seen[r])
            problem(c, map, "%s is missing required key \"%s\"", label, m->rules[r].key);
    }
}

/* ---- bindings ------------------------------------------------------------------- */

static void binding_exchange(struct vctx *c, const struct topo_node *value, void *target)
{
    struct topo_binding *binding = target;
    const char *text = get_string(c, value, "exchange");
    if (text && (binding->exchange = copy_text(c, text)))
        binding->pos = (struct topo_pos){value->line, value->column};
}

static void binding_routing_key(struct vctx *c, const struct topo_node *value, void *target)
{
    struct topo_binding *binding = target;
    const char *text = get_string(c, value, "routing_key");
    if (text && strlen(text) > 255)
        problem(c, value, "\"routing_key\" is longer than 255 bytes");
    else if (text)
        binding->routing_key = copy_text(c, text);
}

static const struct key_rule binding_keys[] = {
    {"exchange", true, binding_exchange},
    {"routing_key", true, binding_routing_key},
};
static const struct mapping_rules binding_rules = {"binding", false, binding_keys, 2};

static void queue_bindings(struct vctx *c, const struct topo_node *value, void *target)
{
    struct topo_queue *queue = target;
    if (!expect_kind(c, value, TOPO_NODE_SEQUENCE, "\"bindings\""))
        return;
    queue->bindings = calloc(value->count + 1, sizeof *queue->bindings);
    if (!queue->bindings) {
        c->status = WR_ERR_NOMEM;
        return;
    }
    queue->binding_count = value->count;
    for (size_t i = 0; i < value->count; i++) {
        const struct topo_node *item = value->items[i];
        queue->bindings[i].pos = (struct topo_pos){item->line, item->column};
        if (expect_kind(c, item, TOPO_NODE_MAPPING, "each entry of \"bindings\""))
            walk_mapping(c, item, &binding_rules, &queue->bindings[i]);
    }
}

/* ---- retry ------------------------------------------------------------------------ */

/* Reports a delay equal to an earlier one (both would use one tier). */
static bool delay_is_repeat(struct vctx *c, const struct topo_node *delays, size_t index,
                            const int64_t *ms)
{
    for (size_t i = 0; i < index; i++) {
        const struct topo_node *first = delays->items[i];
        if (ms[i] == ms[index]) {
            problem(c, delays->items[index],
                    "duplicate delay \"%s\" (the same as \"%s\" at line %d, column %d)",
                    delays->items[index]->text, first->text, first->line, first->column);
            return true;
        }
    }
    return false;
}

static bool get_delay(struct vctx *c, const struct topo_node *item, int64_t *ms)
{
    char buf[160];
    if (item->kind != TOPO_NODE_SCALAR || topo_node_is_null(item)) {
        problem(c, item, "each delay must be a duration like 10s, got %s",
                describe(item, buf, sizeof buf));
        return false;
    }
    if (wr_duration_parse(item->text, ms) != WR_OK) {
        topo_quote(item->text, buf, sizeof buf);
        problem(c, item,
                "bad duration %s: use a whole number above zero and a unit ms, s, m or h "
                "(250ms, 10s, 5m, 1h), at most 30 days",
                buf);
        return false;
    }
    return true;
}

static void retry_delays(struct vctx *c, const struct topo_node *value, void *target)
{
    struct retry_target *retry = target;
    int64_t ms[TOPO_MAX_DELAYS];
    bool ok = true;
    if (!expect_kind(c, value, TOPO_NODE_SEQUENCE, "\"delays\""))
        return;
    if (value->count == 0 || value->count > TOPO_MAX_DELAYS) {
        problem(c, value, "\"delays\" must list 1 to %d durations, got %zu", TOPO_MAX_DELAYS,
                value->count);
        return;
    }
    for (size_t i = 0; i < value->count; i++) {
        if (!get_delay(c, value->items[i], &ms[i]))
            ok = false;
        else if (delay_is_repeat(c, value, i, ms))
            ok = false;
    }
    if (!ok)
        return;
    memcpy(retry->queue->retry_delays_ms, ms, value->count * sizeof ms[0]);
    retry->queue->retry_delay_count = value->count;
    retry->delays_ok = true;
}

static void retry_max_attempts(struct vctx *c, const struct topo_node *value, void *target)
{
    struct retry_target *retry = target;
    if (get_int(c, value, "max_attempts", 1, 1000, &retry->queue->max_attempts))
        retry->max_attempts_node = value;
}

static const struct key_rule retry_keys[] = {
    {"delays", true, retry_delays},
    {"max_attempts", false, retry_max_attempts},
};
static const struct mapping_rules retry_rules = {"retry", false, retry_keys, 2};

/* max_attempts defaults to one attempt per tier plus the first; fewer
 * would leave tiers unused, so that is an error. */
static void queue_retry(struct vctx *c, const struct topo_node *value, void *target)
{
    struct retry_target retry = {.queue = target};
    if (!expect_kind(c, value, TOPO_NODE_MAPPING, "\"retry\""))
        return;
    walk_mapping(c, value, &retry_rules, &retry);
    if (!retry.delays_ok)
        return;
    size_t needed = retry.queue->retry_delay_count + 1;
    if (!retry.max_attempts_node)
        retry.queue->max_attempts = (int)needed;
    else if ((size_t)retry.queue->max_attempts < needed)
        problem(c, retry.max_attempts_node,
                "\"max_attempts\" must be at least %zu (the first attempt plus one per delay), "
                "got %d",
                needed, retry.queue->max_attempts);
}

/* ---- queues and exchanges ------------------------------------------------------- */

static void queue_name(struct vctx *c, const struct topo_node *value, void *target)
{
    struct topo_queue *queue = target;
    if ((queue->name = get_name(c, value, "queue")))
        queue->pos = (struct topo_pos){value->line, value->column};
}

static void queue_type(struct vctx *c, const struct topo_node *value, void *target)
{
    int type;
    if (get_choice(c, value, "type", &topo_queue_types, &type))
        ((struct topo_queue *)target)->type = (enum mq_queue_type)type;
}

static void queue_service(struct vctx *c, const struct topo_node *value, void *target)
{
    int service;
    if (get_choice(c, value, "service", &topo_services, &service))
        ((struct topo_queue *)target)->service = (enum topo_service)service;
}

static void queue_workers(struct vctx *c, const struct topo_node *value, void *target)
{
    get_int(c, value, "workers", 0, 64, &((struct topo_queue *)target)->workers);
}

static void queue_prefetch(struct vctx *c, const struct topo_node *value, void *target)
{
    get_int(c, value, "prefetch", 1, 65535, &((struct topo_queue *)target)->prefetch);
}

static const struct key_rule queue_keys[] = {
    {"name", true, queue_name},          {"type", false, queue_type},
    {"service", true, queue_service},    {"workers", false, queue_workers},
    {"prefetch", false, queue_prefetch}, {"retry", false, queue_retry},
    {"bindings", false, queue_bindings},
};
static const struct mapping_rules queue_rules = {"queue", false, queue_keys, 7};

static void exchange_name(struct vctx *c, const struct topo_node *value, void *target)
{
    struct topo_exchange *exchange = target;
    if ((exchange->name = get_name(c, value, "exchange")))
        exchange->pos = (struct topo_pos){value->line, value->column};
}

static void exchange_type(struct vctx *c, const struct topo_node *value, void *target)
{
    int type;
    if (get_choice(c, value, "type", &topo_exchange_types, &type))
        ((struct topo_exchange *)target)->type = (enum mq_exchange_type)type;
}

static const struct key_rule exchange_keys[] = {
    {"name", true, exchange_name},
    {"type", true, exchange_type},
};
static const struct mapping_rules exchange_rules = {"exchange", false, exchange_keys, 2};

/* ---- top level ------------------------------------------------------------------ */

static void top_exchanges(struct vctx *c, const struct topo_node *value, void *target)
{
    struct topo_model *model = target;
    if (!expect_kind(c, value, TOPO_NODE_SEQUENCE, "\"exchanges\""))
        return;
    model->exchanges = calloc(value->count + 1, sizeof *model->exchanges);
    if (!model->exchanges) {
        c->status = WR_ERR_NOMEM;
        return;
    }
    model->exchange_count = value->count;
    for (size_t i = 0; i < value->count; i++) {
        const struct topo_node *item = value->items[i];
        model->exchanges[i].pos = (struct topo_pos){item->line, item->column};
        if (expect_kind(c, item, TOPO_NODE_MAPPING, "each entry of \"exchanges\""))
            walk_mapping(c, item, &exchange_rules, &model->exchanges[i]);
    }
}

static void top_queues(struct vctx *c, const struct topo_node *value, void *target)
{
    struct topo_model *model = target;
    if (!expect_kind(c, value, TOPO_NODE_SEQUENCE, "\"queues\""))
        return;
    model->queues = calloc(value->count + 1, sizeof *model->queues);
    if (!model->queues) {
        c->status = WR_ERR_NOMEM;
        return;
    }
    model->queue_count = value->count;
    for (size_t i = 0; i < value->count; i++) {
        const struct topo_node *item = value->items[i];
        struct topo_queue *queue = &model->queues[i];
        *queue = queue_defaults;
        queue->pos = (struct topo_pos){item->line, item->column};
        if (expect_kind(c, item, TOPO_NODE_MAPPING, "each entry of \"queues\""))
            walk_mapping(c, item, &queue_rules, queue);
    }
}

static const struct key_rule top_keys[] = {
    {"exchanges", false, top_exchanges},
    {"queues", true, top_queues},
};
static const struct mapping_rules top_rules = {"the top level", true, top_keys, 2};

wr_status topo_validate(const struct topo_node *root, struct topo_diags *diags,
                        struct topo_model **out)
{
    struct vctx c = {.diags = diags, .status = WR_OK};
    struct topo_model *model = calloc(1, sizeof *model);
    bool cross_found = false;
    char buf[160];
    *out = NULL;
    if (!model)
        return WR_ERR_NOMEM;
    if (!root)
        problem(&c, &(struct topo_node){.line = 1, .column = 1},
                "the file is empty; expected a mapping with keys exchanges and queues");
    else if (root->kind != TOPO_NODE_MAPPING)
        problem(&c, root, "the top level must be a mapping with keys exchanges and queues, got %s",
                describe(root, buf, sizeof buf));
    else
        walk_mapping(&c, root, &top_rules, model);
    if (c.status == WR_OK)
        c.status = topo_check_model(model, diags, &cross_found);
    if (c.status == WR_OK && !c.found && !cross_found) {
        *out = model;
        return WR_OK;
    }
    topo_model_free(model);
    return c.status != WR_OK ? c.status : WR_ERR_TOPOLOGY;
}
