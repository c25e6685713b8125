/* The topology model: loading a file (read, parse, validate), the name
 * tables of its enums, lookups, and the retry-attempt rule workers use. */
#include "topology/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- name tables ----------------------------------------------------------- */

static const struct topo_choice exchange_type_choices[] = {
    {"direct", MQ_EXCHANGE_DIRECT},
    {"topic", MQ_EXCHANGE_TOPIC},
    {"fanout", MQ_EXCHANGE_FANOUT},
    {"headers", MQ_EXCHANGE_HEADERS},
};
static const struct topo_choice queue_type_choices[] = {
    {"quorum", MQ_QUEUE_QUORUM},
    {"classic", MQ_QUEUE_CLASSIC},
};
static const struct topo_choice service_choices[] = {
    {"order", TOPO_SERVICE_ORDER},         {"inventory", TOPO_SERVICE_INVENTORY},
    {"payment", TOPO_SERVICE_PAYMENT},     {"notification", TOPO_SERVICE_NOTIFICATION},
    {"analytics", TOPO_SERVICE_ANALYTICS}, {"deadletter", TOPO_SERVICE_DEADLETTER},
};

#define CHOICES(array) array, sizeof array / sizeof array[0]
const struct topo_choice_set topo_exchange_types = {"exchange type",
                                                    CHOICES(exchange_type_choices)};
const struct topo_choice_set topo_queue_types = {"queue type", CHOICES(queue_type_choices)};
const struct topo_choice_set topo_services = {"service", CHOICES(service_choices)};

int topo_choice_parse(const struct topo_choice_set *set, const char *name, int *value)
{
    for (size_t i = 0; i < set->count; i++) {
        if (strcmp(set->choices[i].name, name) == 0) {
            *value = set->choices[i].value;
            return 0;
        }
    }
    return -1;
}

const char *topo_choice_name(const struct topo_choice_set *set, int value)
{
    for (size_t i = 0; i < set->count; i++) {
        if (set->choices[i].value == value)
            return set->choices[i].name;
    }
    return "?";
}

void topo_choice_list(const struct topo_choice_set *set, char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < set->count && used < out_size; i++)
        used += (size_t)snprintf(out + used, out_size - used, "%s%s", i ? ", " : "",
                                 set->choices[i].name);
}

const char *topo_service_name(enum topo_service service)
{
    return topo_choice_name(&topo_services, (int)service);
}

int topo_service_parse(const char *name, enum topo_service *out)
{
    int value;
    if (topo_choice_parse(&topo_services, name, &value) != 0)
        return -1;
    *out = (enum topo_service)value;
    return 0;
}

/* ---- loading --------------------------------------------------------------- */

static wr_status read_file(const char *path, char **text, size_t *size, struct topo_diags *diags)
{
    wr_status status = WR_OK;
    FILE *f = fopen(path, "rb");
    char *buffer = malloc(TOPO_MAX_FILE_SIZE + 1);
    if (!buffer) {
        status = WR_ERR_NOMEM;
        goto out;
    }
    if (!f) {
        status = topo_diag_add(diags, 0, 0, "cannot open: %s", strerror(errno));
        status = status == WR_OK ? WR_ERR_IO : status;
        goto out;
    }
    *size = fread(buffer, 1, TOPO_MAX_FILE_SIZE + 1, f);
    if (ferror(f) || *size > TOPO_MAX_FILE_SIZE) {
        status = ferror(f) ? topo_diag_add(diags, 0, 0, "cannot read: %s", strerror(errno))
                           : topo_diag_add(diags, 0, 0, "the file is larger than %d bytes",
                                           TOPO_MAX_FILE_SIZE);
        status = status == WR_OK ? WR_ERR_IO : status;
        goto out;
    }
    *text = buffer;
    buffer = NULL;
out:
    free(buffer);
    if (f)
        fclose(f);
    return status;
}

wr_status topo_load_file(const char *path, struct topo_model **out, struct topo_diags *diags)
{
    char *text = NULL;
    size_t size = 0;
    *out = NULL;
    wr_status status = topo_diags_set_file(diags, path);
    if (status == WR_OK)
        status = read_file(path, &text, &size, diags);
    if (status == WR_OK)
        status = topo_load_buffer(path, text, size, out, diags);
    free(text);
    return status;
}

static wr_status load_model(struct topo_model *model, const char *name)
{
    model->file = strdup(name);
    return model->file ? WR_OK : WR_ERR_NOMEM;
}

wr_status topo_load_buffer(const char *name, const char *text, size_t size, struct topo_model **out,
                           struct topo_diags *diags)
{
    struct topo_tree *tree = NULL;
    const struct topo_node *root = NULL;
    *out = NULL;
    wr_status status = topo_diags_set_file(diags, name);
    if (status == WR_OK)
        status = topo_parse(text, size, diags, &tree, &root);
    if (status == WR_OK)
        status = topo_validate(root, diags, out);
    if (status == WR_OK && (status = load_model(*out, name)) != WR_OK) {
        topo_model_free(*out);
        *out = NULL;
    }
    topo_tree_free(tree);
    topo_diags_sort(diags);
    return status;
}

/* ---- model ----------------------------------------------------------------- */

static void queue_clear(struct topo_queue *queue)
{
    for (size_t i = 0; i < queue->binding_count; i++) {
        free(queue->bindings[i].exchange);
        free(queue->bindings[i].routing_key);
    }
    free(queue->bindings);
    free(queue->name);
}

void topo_model_free(struct topo_model *model)
{
    if (!model)
        return;
    for (size_t i = 0; i < model->exchange_count; i++)
        free(model->exchanges[i].name);
    for (size_t i = 0; i < model->queue_count; i++)
        queue_clear(&model->queues[i]);
    free(model->exchanges);
    free(model->queues);
    free(model->file);
    free(model);
}

const struct topo_queue *topo_model_find_queue(const struct topo_model *model, const char *name)
{
    for (size_t i = 0; i < model->queue_count; i++) {
        if (model->queues[i].name && strcmp(model->queues[i].name, name) == 0)
            return &model->queues[i];
    }
    return NULL;
}

int topo_retry_tier(const struct topo_queue *queue, int attempt)
{
    if (attempt < 1 || attempt >= queue->max_attempts || queue->retry_delay_count == 0)
        return -1;
    size_t tier =
        (size_t)attempt < queue->retry_delay_count ? (size_t)attempt : queue->retry_delay_count;
    return (int)tier - 1;
}

int64_t topo_longest_retry_ms(const struct topo_model *model)
{
    int64_t longest = 0;
    for (size_t q = 0; q < model->queue_count; q++) {
        const struct topo_queue *queue = &model->queues[q];
        int64_t total = 0;
        for (int attempt = 1; attempt < queue->max_attempts; attempt++) {
            int tier = topo_retry_tier(queue, attempt);
            total += tier >= 0 ? queue->retry_delays_ms[tier] : 0;
        }
        longest = total > longest ? total : longest;
    }
    return longest;
}
