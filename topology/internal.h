/* Private to topology/: the YAML node tree that parse.c builds (so no
 * yaml_* type leaves parse.c), the diagnostics helpers, and the steps the
 * loader chains together. */
#ifndef WARREN_TOPOLOGY_INTERNAL_H
#define WARREN_TOPOLOGY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "topology/topology.h"

/* Most diagnostics kept for one file; one more line says the rest were cut. */
#define TOPO_MAX_DIAGS 200
/* Largest topology file accepted. */
#define TOPO_MAX_FILE_SIZE (1024 * 1024)

enum topo_node_kind { TOPO_NODE_SCALAR, TOPO_NODE_SEQUENCE, TOPO_NODE_MAPPING };

struct topo_node;

struct topo_pair {
    struct topo_node *key;
    struct topo_node *value;
};

/* One YAML node with its 1-based start position. Nodes reached through an
 * alias are shared, so the tree is a DAG owned by its arena. */
struct topo_node {
    enum topo_node_kind kind;
    int line;
    int column;
    const char *text;         /* SCALAR: the value, NUL-terminated */
    bool plain;               /* SCALAR: written without quotes (so 5 is an integer, "5" text) */
    struct topo_node **items; /* SEQUENCE */
    struct topo_pair *pairs;  /* MAPPING, in file order */
    size_t count;             /* items or pairs */
};

struct topo_tree; /* owns every node and string (parse.c) */

/* Parses text (size bytes) into a tree. Returns WR_OK with *root set (NULL
 * for an empty document); WR_ERR_TOPOLOGY after adding the syntax problem
 * to diags; WR_ERR_NOMEM. In every case the caller frees *tree with
 * topo_tree_free() (NULL allowed); *root points into it. */
wr_status topo_parse(const char *text, size_t size, struct topo_diags *diags,
                     struct topo_tree **tree, const struct topo_node **root);
void topo_tree_free(struct topo_tree *tree);

/* Turns the tree into a model, adding every problem to diags. Returns
 * WR_OK with *out set only if no problem was found; WR_ERR_TOPOLOGY;
 * WR_ERR_NOMEM. */
wr_status topo_validate(const struct topo_node *root, struct topo_diags *diags,
                        struct topo_model **out);

/* A closed set of names for an enum, declared once and used both to parse
 * the file and to print plans. */
struct topo_choice {
    const char *name;
    int value;
};
struct topo_choice_set {
    const char *what; /* "queue type" */
    const struct topo_choice *choices;
    size_t count;
};
extern const struct topo_choice_set topo_exchange_types;
extern const struct topo_choice_set topo_queue_types;
extern const struct topo_choice_set topo_services;

/* The value of name in set: 0 and *value set, or -1. */
int topo_choice_parse(const struct topo_choice_set *set, const char *name, int *value);
/* The name of value in set, or "?" if it has none. */
const char *topo_choice_name(const struct topo_choice_set *set, int value);
/* "direct, topic, fanout, headers" into out. */
void topo_choice_list(const struct topo_choice_set *set, char *out, size_t out_size);

/* Cross-object checks on a decoded model (duplicate names, bindings to
 * undeclared exchanges, names that clash with derived queues). Entries
 * left incomplete by earlier problems (NULL names) are skipped. Returns
 * WR_OK or WR_ERR_NOMEM; *found is set when a problem was added. */
wr_status topo_check_model(const struct topo_model *model, struct topo_diags *diags, bool *found);

/* True for a plain empty, "~" or "null" scalar. */
bool topo_node_is_null(const struct topo_node *node);

/* Adds a diagnostic (printf-style). Identical repeats (same position and
 * text, e.g. through an alias) are dropped; after TOPO_MAX_DIAGS one final
 * "too many errors" entry is kept. Returns WR_OK or WR_ERR_NOMEM. */
wr_status topo_diag_add(struct topo_diags *diags, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sorts diagnostics by position, keeping the order of equal positions. */
void topo_diags_sort(struct topo_diags *diags);

/* Sets diags->file to a copy of name (once). WR_ERR_NOMEM on failure. */
wr_status topo_diags_set_file(struct topo_diags *diags, const char *name);

/* A malloc'd printf-formatted string (caller frees), or NULL if memory ran out. */
char *topo_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes one plan item as text (drift items: one line per difference),
 * with word in front ("create", "created"; NULL = the action's own word). */
void topo_plan_print_item(const struct topo_plan_item *item, const char *word, FILE *out);

/* Writes text into out as a double-quoted, escaped string of at most
 * about 60 visible bytes (longer text ends in "..."). */
void topo_quote(const char *text, char *out, size_t out_size);

#endif
