/* YAML text -> a tree of topo_node with 1-based line/column on every node,
 * built from libyaml's event API (the only file that sees yaml_* types).
 * Anchors and aliases are supported by sharing nodes; all nodes and
 * strings live in one arena freed at once. */
#include "topology/internal.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/grow.h"

/* Deeper nesting than any topology needs; the limit keeps the recursive
 * builder's stack use bounded on hostile input. */
#define MAX_DEPTH 64
#define ARENA_BLOCK_SIZE 16384

struct arena_block {
    struct arena_block *next;
    size_t used;
    size_t size;
    alignas(max_align_t) unsigned char data[];
};

struct topo_tree {
    struct arena_block *blocks;
};

struct anchor {
    const char *name;
    struct topo_node *node;
};

struct builder {
    yaml_parser_t parser;
    struct topo_tree *tree;
    struct topo_diags *diags;
    const char *text;
    size_t size;
    struct anchor *anchors;
    size_t anchor_count;
    size_t anchor_capacity;
    int depth;
};

static wr_status build_node(struct builder *b, yaml_event_t *event, struct topo_node **out);

/* ---- arena ----------------------------------------------------------- */

static void *arena_alloc(struct topo_tree *tree, size_t size)
{
    size = (size + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    struct arena_block *block = tree->blocks;
    if (!block || block->size - block->used < size) {
        size_t capacity = size > ARENA_BLOCK_SIZE ? size : ARENA_BLOCK_SIZE;
        block = malloc(sizeof *block + capacity);
        if (!block)
            return NULL;
        block->size = capacity;
        block->used = 0;
        block->next = tree->blocks;
        tree->blocks = block;
    }
    void *p = block->data + block->used;
    block->used += size;
    return p;
}

static char *arena_strndup(struct topo_tree *tree, const char *text, size_t length)
{
    char *copy = arena_alloc(tree, length + 1);
    if (copy) {
        memcpy(copy, text, length);
        copy[length] = '\0';
    }
    return copy;
}

void topo_tree_free(struct topo_tree *tree)
{
    if (!tree)
        return;
    while (tree->blocks) {
        struct arena_block *next = tree->blocks->next;
        free(tree->blocks);
        tree->blocks = next;
    }
    free(tree);
}

/* ---- events and syntax errors ------------------------------------------ */

static void offset_position(const char *text, size_t size, size_t offset, int *line, int *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset && i < size; i++) {
        if (text[i] == '\n') {
            ++*line;
            *column = 1;
        } else {
            ++*column;
        }
    }
}

/* The status of a function that just reported a problem. */
static wr_status reported(wr_status add_status)
{
    return add_status == WR_OK ? WR_ERR_TOPOLOGY : add_status;
}

static wr_status syntax_error(struct builder *b)
{
    const yaml_parser_t *p = &b->parser;
    const char *problem = p->problem ? p->problem : "unknown error";
    int line = (int)p->problem_mark.line + 1, column = (int)p->problem_mark.column + 1;
    if (p->error == YAML_MEMORY_ERROR)
        return WR_ERR_NOMEM;
    if (p->error == YAML_READER_ERROR) {
        offset_position(b->text, b->size, p->problem_offset, &line, &column);
        if (p->problem_value >= 0)
            return reported(topo_diag_add(b->diags, line, column,
                                          "YAML syntax error: %s (byte 0x%02x)", problem,
                                          (unsigned)p->problem_value));
        return reported(topo_diag_add(b->diags, line, column, "YAML syntax error: %s", problem));
    }
    if (p->context)
        return reported(topo_diag_add(
            b->diags, line, column, "YAML syntax error: %s (%s that started at line %d, column %d)",
            problem, p->context, (int)p->context_mark.line + 1, (int)p->context_mark.column + 1));
    return reported(topo_diag_add(b->diags, line, column, "YAML syntax error: %s", problem));
}

static wr_status next_event(struct builder *b, yaml_event_t *event)
{
    if (!yaml_parser_parse(&b->parser, event))
        return syntax_error(b);
    return WR_OK;
}

