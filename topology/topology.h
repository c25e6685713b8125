/* topology/: the YAML topology file (exchanges, queues, bindings, retry
 * policy, worker counts) and how it becomes objects on the broker.
 *
 * load (parse + validate) -> struct topo_model -> topo_derive() -> broker
 * specs -> topo_plan_build() against the live broker -> topo_apply_plan().
 * The file format, defaults and derived names are described in docs/TOPOLOGY.md. */
#ifndef WARREN_TOPOLOGY_H
#define WARREN_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "broker/broker.h"
#include "core/status.h"

/* Longest queue or exchange name in the file; derived names add at most
 * ".retry.<duration>" and still fit AMQP's 255-byte limit. */
#define TOPO_NAME_MAX 200
/* A buffer this large holds any derived queue name plus its NUL. */
#define TOPO_DERIVED_NAME_SIZE 256
/* Most retry delays (tier queues) one queue may have. */
#define TOPO_MAX_DELAYS 10

/* ---- diagnostics ------------------------------------------------------- */

/* One problem in a topology file. line and column are 1-based; 0 when the
 * problem is about the whole file (e.g. it cannot be read). */
struct topo_diag {
    int line;
    int column;
    char *message;
};

/* Every problem found in one file, sorted by position. Zero-initialise
 * (`struct topo_diags d = {0};`) and release with topo_diags_free(). */
struct topo_diags {
    char *file; /* the file name as given to the loader */
    struct topo_diag *items;
    size_t count;
    size_t capacity;
};

/* Frees everything inside diags and zeroes it; the struct itself is the
 * caller's. */
void topo_diags_free(struct topo_diags *diags);

/* Writes one line per problem: "FILE:LINE:COLUMN: message" (or
 * "FILE: message" when the problem has no position). */
void topo_diags_print(const struct topo_diags *diags, FILE *out);

/* ---- model --------------------------------------------------------------- */

/* Which `warren-worker --service NAME` consumes a queue. */
enum topo_service {
    TOPO_SERVICE_ORDER,
    TOPO_SERVICE_INVENTORY,
    TOPO_SERVICE_PAYMENT,
    TOPO_SERVICE_NOTIFICATION,
    TOPO_SERVICE_ANALYTICS,
    TOPO_SERVICE_DEADLETTER,
};

/* "payment" etc.; the parse function returns 0, or -1 if unknown. */
const char *topo_service_name(enum topo_service service);
int topo_service_parse(const char *name, enum topo_service *out);

/* A position in the file (1-based), kept so later messages can point back. */
struct topo_pos {
    int line;
    int column;
};

struct topo_exchange {
    char *name;
    enum mq_exchange_type type;
    struct topo_pos pos; /* of the exchange's mapping */
};

struct topo_binding {
    char *exchange;
    char *routing_key;
    struct topo_pos pos;
};

/* One consumer queue and its policy. Defaults (docs/TOPOLOGY.md): type
 * quorum, workers 1, prefetch 50, no retry, no bindings.
 *
 * Retry: a message carries its attempt number (1 on first delivery). When
 * attempt n fails and n < max_attempts it waits in the tier of delay
 * retry_delays_ms[min(n, retry_delay_count) - 1] and comes back as attempt
 * n + 1; when attempt max_attempts fails it goes to the dead-letter queue.
 * The loader guarantees max_attempts >= retry_delay_count + 1, so every
 * tier is used and the last tier is reused by any extra attempts. Without
 * `retry`, retry_delay_count is 0 and max_attempts 1: a failure is
 * dead-lettered at once. */
struct topo_queue {
    char *name;
    enum mq_queue_type type;
    enum topo_service service;
    int workers;  /* 0-64; 0 = declared but paused */
    int prefetch; /* 1-65535 */
    int64_t retry_delays_ms[TOPO_MAX_DELAYS];
    size_t retry_delay_count;
    int max_attempts; /* 1-1000 */
    struct topo_binding *bindings;
    size_t binding_count;
    struct topo_pos pos; /* of the queue's mapping */
};

/* A validated topology file. Read-only for callers; free with
 * topo_model_free(). */
struct topo_model {
    char *file;
    struct topo_exchange *exchanges;
    size_t exchange_count;
    struct topo_queue *queues;
    size_t queue_count;
};

/* Reads, parses and validates the topology file at path.
 * Returns WR_OK with *out set (caller frees with topo_model_free) and no
 * diagnostics; WR_ERR_TOPOLOGY with every problem found appended to diags
 * and *out NULL; WR_ERR_IO if the file cannot be read (one diagnostic
 * without position says why); WR_ERR_NOMEM. */
wr_status topo_load_file(const char *path, struct topo_model **out,
                         struct topo_diags *diags) WR_MUST_CHECK;

/* Same for text already in memory (size bytes, need not be NUL-terminated);
 * name is used in messages. */
wr_status topo_load_buffer(const char *name, const char *text, size_t size, struct topo_model **out,
                           struct topo_diags *diags) WR_MUST_CHECK;

/* NULL is allowed. */
void topo_model_free(struct topo_model *model);

/* The queue of that name, or NULL. */
const struct topo_queue *topo_model_find_queue(const struct topo_model *model, const char *name);

/* Retry tier for a failed attempt (1-based) of queue: the index into
 * retry_delays_ms the message should wait in, or -1 if the attempt was the
 * last one and the message goes to the dead-letter queue. */
int topo_retry_tier(const struct topo_queue *queue, int attempt);

/* The longest time any queue's message can spend waiting in retry tiers
 * before it is dead-lettered (the sum of its tiers over max_attempts). */
int64_t topo_longest_retry_ms(const struct topo_model *model);

/* ---- derived broker objects ---------------------------------------------- */

