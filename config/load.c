/* Loading warren's configuration: defaults, then a two-level YAML file,
 * then WARREN_* environment variables, each value checked against the key
 * table. Problems are reported one per line and nothing is half-applied. */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/internal.h"
#include "core/log.h"

enum cfg_source { SOURCE_DEFAULT, SOURCE_FILE, SOURCE_ENV };

struct cfg {
    char *value[CFG_KEY_COUNT];
    int64_t number[CFG_KEY_COUNT];
    enum cfg_source source[CFG_KEY_COUNT];
};

/* A load in progress: where problems go and how many there were. */
struct loader {
    const char *path;
    FILE *problems;
    int problem_count;
    struct cfg *cfg;
};

static void problem(struct loader *ld, const yaml_node_t *node, const char *fmt, const char *a,
                    const char *b)
{
    if (node)
        fprintf(ld->problems, "%s:%zu:%zu: ", ld->path, node->start_mark.line + 1,
                node->start_mark.column + 1);
    fprintf(ld->problems, fmt, a, b);
    fputc('\n', ld->problems);
    ld->problem_count++;
}

static int find_key(const char *name)
{
    for (int k = 0; k < CFG_KEY_COUNT; k++)
        if (strcmp(cfg_key_defs[k].name, name) == 0)
            return k;
    return -1;
}

static int section_exists(const char *section)
{
    size_t len = strlen(section);
    for (int k = 0; k < CFG_KEY_COUNT; k++)
        if (strncmp(cfg_key_defs[k].name, section, len) == 0 && cfg_key_defs[k].name[len] == '.')
            return 1;
    return 0;
}

/* Stores text for key after checking it; reports the problem otherwise. */
static void set_value(struct loader *ld, enum cfg_key key, const char *text,
                      enum cfg_source source, const yaml_node_t *node, const char *env_name)
{
    char why[160];
    int64_t number;
    if (cfg_check_value(key, text, &number, why, sizeof why)) {
        if (env_name)
            fprintf(ld->problems, "%s: ", env_name);
        problem(ld, node, "%s: %s", cfg_key_defs[key].name, why);
        return;
    }
    char *copy = strdup(text);
    if (!copy) {
        problem(ld, node, "%s%s: out of memory", "", cfg_key_defs[key].name);
        return;
    }
    free(ld->cfg->value[key]);
    ld->cfg->value[key] = copy;
    ld->cfg->number[key] = number;
    ld->cfg->source[key] = source;
}

static const char *scalar(const yaml_node_t *node)
{
    return node && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : NULL;
}

static void load_section(struct loader *ld, yaml_document_t *doc, const char *section,
                         yaml_node_t *map)
{
    if (map->type != YAML_MAPPING_NODE) {
        problem(ld, map, "%s: expected a mapping of keys%s", section, "");
        return;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key_node = yaml_document_get_node(doc, p->key);
        yaml_node_t *value_node = yaml_document_get_node(doc, p->value);
        const char *name = scalar(key_node);
        char full[128];
        snprintf(full, sizeof full, "%s.%s", section, name ? name : "?");
        int key = name ? find_key(full) : -1;
        if (key < 0) {
            problem(ld, key_node, "unknown key %s%s", full, "");
        } else if (!scalar(value_node)) {
            problem(ld, value_node, "%s: expected a single value%s", full, "");
        } else if (ld->cfg->source[key] == SOURCE_FILE) {
            problem(ld, key_node, "%s: duplicate key%s", full, "");
        } else {
            set_value(ld, (enum cfg_key)key, scalar(value_node), SOURCE_FILE, value_node, NULL);
        }
    }
}

static void load_document(struct loader *ld, yaml_document_t *doc)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root)
        return; /* an empty file: defaults only */
    if (root->type != YAML_MAPPING_NODE) {
        problem(ld, root, "expected a mapping of sections (broker:, log:, ...)%s%s", "", "");
        return;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key_node = yaml_document_get_node(doc, p->key);
        const char *section = scalar(key_node);
        if (!section || !section_exists(section))
            problem(ld, key_node, "unknown section %s%s", section ? section : "(not a name)", "");
        else
            load_section(ld, doc, section, yaml_document_get_node(doc, p->value));
    }
}

static void load_file(struct loader *ld)
{
    FILE *file = fopen(ld->path, "rb");
    if (!file) {
        fprintf(ld->problems, "%s: cannot open config file: %s\n", ld->path, strerror(errno));
        ld->problem_count++;
        return;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, file);
    if (!yaml_parser_load(&parser, &doc)) {
        fprintf(ld->problems, "%s:%zu:%zu: %s\n", ld->path, parser.problem_mark.line + 1,
                parser.problem_mark.column + 1, parser.problem ? parser.problem : "YAML error");
        ld->problem_count++;
    } else {
        load_document(ld, &doc);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(file);
}

/* WARREN_BROKER_URL for broker.url */
static void env_name_of(enum cfg_key key, char *out, size_t out_size)
{
    size_t n = (size_t)snprintf(out, out_size, "WARREN_");
    for (const char *p = cfg_key_defs[key].name; *p && n + 1 < out_size; p++)
        out[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

static void load_environment(struct loader *ld)
{
    for (int k = 0; k < CFG_KEY_COUNT; k++) {
        char name[96];
        env_name_of((enum cfg_key)k, name, sizeof name);
        const char *text = getenv(name);
        if (text)
            set_value(ld, (enum cfg_key)k, text, SOURCE_ENV, NULL, name);
    }
}

wr_status cfg_load(const char *path, FILE *problems, struct cfg **out)
{
    struct loader ld = {.path = path, .problems = problems, .cfg = calloc(1, sizeof(struct cfg))};
    if (!ld.cfg)
        return WR_ERR_NOMEM;
    for (int k = 0; k < CFG_KEY_COUNT; k++)
        set_value(&ld, (enum cfg_key)k, cfg_key_defs[k].default_value, SOURCE_DEFAULT, NULL,
                  NULL);
    if (path)
        load_file(&ld);
    load_environment(&ld);
    if (ld.problem_count > 0) {
        cfg_free(ld.cfg);
        return WR_ERR_CONFIG;
    }
    *out = ld.cfg;
    return WR_OK;
}

void cfg_free(struct cfg *cfg)
{
    if (!cfg)
        return;
    for (int k = 0; k < CFG_KEY_COUNT; k++)
        free(cfg->value[k]);
    free(cfg);
}

const char *cfg_str(const struct cfg *cfg, enum cfg_key key)
{
    return cfg->value[key];
}

int64_t cfg_int(const struct cfg *cfg, enum cfg_key key)
{
    return cfg->number[key];
}

const char *cfg_key_name(enum cfg_key key)
{
    return cfg_key_defs[key].name;
}

void cfg_dump(const struct cfg *cfg, FILE *out)
{
    static const char *const source_names[] = {"default", "file", "env"};
    for (int k = 0; k < CFG_KEY_COUNT; k++) {
        char shown[512];
        char env[96];
        if (cfg_key_defs[k].type == CFG_TYPE_URL)
            wr_redact_url(cfg->value[k], shown, sizeof shown);
        else if (cfg_key_defs[k].type == CFG_TYPE_SECRET)
            snprintf(shown, sizeof shown, "%s", cfg->value[k][0] ? "***" : "(not set)");
        else
            snprintf(shown, sizeof shown, "%s", cfg->value[k]);
        env_name_of((enum cfg_key)k, env, sizeof env);
        fprintf(out, "  %-30s %-40s (%s; %s) %s\n", cfg_key_defs[k].name, shown,
                source_names[cfg->source[k]], env, cfg_key_defs[k].help);
    }
}