static wr_status event_error(struct builder *b, const yaml_event_t *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static wr_status event_error(struct builder *b, const yaml_event_t *event, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return reported(topo_diag_add(b->diags, (int)event->start_mark.line + 1,
                                  (int)event->start_mark.column + 1, "%s", message));
}

/* ---- nodes ----------------------------------------------------------------- */

static struct topo_node *new_node(struct builder *b, enum topo_node_kind kind,
                                  const yaml_event_t *event)
{
    struct topo_node *node = arena_alloc(b->tree, sizeof *node);
    if (node)
        *node = (struct topo_node){.kind = kind,
                                   .line = (int)event->start_mark.line + 1,
                                   .column = (int)event->start_mark.column + 1};
    return node;
}

static wr_status remember_anchor(struct builder *b, const yaml_char_t *name, struct topo_node *node)
{
    if (!name)
        return WR_OK;
    if (!wr_grow(&b->anchors, &b->anchor_capacity, b->anchor_count, sizeof *b->anchors, 8))
        return WR_ERR_NOMEM;
    const char *copy = arena_strndup(b->tree, (const char *)name, strlen((const char *)name));
    if (!copy)
        return WR_ERR_NOMEM;
    b->anchors[b->anchor_count++] = (struct anchor){copy, node};
    return WR_OK;
}

static wr_status build_alias(struct builder *b, yaml_event_t *event, struct topo_node **out)
{
    const char *name = (const char *)event->data.alias.anchor;
    for (size_t i = b->anchor_count; i-- > 0;) {
        if (strcmp(b->anchors[i].name, name) == 0) {
            *out = b->anchors[i].node;
            return WR_OK;
        }
    }
    return event_error(b, event, "alias *%s refers to no anchor defined before it", name);
}

static wr_status build_scalar(struct builder *b, yaml_event_t *event, struct topo_node **out)
{
    const char *value = (const char *)event->data.scalar.value;
    size_t length = event->data.scalar.length;
    if (memchr(value, '\0', length))
        return event_error(b, event, "text must not contain NUL characters");
    struct topo_node *node = new_node(b, TOPO_NODE_SCALAR, event);
    if (!node || !(node->text = arena_strndup(b->tree, value, length)))
        return WR_ERR_NOMEM;
    node->plain = event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    *out = node;
    return remember_anchor(b, event->data.scalar.anchor, node);
}

/* Children of a collection while it is being read. */
struct child_list {
    struct topo_node **items;
    size_t count;
    size_t capacity;
};

/* Builds the node of event and appends it to list. */
static wr_status add_child(struct builder *b, yaml_event_t *event, struct child_list *list)
{
    if (!wr_grow(&list->items, &list->capacity, list->count, sizeof *list->items, 8))
        return WR_ERR_NOMEM;
    wr_status status = build_node(b, event, &list->items[list->count]);
    if (status == WR_OK)
        list->count++;
    return status;
}

/* Collects children until the end event of the collection; a mapping's
 * children alternate key, value. Copies them into the arena at the end. */
static wr_status build_children(struct builder *b, yaml_event_type_t end,
                                struct topo_node ***items_out, size_t *count_out)
{
    struct child_list list = {0};
    yaml_event_t event;
    wr_status status;
    while ((status = next_event(b, &event)) == WR_OK) {
        bool done = event.type == end;
        if (!done)
            status = add_child(b, &event, &list);
        yaml_event_delete(&event);
        if (done || status != WR_OK)
            break;
    }
    if (status != WR_OK)
        goto out;
    *items_out = arena_alloc(b->tree, list.count * sizeof **items_out + 1);
    if (!*items_out) {
        status = WR_ERR_NOMEM;
        goto out;
    }
    if (list.count)
        memcpy(*items_out, list.items, list.count * sizeof *list.items);
    *count_out = list.count;
out:
    free(list.items);
    return status;
}

static wr_status build_sequence(struct builder *b, yaml_event_t *event, struct topo_node **out)
{
    struct topo_node *node = new_node(b, TOPO_NODE_SEQUENCE, event);
    if (!node)
        return WR_ERR_NOMEM;
    wr_status status = build_children(b, YAML_SEQUENCE_END_EVENT, &node->items, &node->count);
    if (status != WR_OK)
        return status;
    *out = node;
    return remember_anchor(b, event->data.sequence_start.anchor, node);
}

static wr_status build_mapping(struct builder *b, yaml_event_t *event, struct topo_node **out)
{
    struct topo_node *node = new_node(b, TOPO_NODE_MAPPING, event);
    struct topo_node **flat = NULL;
    size_t flat_count = 0;
    if (!node)
        return WR_ERR_NOMEM;
    wr_status status = build_children(b, YAML_MAPPING_END_EVENT, &flat, &flat_count);
    if (status != WR_OK)
        return status;
    node->count = flat_count / 2;
    node->pairs = arena_alloc(b->tree, node->count * sizeof *node->pairs + 1);
    if (!node->pairs)
        return WR_ERR_NOMEM;
    for (size_t i = 0; i < node->count; i++)
        node->pairs[i] = (struct topo_pair){flat[2 * i], flat[2 * i + 1]};
    *out = node;
    return remember_anchor(b, event->data.mapping_start.anchor, node);
}

static wr_status build_node(struct builder *b, yaml_event_t *event, struct topo_node **out)
{
    wr_status status = WR_ERR_TOPOLOGY;
    if (b->depth >= MAX_DEPTH)
        return event_error(b, event, "nesting is deeper than %d levels", MAX_DEPTH);
    b->depth++;
    switch (event->type) {
    case YAML_SCALAR_EVENT:
        status = build_scalar(b, event, out);
        break;
    case YAML_SEQUENCE_START_EVENT:
        status = build_sequence(b, event, out);
        break;
    case YAML_MAPPING_START_EVENT:
        status = build_mapping(b, event, out);
        break;
    case YAML_ALIAS_EVENT:
        status = build_alias(b, event, out);
        break;
    default:
        status = event_error(b, event, "unexpected YAML event");
        break;
    }
    b->depth--;
    return status;
}

/* ---- documents ------------------------------------------------------------- */

/* Expects `type` next; anything else is reported with message. */
static wr_status expect_event(struct builder *b, yaml_event_type_t type, const char *message)
{
    yaml_event_t event;
    wr_status status = next_event(b, &event);
    if (status != WR_OK)
        return status;
    if (event.type != type)
        status = event_error(b, &event, "%s", message);
    yaml_event_delete(&event);
    return status;
}

static wr_status build_document(struct builder *b, const struct topo_node **root)
{
    yaml_event_t event;
    wr_status status = next_event(b, &event);
    if (status != WR_OK)
        return status;
    bool is_end = event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
    if (is_end)
        return WR_OK; /* no document at all */
    if ((status = next_event(b, &event)) != WR_OK)
        return status;
    struct topo_node *node = NULL;
    status = build_node(b, &event, &node);
    yaml_event_delete(&event);
    if (status != WR_OK)
        return status;
    if ((status = expect_event(b, YAML_DOCUMENT_END_EVENT, "unexpected content")) != WR_OK)
        return status;
    status = expect_event(b, YAML_STREAM_END_EVENT,
                          "only one YAML document is allowed; a second one starts here");
    *root = topo_node_is_null(node) ? NULL : node;
    return status;
}

wr_status topo_parse(const char *text, size_t size, struct topo_diags *diags,
                     struct topo_tree **tree, const struct topo_node **root)
{
    struct builder b = {.diags = diags, .text = text, .size = size};
    wr_status status;
    *root = NULL;
    *tree = calloc(1, sizeof **tree);
    if (!*tree)
        return WR_ERR_NOMEM;
    b.tree = *tree;
    if (!yaml_parser_initialize(&b.parser))
        return WR_ERR_NOMEM;
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, size);
    status = expect_event(&b, YAML_STREAM_START_EVENT, "unexpected start of stream");
    if (status == WR_OK)
        status = build_document(&b, root);
    yaml_parser_delete(&b.parser);
    free(b.anchors);
    if (status != WR_OK)
        *root = NULL;
    return status;
}

bool topo_node_is_null(const struct topo_node *node)
{
    if (!node || node->kind != TOPO_NODE_SCALAR || !node->plain)
        return false;
    const char *t = node->text;
    return !*t || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") || !strcmp(t, "NULL");
}
