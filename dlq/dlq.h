/* dlq/: the dead-letter store (the deadletter service's database) and
 * everything support staff do with it: list, show, stats, groups by
 * failure fingerprint, discard, replay (in batches, rate-limited, ramped,
 * stopping by itself on re-failures) and retention. The one implementation
 * behind `warrenctl dlq ...`, the API's admin routes and the deadletter
 * worker: each of those only parses its input and prints or sends JSON. */
#ifndef WARREN_DLQ_DLQ_H
#define WARREN_DLQ_DLQ_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/db.h"
#include "core/status.h"

/* The store's schema, versioned as the "deadletter" component (applied by
 * the deadletter worker, warrenctl and the API). */
#define DLQ_MIGRATION_COUNT 3
extern const struct db_migration dlq_migrations[DLQ_MIGRATION_COUNT];
wr_status dlq_migrate(struct db_conn *db, struct wr_error *err) WR_MUST_CHECK;

/* ---- storing (the deadletter worker) --------------------------------------------------- */

/* One dead letter as the runtime's move to "Q.dead" carries it. Strings may
 * be NULL where the header was absent; times are RFC 3339 or NULL. */
struct dlq_dead_letter {
    const char *queue, *dead_queue, *exchange, *routing_key;
    const char *message_id, *type, *correlation_id;
    const char *headers_json; /* every header as one JSON object */
    const void *body;
    size_t body_len;
    int attempts;
    const char *first_error, *last_error, *first_failed_at, *dead_at;
    int64_t sent_at; /* the message's timestamp, the dead-at fallback; 0 = none */
};

/* Stores it once: the same (dead queue, message id, dead-at) again is a
 * no-op. A message that died before is linked to its newest earlier
 * record (previous_id). */
wr_status dlq_store(struct db_conn *db, const struct dlq_dead_letter *letter,
                    struct wr_error *err) WR_MUST_CHECK;

/* Deletes replayed and discarded records older than days; *purged = count. */
wr_status dlq_purge(struct db_conn *db, int days, long long *purged,
                    struct wr_error *err) WR_MUST_CHECK;

/* ---- selecting ------------------------------------------------------------------------- */

/* Which records an operation covers. Every field is optional (NULL). */
struct dlq_filter {
    const char *queue;  /* the source queue or its ".dead" queue */
    const char *type;
    const char *error;  /* text in the first or last error, any case */
    const char *status; /* dead (the default), replayed, discarded or all */
    const char *group;  /* a failure group's id (dlq_groups) */
    char since[40];     /* normalised by dlq_filter_set; "" = none */
    char until[40];
};

/* Sets one field by its name ("queue", "type", "error", "status", "group",
 * "since", "until") from user text, checking it: since/until take RFC 3339
 * or an age (90s, 15m, 2h, 7d). WR_ERR_INVALID with a message naming the
 * field when the value is bad, WR_ERR_NOT_FOUND for an unknown name. The
 * filter borrows value. */
wr_status dlq_filter_set(struct dlq_filter *filter, const char *name, const char *value,
                         struct wr_error *err) WR_MUST_CHECK;

/* True when text is a record id (1 to 18 digits). */
bool dlq_is_id(const char *text);

/* ---- reading --------------------------------------------------------------------------- */

#define DLQ_LIST_DEFAULT_LIMIT 100
#define DLQ_LIST_MAX_LIMIT 10000

/* {"dead_letters": [...records without headers and body, newest first],
 *  "total": N matching, "next_cursor": "..." or null}. cursor is a
 * previous answer's next_cursor or NULL (WR_ERR_INVALID if malformed). */
wr_status dlq_list(struct db_conn *db, const struct dlq_filter *filter, long limit,
                   const char *cursor, json_t **out, struct wr_error *err) WR_MUST_CHECK;

/* One record in full (SPEC's fields; body as text when it is valid UTF-8,
 * else base64 with "body_encoding": "base64"); WR_ERR_NOT_FOUND if none. */
wr_status dlq_show(struct db_conn *db, const char *id, json_t **out,
                   struct wr_error *err) WR_MUST_CHECK;

/* {"dead", "replayed", "discarded", "by_queue", "by_type", "by_error"}. */
wr_status dlq_stats(struct db_conn *db, json_t **out, struct wr_error *err) WR_MUST_CHECK;

/* The dead records matching filter grouped by cause: [{"group", "queue",
 * "type", "fingerprint" (the last error with ids and numbers taken out),
 * "count", "first_dead_at", "last_dead_at", "example_error"}], largest first. */
wr_status dlq_groups(struct db_conn *db, const struct dlq_filter *filter, json_t **out,
                     struct wr_error *err) WR_MUST_CHECK;

/* ---- changing -------------------------------------------------------------------------- */

/* A fixed selection of record ids, ascending. */
struct dlq_selection {
    int64_t *ids;
    size_t count;
    json_t *skipped; /* [{"id", "reason"}] for explicit ids that cannot be taken */
};
void dlq_selection_free(struct dlq_selection *selection);

/* The dead records matching filter (its status is ignored: only dead
 * records are taken). */
wr_status dlq_select(struct db_conn *db, const struct dlq_filter *filter,
                     struct dlq_selection *out, struct wr_error *err) WR_MUST_CHECK;

/* The given ids that exist and are dead; the others go to out->skipped. */
wr_status dlq_select_ids(struct db_conn *db, const char *const *ids, size_t count,
                         struct dlq_selection *out, struct wr_error *err) WR_MUST_CHECK;

/* Marks the selection discarded by whom, with reason; *discarded = how
 * many were still dead. */
wr_status dlq_discard(struct db_conn *db, const struct dlq_selection *selection, const char *by,
                      const char *reason, long long *discarded,
                      struct wr_error *err) WR_MUST_CHECK;

/* Progress of a replay, given to the progress callback. */
struct dlq_replay_progress {
    size_t selected, replayed, failed_again;
    double rate_per_s;
    const char *phase; /* "step 2/3 (10)", "batch", "settling" */
};

struct dlq_replay_options {
    const char *broker_url;
    const char *by;           /* who replays (recorded) */
    double rate;              /* messages per second; 0 = as fast as confirms come */
    const long *ramp;         /* step sizes (1, 10, 100): each step is followed by a settle */
    size_t ramp_count;
    int64_t settle_ms;        /* after each ramp step, wait this long for re-failures */
    long max_failures;        /* stop once more than this many replayed messages died again */
    bool dry_run;             /* say what would go; change nothing */
    void (*progress)(const struct dlq_replay_progress *progress, void *user);
    void *user;
    volatile sig_atomic_t *interrupted; /* stop between batches when set; may be NULL */
    struct db_conn *mark_db;  /* a second connection to the store: records are marked on
                               * it while the next batch goes out (NULL: one at a time) */
};

/* The settle a ramp step needs to see a replayed message die again: the
 * longest path through the retry tiers of the topology file, plus 5 s. */
int64_t dlq_default_settle_ms(const char *topology_file);

/* The outcome: {"selected", "replayed", "failed_again", "stopped"
 * (bool), "reason" (why it stopped, or null), "run" (its id), "skipped",
 * and for a dry run "would_replay": [{"id", "queue", "type",
 * "correlation_id", "exchange", "routing_key"}]}. */
wr_status dlq_replay(struct db_conn *db, const struct dlq_selection *selection,
                     const struct dlq_replay_options *options, json_t **outcome,
                     struct wr_error *err) WR_MUST_CHECK;

#endif
