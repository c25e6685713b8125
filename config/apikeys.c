/* Loading the API keys file with libyaml: a list of keys, each checked
 * field by field, every problem reported with its position. */
#include "config/apikeys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct keys_loader {
    const char *path;
    FILE *problems;
    int problem_count;
    yaml_document_t *doc;
};

static void problem(struct keys_loader *ld, const yaml_node_t *node, const char *message,
                    const char *detail)
{
    fprintf(ld->problems, "%s:%zu:%zu: %s%s\n", ld->path, node->start_mark.line + 1,
            node->start_mark.column + 1, message, detail);
    ld->problem_count++;
}

static const char *scalar(const yaml_node_t *node)
{
    return node && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : NULL;
}

static int parse_hex_sha256(const char *text, unsigned char out[32])
{
    if (!text || strlen(text) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        unsigned value = 0;
        for (int j = 0; j < 2; j++) {
            char c = text[2 * i + j];
            int digit = c >= '0' && c <= '9' ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
            if (digit < 0)
                return -1;
            value = value * 16 + (unsigned)digit;
        }
        out[i] = (unsigned char)value;
    }
    return 0;
}

static int parse_positive(const char *text, double *out)
{
    char *end = NULL;
    errno = 0;
    double value = text ? strtod(text, &end) : 0;
    if (!text || end == text || *end || errno || value <= 0 || value > 1e9)
        return -1;
    *out = value;
    return 0;
}

/* Applies one "field: value" of a key entry; reports problems. */
static void key_field(struct keys_loader *ld, struct cfg_api_key *key, yaml_node_t *name_node,
                      yaml_node_t *value_node)
{
    const char *field = scalar(name_node) ? scalar(name_node) : "";
    const char *value = scalar(value_node);
    if (!value) {
        problem(ld, value_node, field, ": expected a single value");
    } else if (strcmp(field, "name") == 0) {
        free(key->name);
        key->name = strdup(value);
    } else if (strcmp(field, "kind") == 0) {
        if (strcmp(value, "storefront") == 0 || strcmp(value, "admin") == 0)
            key->kind = strcmp(value, "admin") == 0 ? CFG_KEY_ADMIN : CFG_KEY_STOREFRONT;
        else
            problem(ld, value_node, "kind: expected storefront or admin", "");
    } else if (strcmp(field, "sha256") == 0) {
        if (parse_hex_sha256(value, key->sha256) != 0)
            problem(ld, value_node, "sha256: expected 64 hex digits (warrenctl key hash)", "");
    } else if (strcmp(field, "rate") == 0 || strcmp(field, "burst") == 0) {
        double *target = field[0] == 'r' ? &key->rate : &key->burst;
        if (parse_positive(value, target) != 0)
            problem(ld, value_node, field, ": expected a positive number");
    } else {
        problem(ld, name_node, "unknown key ", field);
    }
}

static void load_key(struct keys_loader *ld, yaml_node_t *node, struct cfg_api_key *key)
{
    static const unsigned char unset[32];
    key->kind = CFG_KEY_STOREFRONT;
    key->rate = 1000;
    key->burst = 2000;
    if (node->type != YAML_MAPPING_NODE) {
        problem(ld, node, "expected a mapping with name, kind, sha256", "");
        return;
    }
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++)
        key_field(ld, key, yaml_document_get_node(ld->doc, p->key),
                  yaml_document_get_node(ld->doc, p->value));
    if (!key->name || !*key->name)
        problem(ld, node, "missing name", "");
    if (memcmp(key->sha256, unset, sizeof unset) == 0)
        problem(ld, node, "missing sha256", "");
}

static yaml_node_t *keys_list(struct keys_loader *ld)
{
    yaml_node_t *root = yaml_document_get_root_node(ld->doc);
    if (root && root->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
             p < root->data.mapping.pairs.top; p++) {
            yaml_node_t *name = yaml_document_get_node(ld->doc, p->key);
            yaml_node_t *value = yaml_document_get_node(ld->doc, p->value);
            if (!scalar(name) || strcmp(scalar(name), "keys") != 0)
                problem(ld, name, "unknown key ", scalar(name) ? scalar(name) : "");
            else if (value->type != YAML_SEQUENCE_NODE)
                problem(ld, value, "keys: expected a list", "");
            else
                return value;
        }
    }
    fprintf(ld->problems, "%s: expected `keys:` with a list of keys\n", ld->path);
    ld->problem_count++;
    return NULL;
}

static void load_keys(struct keys_loader *ld, struct cfg_api_key **keys, size_t *count)
{
    yaml_node_t *list = keys_list(ld);
    if (!list)
        return;
    size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    *keys = calloc(n ? n : 1, sizeof **keys);
    if (!*keys) {
        ld->problem_count++;
        return;
    }
    *count = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(ld->doc, list->data.sequence.items.start[i]);
        load_key(ld, item, &(*keys)[i]);
        for (size_t j = 0; j < i && (*keys)[i].name; j++)
            if ((*keys)[j].name && strcmp((*keys)[i].name, (*keys)[j].name) == 0)
                problem(ld, item, "duplicate key name ", (*keys)[i].name);
    }
}

wr_status cfg_api_keys_load(const char *path, FILE *problems, struct cfg_api_key **keys,
                            size_t *count)
{
    struct keys_loader ld = {.path = path, .problems = problems};
    yaml_document_t doc;
    yaml_parser_t parser;
    *keys = NULL;
    *count = 0;
    FILE *file = fopen(path, "rb");
    if (!file) {
        fprintf(problems, "%s: cannot open keys file: %s\n", path, strerror(errno));
        return WR_ERR_CONFIG;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, file);
    if (!yaml_parser_load(&parser, &doc)) {
        fprintf(problems, "%s:%zu:%zu: %s\n", path, parser.problem_mark.line + 1,
                parser.problem_mark.column + 1, parser.problem ? parser.problem : "YAML error");
        ld.problem_count++;
    } else {
        ld.doc = &doc;
        load_keys(&ld, keys, count);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(file);
    if (ld.problem_count == 0)
        return WR_OK;
    cfg_api_keys_free(*keys, *count);
    *keys = NULL;
    *count = 0;
    return WR_ERR_CONFIG;
}

void cfg_api_keys_free(struct cfg_api_key *keys, size_t count)
{
    for (size_t i = 0; keys && i < count; i++)
        free(keys[i].name);
    free(keys);
}