/* Name of the retry tier of queue for delay_ms: "<queue>.retry.<delay>"
 * with the delay written by wr_duration_format ("payment.retry.10s").
 * Writes into out; WR_ERR_INVALID if it does not fit (never for a loaded
 * model and a TOPO_DERIVED_NAME_SIZE buffer). */
wr_status topo_retry_queue_name(const char *queue, int64_t delay_ms, char *out,
                                size_t out_size) WR_MUST_CHECK;

/* Name of the dead-letter queue of queue: "<queue>.dead". Same contract. */
wr_status topo_dead_queue_name(const char *queue, char *out, size_t out_size) WR_MUST_CHECK;

/* Everything a model puts on the broker, in declaration order. */
struct topo_derived {
    struct mq_exchange_spec *exchanges;
    size_t exchange_count;
    struct mq_queue_spec *queues; /* per queue Q: Q, its tiers, Q.dead */
    size_t queue_count;
    struct mq_binding_spec *bindings;
    size_t binding_count;
};

/* Builds the broker specs for model: each queue Q (dead-lettering to
 * Q.dead through the default exchange, as a safety net for messages
 * rejected without requeue); per retry delay D a tier Q.retry.D of the
 * same type with x-message-ttl D that dead-letters back to Q through the
 * default exchange; and Q.dead. Quorum queues that dead-letter use
 * at-least-once with x-overflow reject-publish.
 * Returns WR_OK with *out filled (free with topo_derived_free) or
 * WR_ERR_NOMEM with *out empty. */
wr_status topo_derive(const struct topo_model *model, struct topo_derived *out,
                      struct wr_error *err) WR_MUST_CHECK;

/* Frees everything inside derived and zeroes it. */
void topo_derived_free(struct topo_derived *derived);

/* ---- plan: the file against the live broker ------------------------------ */

enum topo_action {
    TOPO_ACTION_CREATE,  /* missing on the broker: apply declares it */
    TOPO_ACTION_OK,      /* present and equal */
    TOPO_ACTION_DRIFT,   /* present but different: apply refuses to touch it */
    TOPO_ACTION_BLOCKED, /* a missing binding whose queue or exchange drifted: not created */
    TOPO_ACTION_EXTRA,   /* on the broker, related to the file, not in it: left alone */
};

enum topo_object { TOPO_OBJECT_EXCHANGE, TOPO_OBJECT_QUEUE, TOPO_OBJECT_BINDING };

/* One difference between the file and the broker, both sides as text
 * ("10000", "\"payment\"", "quorum", "(not set)"). */
struct topo_difference {
    char *field;
    char *file_value;
    char *broker_value;
};

struct topo_plan_item {
    enum topo_action action;
    enum topo_object object;
    size_t index; /* into the derived arrays; into the live arrays for EXTRA */
    char *label;  /* "queue payment", "binding orders -> payment [payment.charge]" */
    char *detail; /* what it would be ("quorum, ttl 10s -> payment") or why it is blocked; may be
                     NULL */
    struct topo_difference *differences; /* DRIFT only */
    size_t difference_count;
};

/* Items in order: exchanges, queues, bindings, then EXTRA items. */
struct topo_plan {
    struct topo_plan_item *items;
    size_t count;
    size_t capacity;
    size_t counts[TOPO_ACTION_EXTRA + 1]; /* items per action */
};

/* Compares want with live; changes nothing anywhere. Objects on the broker
 * that the file does not mention are ignored, except bindings to a file
 * queue and tier/dead queues of a file queue that the file no longer
 * derives, which are listed as EXTRA. Returns WR_OK with *out filled (free
 * with topo_plan_free) or WR_ERR_NOMEM with *out empty. The plan owns the
 * text it shows; its indexes refer to want (and to live for EXTRA items),
 * so keep want alive while applying the plan. */
wr_status topo_plan_build(const struct topo_derived *want, const struct mq_live_state *live,
                          struct topo_plan *out, struct wr_error *err) WR_MUST_CHECK;

void topo_plan_free(struct topo_plan *plan);

/* Writes one line per item ("create: queue payment.dead (quorum)",
 * "drift: queue payment: x-message-ttl: file 10000, broker 5000",
 * "ok: exchange orders", "not in file: binding ... (left alone)"), skipping
 * OK items unless verbose, then a summary line. */
void topo_plan_print(const struct topo_plan *plan, FILE *out, bool verbose);

/* Summary line without newline: "3 to create, 20 ok, 1 drifted, 2 not in file". */
void topo_plan_summary(const struct topo_plan *plan, char *out, size_t out_size);

/* ---- apply --------------------------------------------------------------- */

struct topo_apply_result {
    size_t created; /* objects declared */
    size_t present; /* already there and equal */
    size_t drifted; /* found different and left alone (in the plan or on declare) */
    size_t blocked; /* bindings not created because an end drifted */
};

/* Declares every CREATE item of plan (built from want) on conn: exchanges,
 * then queues, then bindings; DRIFT and BLOCKED items are not touched.
 * conn may be NULL when the plan has nothing to create. A queue that the
 * broker refuses with 406 (it appeared with other arguments since the
 * plan) counts as drifted, and conn stays usable. Writes one line
 * per action to out (NULL = silent) and fills *result.
 * Returns WR_OK if nothing drifted or was blocked, WR_ERR_DRIFT if
 * something did (everything else was still created), or the broker's error
 * (err says which object) if a declaration failed otherwise. */
wr_status topo_apply_plan(struct mq_conn *conn, const struct topo_derived *want,
                          const struct topo_plan *plan, FILE *out, struct topo_apply_result *result,
                          struct wr_error *err) WR_MUST_CHECK;

#endif
