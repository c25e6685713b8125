/* Test topology text, broker snapshots by name prefix, and cleanup for the
 * topology integration tests. */
#include "tests/integration/topology/helpers.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/broker.h"
#include "tests/support/support.h"

void it_topology_text(const char *prefix, int audit_quorum, char *out, size_t size)
{
    snprintf(out, size,
             "exchanges:\n"
             "  - {name: %1$s-events, type: topic}\n"
             "  - {name: %1$s-fan, type: fanout}\n"
             "queues:\n"
             "  - name: %1$s-work\n"
             "    service: order\n"
             "    retry: {delays: [1s, 10s], max_attempts: 4}\n"
             "    bindings:\n"
             "      - {exchange: %1$s-events, routing_key: work.*}\n"
             "      - {exchange: %1$s-events, routing_key: work.again}\n"
             "  - name: %1$s-audit\n"
             "    type: %2$s\n"
             "    service: analytics\n"
             "    retry: {delays: [250ms]}\n"
             "    bindings:\n"
             "      - {exchange: %1$s-fan, routing_key: \"\"}\n"
             "      - {exchange: %1$s-events, routing_key: \"#\"}\n",
             prefix, audit_quorum ? "quorum" : "classic");
}

static int has_prefix(const char *name, const char *prefix)
{
    return name && strncmp(name, prefix, strlen(prefix)) == 0;
}

static char *line_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *line_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int length = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    ck_assert_int_ge(length, 0);
    char *line = malloc((size_t)length + 1);
    ck_assert_ptr_nonnull(line);
    va_start(ap, fmt);
    vsnprintf(line, (size_t)length + 1, fmt, ap);
    va_end(ap);
    return line;
}

static int compare_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *queue_line(const struct mq_live_queue *q)
{
    const struct mq_queue_spec *s = &q->spec;
    return line_printf("queue %s type=%d durable=%d ttl=%lld dlx=%s dlrk=%s strategy=%d "
                       "overflow=%d max_length=%lld other=%s",
                       s->name, (int)s->type, (int)q->durable, (long long)s->message_ttl_ms,
                       s->dead_letter_exchange ? s->dead_letter_exchange : "-",
                       s->dead_letter_routing_key ? s->dead_letter_routing_key : "-",
                       (int)s->dl_strategy, (int)s->overflow, (long long)s->max_length,
                       q->other_arguments ? q->other_arguments : "-");
}

/* Collects the lines for prefix from one live state. */
static size_t snapshot_lines(const struct mq_live_state *live, const char *prefix, char **lines)
{
    size_t n = 0;
    for (size_t i = 0; i < live->exchange_count; i++) {
        const struct mq_live_exchange *e = &live->exchanges[i];
        if (has_prefix(e->spec.name, prefix))
            lines[n++] = line_printf("exchange %s type=%d durable=%d auto_delete=%d", e->spec.name,
                                     (int)e->spec.type, (int)e->durable, (int)e->auto_delete);
    }
    for (size_t i = 0; i < live->queue_count; i++) {
        if (has_prefix(live->queues[i].spec.name, prefix))
            lines[n++] = queue_line(&live->queues[i]);
    }
    for (size_t i = 0; i < live->binding_count; i++) {
        const struct mq_binding_spec *b = &live->bindings[i];
        if (has_prefix(b->queue, prefix))
            lines[n++] =
                line_printf("binding %s -> %s [%s]", b->exchange, b->queue, b->routing_key);
    }
    return n;
}

char *it_snapshot(const char *prefix)
{
    struct mq_live_state live = {0};
    struct wr_error err = {0};
    ck_assert_msg(mq_live_state_fetch(ts_management_url(), NULL, &live, &err) == WR_OK, "fetch: %s",
                  err.message);
    size_t capacity = live.exchange_count + live.queue_count + live.binding_count + 1;
    char **lines = calloc(capacity, sizeof *lines);
    ck_assert_ptr_nonnull(lines);
    size_t n = snapshot_lines(&live, prefix, lines);
    qsort(lines, n, sizeof *lines, compare_lines);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%s\n", lines[i]);
        free(lines[i]);
    }
    fclose(out);
    free(lines);
    mq_live_state_free(&live);
    return text;
}

void it_cleanup(const char *prefix)
{
    struct mq_live_state live = {0};
    struct wr_error err = {0};
    struct mq_conn *conn = ts_broker_connect("topology test");
    ck_assert_msg(mq_live_state_fetch(ts_management_url(), NULL, &live, &err) == WR_OK, "fetch: %s",
                  err.message);
    for (size_t i = 0; i < live.queue_count; i++) {
        if (has_prefix(live.queues[i].spec.name, prefix))
            ck_assert_int_eq(mq_delete_queue(conn, live.queues[i].spec.name, &err), WR_OK);
    }
    for (size_t i = 0; i < live.exchange_count; i++) {
        if (has_prefix(live.exchanges[i].spec.name, prefix))
            ck_assert_int_eq(mq_delete_exchange(conn, live.exchanges[i].spec.name, &err), WR_OK);
    }
    mq_live_state_free(&live);
    mq_conn_close(conn);
}
