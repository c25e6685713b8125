/* Plans as text for people: one line per object ("create: ...",
 * "drift: queue payment: x-message-ttl: file 10000, broker 5000") and a
 * summary line with the counts. */
#include "topology/internal.h"

#include <stdio.h>

static const char *const action_words[] = {
    [TOPO_ACTION_CREATE] = "create",     [TOPO_ACTION_OK] = "ok",
    [TOPO_ACTION_DRIFT] = "drift",       [TOPO_ACTION_BLOCKED] = "blocked",
    [TOPO_ACTION_EXTRA] = "not in file",
};

void topo_plan_print_item(const struct topo_plan_item *item, const char *word, FILE *out)
{
    if (!word)
        word = action_words[item->action];
    if (item->action == TOPO_ACTION_DRIFT) {
        for (size_t d = 0; d < item->difference_count; d++) {
            const struct topo_difference *diff = &item->differences[d];
            fprintf(out, "%s: %s: %s: file %s, broker %s\n", word, item->label, diff->field,
                    diff->file_value, diff->broker_value);
        }
    } else if (item->action == TOPO_ACTION_EXTRA) {
        fprintf(out, "%s: %s (left alone)\n", word, item->label);
    } else if (item->detail) {
        fprintf(out, "%s: %s (%s)\n", word, item->label, item->detail);
    } else {
        fprintf(out, "%s: %s\n", word, item->label);
    }
}

void topo_plan_print(const struct topo_plan *plan, FILE *out, bool verbose)
{
    char summary[256];
    for (size_t i = 0; i < plan->count; i++) {
        if (verbose || plan->items[i].action != TOPO_ACTION_OK)
            topo_plan_print_item(&plan->items[i], NULL, out);
    }
    topo_plan_summary(plan, summary, sizeof summary);
    fprintf(out, "summary: %s\n", summary);
}

void topo_plan_summary(const struct topo_plan *plan, char *out, size_t out_size)
{
    int n = snprintf(out, out_size, "%zu to create, %zu ok, %zu drifted",
                     plan->counts[TOPO_ACTION_CREATE], plan->counts[TOPO_ACTION_OK],
                     plan->counts[TOPO_ACTION_DRIFT]);
    size_t used = n > 0 ? (size_t)n : 0;
    if (plan->counts[TOPO_ACTION_BLOCKED] && used < out_size)
        used += (size_t)snprintf(out + used, out_size - used, ", %zu blocked",
                                 plan->counts[TOPO_ACTION_BLOCKED]);
    if (plan->counts[TOPO_ACTION_EXTRA] && used < out_size)
        snprintf(out + used, out_size - used, ", %zu not in file", plan->counts[TOPO_ACTION_EXTRA]);
}
