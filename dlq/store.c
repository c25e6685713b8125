/* The dead-letter store's schema and queries (see dlq.h): storing a dead
 * letter once, filters, list with a cursor, show, stats, failure groups,
 * fixed selections, discard and retention. Every query is parameterised
 * and builds its JSON in PostgreSQL; only bodies are decoded here. */
#include "dlq/dlq.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlq/internal.h"

const struct db_migration dlq_migrations[DLQ_MIGRATION_COUNT] = {
    {1, "CREATE TABLE dead_letters ("
        " id bigserial PRIMARY KEY,"
        " queue text NOT NULL,"
        " dead_queue text NOT NULL,"
        " original_exchange text,"
        " original_routing_key text,"
        " message_id text NOT NULL,"
        " type text,"
        " correlation_id text,"
        " headers jsonb NOT NULL,"
        " body text NOT NULL,"
        " attempts integer NOT NULL,"
        " first_error text,"
        " last_error text,"
        " first_failed_at timestamptz,"
        " dead_at timestamptz NOT NULL,"
        " stored_at timestamptz NOT NULL DEFAULT now(),"
        " status text NOT NULL DEFAULT 'dead'"
        "  CHECK (status IN ('dead', 'replayed', 'discarded')),"
        " replayed_at timestamptz,"
        " replayed_by text,"
        " discarded_at timestamptz,"
        " discarded_by text,"
        " discard_reason text,"
        " previous_id bigint REFERENCES dead_letters (id),"
        " UNIQUE (dead_queue, message_id, dead_at));"
        "CREATE INDEX dead_letters_by_status ON dead_letters (status, dead_at DESC);"
        "CREATE INDEX dead_letters_by_queue ON dead_letters (queue, dead_at DESC);"},
    /* Bodies are bytes (any payload can die); the failure fingerprint
     * (DLQ_FINGERPRINT_SQL); a replay run tags what it replayed so
     * re-failures can be counted. */
    {2, "ALTER TABLE dead_letters ALTER COLUMN body TYPE bytea USING convert_to(body, 'UTF8');"
        "ALTER TABLE dead_letters ADD COLUMN fingerprint text GENERATED ALWAYS AS ("
        DLQ_FINGERPRINT_SQL("last_error") ") STORED;"
        "ALTER TABLE dead_letters ADD COLUMN replay_run text;"
        "ALTER TABLE dead_letters DROP CONSTRAINT dead_letters_previous_id_fkey,"
        " ADD FOREIGN KEY (previous_id) REFERENCES dead_letters (id) ON DELETE SET NULL;"
        "CREATE INDEX dead_letters_by_previous ON dead_letters (previous_id);"
        "CREATE INDEX dead_letters_by_run ON dead_letters (replay_run)"
        " WHERE replay_run IS NOT NULL;"
        "CREATE INDEX dead_letters_by_group ON dead_letters (" DLQ_GROUP_ID_SQL ");"},
    /* A replay updates every record it sends: fewer indexes (the one on
     * previous_id stays: deleting a record looks up who links to it) and no
     * generated column to recompute make that cheaper. The fingerprint is
     * now computed once, when a dead letter is stored. */
    {3, "DROP INDEX dead_letters_by_group;"
        "DROP INDEX dead_letters_by_run;"
        "ALTER TABLE dead_letters ALTER COLUMN fingerprint DROP EXPRESSION;"},
};

wr_status dlq_migrate(struct db_conn *db, struct wr_error *err)
{
    return db_migrate(db, "deadletter", dlq_migrations, DLQ_MIGRATION_COUNT, err);
}

/* ---- storing --------------------------------------------------------------------------- */

static const char store_sql[] =
    "INSERT INTO dead_letters (queue, dead_queue, original_exchange, original_routing_key,"
    " message_id, type, correlation_id, headers, body, attempts, first_error, last_error,"
    " first_failed_at, dead_at, previous_id, fingerprint)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::bytea, $10::integer, $11, $12,"
    " $13::timestamptz,"
    " coalesce($14::timestamptz, to_timestamp(nullif($15::bigint, 0)), now()),"
    " (SELECT max(id) FROM dead_letters WHERE dead_queue = $2 AND message_id = $5),"
    " " DLQ_FINGERPRINT_SQL("$12::text") ")"
    " ON CONFLICT (dead_queue, message_id, dead_at) DO NOTHING";

wr_status dlq_store(struct db_conn *db, const struct dlq_dead_letter *letter,
                    struct wr_error *err)
{
    static const char hex[] = "0123456789abcdef";
    char attempts[16], sent_at[24];
    char *body = malloc(2 * letter->body_len + 3);
    if (!body)
        return wr_error_set(err, WR_ERR_NOMEM, "deadletter: out of memory");
    const unsigned char *bytes = letter->body;
    body[0] = '\\';
    body[1] = 'x';
    for (size_t i = 0; i < letter->body_len; i++) {
        body[2 + 2 * i] = hex[bytes[i] >> 4];
        body[3 + 2 * i] = hex[bytes[i] & 15];
    }
    body[2 + 2 * letter->body_len] = '\0';
    snprintf(attempts, sizeof attempts, "%d", letter->attempts);
    snprintf(sent_at, sizeof sent_at, "%lld", (long long)letter->sent_at);
    const char *params[] = {
        letter->queue,          letter->dead_queue,  letter->exchange,  letter->routing_key,
        letter->message_id,     letter->type,        letter->correlation_id,
        letter->headers_json,   body,                attempts,          letter->first_error,
        letter->last_error,     letter->first_failed_at, letter->dead_at, sent_at,
    };
    wr_status status = db_exec(db, store_sql, 15, params, NULL, err);
    free(body);
    return status;
}

wr_status dlq_purge(struct db_conn *db, int days, long long *purged, struct wr_error *err)
{
    char text[16];
    struct db_result *res = NULL;
    snprintf(text, sizeof text, "%d", days);
    const char *params[] = {text};
    wr_status status = db_exec(
        db,
        "WITH gone AS (DELETE FROM dead_letters WHERE status <> 'dead'"
        "  AND coalesce(replayed_at, discarded_at, stored_at) < now() - make_interval(days => $1::int)"
        "  RETURNING 1) SELECT count(*) FROM gone",
        1, params, &res, err);
    if (status == WR_OK && purged)
        *purged = strtoll(db_result_value(res, 0, 0), NULL, 10);
    db_result_free(res);
    return status;
}

/* ---- filters --------------------------------------------------------------------------- */

bool dlq_is_id(const char *text)
{
    size_t len = strlen(text);
    return len > 0 && len <= 18 && strspn(text, "0123456789") == len;
}

/* "90s", "15m", "2h", "7d" ago as UTC text, or an RFC 3339 time as given
 * (PostgreSQL parses it). False when text is neither. */
static bool parse_time(const char *text, char *out, size_t size)
{
    static const char units[] = "smhd";
    static const long long seconds[] = {1, 60, 3600, 86400};
    size_t digits = strspn(text, "0123456789");
    const char *unit = digits ? strchr(units, text[digits]) : NULL;
    if (digits > 0 && digits <= 7 && unit && *unit && text[digits + 1] == '\0') {
        time_t t = time(NULL) - (time_t)(strtoll(text, NULL, 10) * seconds[unit - units]);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return true;
    }
    int y, mo, d, h, mi, s, n = 0;
    if (strlen(text) >= size ||
        sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6 || n != 19 ||
        mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return false;
    /* What may follow: fractions and a zone ("Z", "+01:00"). */
    if (strspn(text + n, "0123456789.:+-Z") != strlen(text + n))
        return false;
    snprintf(out, size, "%s", text);
    return true;
}

static bool is_group_id(const char *text)
{
    return strlen(text) == 12 && strspn(text, "0123456789abcdef") == 12;
}

wr_status dlq_filter_set(struct dlq_filter *filter, const char *name, const char *value,
                         struct wr_error *err)
{
    static const char *const statuses[] = {"dead", "replayed", "discarded", "all"};
    if (strcmp(name, "since") == 0 || strcmp(name, "until") == 0) {
        char *slot = name[0] == 's' ? filter->since : filter->until;
        if (!parse_time(value, slot, sizeof filter->since))
            return wr_error_set(err, WR_ERR_INVALID,
                                "%s: RFC 3339 (2026-11-25T08:00:00Z) or an age like 90s, 15m, "
                                "2h, 7d",
                                name);
        return WR_OK;
    }
    if (strlen(value) > 1000)
        return wr_error_set(err, WR_ERR_INVALID, "%s: at most 1000 characters", name);
    if (strcmp(name, "status") == 0) {
        for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
            if (strcmp(value, statuses[i]) == 0) {
                filter->status = value;
                return WR_OK;
            }
        return wr_error_set(err, WR_ERR_INVALID, "status: dead, replayed, discarded or all");
    }
    if (strcmp(name, "group") == 0) {
        if (!is_group_id(value))
            return wr_error_set(err, WR_ERR_INVALID,
                                "group: 12 hex digits, as `dlq groups` shows them");
        filter->group = value;
        return WR_OK;
    }
    const char **slot = strcmp(name, "queue") == 0   ? &filter->queue
                        : strcmp(name, "type") == 0  ? &filter->type
                        : strcmp(name, "error") == 0 ? &filter->error
                                                     : NULL;
    if (!slot)
        return wr_error_set(err, WR_ERR_NOT_FOUND, "unknown filter '%s'", name);
    *slot = value;
    return WR_OK;
}

/* The filter as parameters $1..$7 of DLQ_FILTER_SQL. */
static void filter_params(const struct dlq_filter *f, const char *status, const char **params)
{
    params[0] = f->queue;
    params[1] = f->type;
    params[2] = f->error;
    params[3] = f->since[0] ? f->since : NULL;
    params[4] = f->until[0] ? f->until : NULL;
    params[5] = status;
    params[6] = f->group;
}

#define DLQ_FILTER_SQL                                                                             \
    " ($1::text IS NULL OR queue = $1 OR dead_queue = $1)"                                         \
    " AND ($2::text IS NULL OR type = $2)"                                                         \
    " AND ($3::text IS NULL OR strpos(lower(coalesce(last_error, '') || ' '"                       \
    "  || coalesce(first_error, '')), lower($3)) > 0)"                                             \
    " AND ($4::timestamptz IS NULL OR dead_at >= $4::timestamptz)"                                 \
    " AND ($5::timestamptz IS NULL OR dead_at < $5::timestamptz)"                                  \
    " AND ($6 = 'all' OR status = $6)"                                                             \
    " AND ($7::text IS NULL OR " DLQ_GROUP_ID_SQL " = $7)"

#define UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* A record's fields in SPEC.md's order, without headers and body. */
#define DLQ_RECORD_FIELDS                                                                          \
    "'id', id, 'queue', queue, 'dead_queue', dead_queue, 'exchange', original_exchange,"           \
    " 'routing_key', original_routing_key, 'message_id', message_id, 'type', type,"                \
    " 'correlation_id', correlation_id, 'attempts', attempts, 'first_error', first_error,"         \
    " 'last_error', last_error, 'first_failed_at', " UTC("first_failed_at") ","                    \
    " 'dead_at', " UTC("dead_at") ", 'status', status, 'replayed_at', " UTC("replayed_at") ","     \
    " 'replayed_by', replayed_by, 'discarded_at', " UTC("discarded_at") ","                        \
    " 'discarded_by', discarded_by, 'discard_reason', discard_reason,"                             \
    " 'previous_id', previous_id, 'group', " DLQ_GROUP_ID_SQL

/* Runs sql returning one JSON cell and parses it into *out. */
static wr_status query_json(struct db_conn *db, const char *sql, int count,
                            const char *const *params, json_t **out, struct wr_error *err)
{
    struct db_result *res = NULL;
    json_error_t parse;
    *out = NULL;
    wr_status status = db_exec(db, sql, count, params, &res, err);
    if (status == WR_OK) {
        const char *text = db_result_rows(res) ? db_result_value(res, 0, 0) : NULL;
        *out = text ? json_loads(text, JSON_DECODE_ANY, &parse) : json_null();
        if (!*out)
            status = wr_error_set(err, WR_ERR_IO, "dead-letter store: bad JSON: %s", parse.text);
    }
    db_result_free(res);
    return status;
}

/* ---- reading --------------------------------------------------------------------------- */

static const char list_sql[] =
    "WITH page AS (SELECT *, (extract(epoch FROM dead_at) * 1000000)::bigint AS micros"
    "  FROM dead_letters WHERE" DLQ_FILTER_SQL
    "  AND ($8::bigint IS NULL OR ((extract(epoch FROM dead_at) * 1000000)::bigint, id)"
    "   < ($8::bigint, $9::bigint))"
    "  ORDER BY dead_at DESC, id DESC LIMIT $10::int)"
    " SELECT json_build_object("
    " 'dead_letters', coalesce((SELECT json_agg(json_build_object(" DLQ_RECORD_FIELDS ")"
    "  ORDER BY dead_at DESC, id DESC) FROM page), '[]'),"
    " 'total', (SELECT count(*) FROM dead_letters WHERE" DLQ_FILTER_SQL "),"
    " 'next_cursor', (SELECT CASE WHEN count(*) = $10::int THEN"
    "  (array_agg(micros || '.' || id ORDER BY dead_at, id))[1] END FROM page))";

wr_status dlq_list(struct db_conn *db, const struct dlq_filter *filter, long limit,
                   const char *cursor, json_t **out, struct wr_error *err)
{
    char micros[24] = "", id[24] = "", limit_text[16];
    if (limit < 1 || limit > DLQ_LIST_MAX_LIMIT)
        return wr_error_set(err, WR_ERR_INVALID, "limit: 1 to %d", DLQ_LIST_MAX_LIMIT);
    if (cursor) {
        const char *dot = strchr(cursor, '.');
        size_t head = dot ? (size_t)(dot - cursor) : 0;
        if (!dot || head == 0 || head > 18 || strspn(cursor, "0123456789") != head ||
            !dlq_is_id(dot + 1))
            return wr_error_set(err, WR_ERR_INVALID, "cursor: not one this list gave out");
        snprintf(micros, sizeof micros, "%.*s", (int)head, cursor);
        snprintf(id, sizeof id, "%s", dot + 1);
    }
    snprintf(limit_text, sizeof limit_text, "%ld", limit);
    const char *params[10];
    filter_params(filter, filter->status ? filter->status : "dead", params);
    params[7] = cursor ? micros : NULL;
    params[8] = cursor ? id : NULL;
    params[9] = limit_text;
    return query_json(db, list_sql, 10, params, out, err);
}

static const char show_sql[] =
    "SELECT json_build_object(" DLQ_RECORD_FIELDS ", 'fingerprint', fingerprint,"
    " 'stored_at', " UTC("stored_at") ", 'headers', headers)::text, body"
    " FROM dead_letters WHERE id = $1::bigint";

/* body as a JSON string when it is text (valid UTF-8 without NUL), else as
 * base64 with "body_encoding": "base64". */
static void set_body(json_t *record, const unsigned char *body, size_t len)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    json_t *text = memchr(body, '\0', len) ? NULL : json_stringn((const char *)body, len);
    if (text) {
        json_object_set_new(record, "body", text);
        return;
    }
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    size_t n = 0;
    for (size_t i = 0; out && i < len; i += 3) {
        unsigned v = (unsigned)body[i] << 16 | (i + 1 < len ? (unsigned)body[i + 1] << 8 : 0) |
                     (i + 2 < len ? body[i + 2] : 0);
        out[n++] = b64[v >> 18 & 63];
        out[n++] = b64[v >> 12 & 63];
        out[n++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
        out[n++] = i + 2 < len ? b64[v & 63] : '=';
    }
    if (out) {
        out[n] = '\0';
        json_object_set_new(record, "body", json_string(out));
        json_object_set_new(record, "body_encoding", json_string("base64"));
    }
    free(out);
}

wr_status dlq_show(struct db_conn *db, const char *id, json_t **out, struct wr_error *err)
{
    struct db_result *res = NULL;
    *out = NULL;
    if (!dlq_is_id(id))
        return wr_error_set(err, WR_ERR_INVALID, "id: a number, not '%s'", id);
    const char *params[] = {id};
    wr_status status = db_exec(db, show_sql, 1, params, &res, err);
    if (status == WR_OK && db_result_rows(res) == 0)
        status = wr_error_set(err, WR_ERR_NOT_FOUND, "no dead letter %s", id);
    if (status == WR_OK) {
        size_t len = 0;
        unsigned char *body = db_result_bytes(res, 0, 1, &len);
        *out = json_loads(db_result_value(res, 0, 0), 0, NULL);
        if (!*out || !body)
            status = wr_error_set(err, WR_ERR_NOMEM, "dead-letter store: out of memory");
        else
            set_body(*out, body, len);
        free(body);
    }
    db_result_free(res);
    return status;
}

#define COUNT_BY(col)                                                                              \
    "(SELECT coalesce(json_agg(json_build_object('" col "', k, 'count', n)"                        \
    " ORDER BY n DESC, k), '[]') FROM (SELECT coalesce(" col ", '') AS k, count(*) AS n"           \
    " FROM dead_letters WHERE status = 'dead' GROUP BY 1) g)"

static const char stats_sql[] =
    "SELECT json_build_object("
    "'dead', (SELECT count(*) FROM dead_letters WHERE status = 'dead'),"
    "'replayed', (SELECT count(*) FROM dead_letters WHERE status = 'replayed'),"
    "'discarded', (SELECT count(*) FROM dead_letters WHERE status = 'discarded'),"
    "'by_queue', " COUNT_BY("queue") ", 'by_type', " COUNT_BY("type") ","
    "'by_error', (SELECT coalesce(json_agg(json_build_object('error', k, 'count', n)"
    " ORDER BY n DESC, k), '[]') FROM (SELECT coalesce(last_error, '') AS k, count(*) AS n"
    " FROM dead_letters WHERE status = 'dead' GROUP BY 1) g))";

wr_status dlq_stats(struct db_conn *db, json_t **out, struct wr_error *err)
{
    return query_json(db, stats_sql, 0, NULL, out, err);
}

static const char groups_sql[] =
    "SELECT coalesce(json_agg(json_build_object('group', g, 'queue', queue, 'type', type,"
    " 'fingerprint', fingerprint, 'count', n, 'first_dead_at', " UTC("first_dead") ","
    " 'last_dead_at', " UTC("last_dead") ", 'example_error', example)"
    " ORDER BY n DESC, g), '[]') FROM ("
    " SELECT " DLQ_GROUP_ID_SQL " AS g, queue, type, fingerprint, count(*) AS n,"
    "  min(dead_at) AS first_dead, max(dead_at) AS last_dead,"
    "  (array_agg(last_error ORDER BY id DESC))[1] AS example"
    " FROM dead_letters WHERE" DLQ_FILTER_SQL " GROUP BY 1, 2, 3, 4) grouped";

wr_status dlq_groups(struct db_conn *db, const struct dlq_filter *filter, json_t **out,
                     struct wr_error *err)
{
    const char *params[7];
    filter_params(filter, filter->status ? filter->status : "dead", params);
    return query_json(db, groups_sql, 7, params, out, err);
}

/* ---- selections and discard ------------------------------------------------------------ */

void dlq_selection_free(struct dlq_selection *selection)
{
    free(selection->ids);
    json_decref(selection->skipped);
    memset(selection, 0, sizeof *selection);
}

/* Fills out from rows whose column 0 is an id; column 1, when given, is
 * why the row cannot be taken (NULL: it can). */
static wr_status take_rows(const struct db_result *res, bool with_reasons,
                           struct dlq_selection *out, struct wr_error *err)
{
    size_t rows = db_result_rows(res);
    out->ids = malloc((rows ? rows : 1) * sizeof *out->ids);
    out->skipped = json_array();
    if (!out->ids || !out->skipped)
        return wr_error_set(err, WR_ERR_NOMEM, "dead-letter store: out of memory");
    for (size_t i = 0; i < rows; i++) {
        const char *reason = with_reasons ? db_result_value(res, i, 1) : NULL;
        long long id = strtoll(db_result_value(res, i, 0), NULL, 10);
        if (reason)
            json_array_append_new(out->skipped, json_pack("{s:I, s:s}", "id", (json_int_t)id,
                                                          "reason", reason));
        else
            out->ids[out->count++] = id;
    }
    return WR_OK;
}

wr_status dlq_select(struct db_conn *db, const struct dlq_filter *filter,
                     struct dlq_selection *out, struct wr_error *err)
{
    struct db_result *res = NULL;
    const char *params[7];
    memset(out, 0, sizeof *out);
    filter_params(filter, "dead", params);
    wr_status status = db_exec(db, "SELECT id FROM dead_letters WHERE" DLQ_FILTER_SQL
                                   " ORDER BY id",
                               7, params, &res, err);
    if (status == WR_OK)
        status = take_rows(res, false, out, err);
    db_result_free(res);
    return status;
}

/* "{1,2,3}": ids as a PostgreSQL array literal (malloc'd). */
char *dlq_id_array(const int64_t *ids, size_t count)
{
    size_t size = count * 21 + 3, used = 1;
    char *text = malloc(size);
    if (!text)
        return NULL;
    text[0] = '{';
    for (size_t i = 0; i < count; i++)
        used += (size_t)snprintf(text + used, size - used, "%s%lld", i ? "," : "",
                                 (long long)ids[i]);
    snprintf(text + used, size - used, "}");
    return text;
}

wr_status dlq_select_ids(struct db_conn *db, const char *const *ids, size_t count,
                         struct dlq_selection *out, struct wr_error *err)
{
    struct db_result *res = NULL;
    memset(out, 0, sizeof *out);
    int64_t *numbers = malloc((count ? count : 1) * sizeof *numbers);
    if (!numbers)
        return wr_error_set(err, WR_ERR_NOMEM, "dead-letter store: out of memory");
    wr_status status = WR_OK;
    for (size_t i = 0; i < count && status == WR_OK; i++) {
        if (!dlq_is_id(ids[i]))
            status = wr_error_set(err, WR_ERR_INVALID, "id: a number, not '%s'", ids[i]);
        else
            numbers[i] = strtoll(ids[i], NULL, 10);
    }
    char *array = status == WR_OK ? dlq_id_array(numbers, count) : NULL;
    if (status == WR_OK && !array)
        status = wr_error_set(err, WR_ERR_NOMEM, "dead-letter store: out of memory");
    const char *params[] = {array};
    if (status == WR_OK)
        status = db_exec(db,
                         "SELECT DISTINCT i.id, CASE WHEN d.id IS NULL THEN 'no such dead letter'"
                         " WHEN d.status <> 'dead' THEN 'already ' || d.status END"
                         " FROM unnest($1::bigint[]) AS i (id)"
                         " LEFT JOIN dead_letters d ON d.id = i.id ORDER BY i.id",
                         1, params, &res, err);
    if (status == WR_OK)
        status = take_rows(res, true, out, err);
    db_result_free(res);
    free(array);
    free(numbers);
    return status;
}

wr_status dlq_discard(struct db_conn *db, const struct dlq_selection *selection, const char *by,
                      const char *reason, long long *discarded, struct wr_error *err)
{
    struct db_result *res = NULL;
    if (!reason || !*reason || strlen(reason) > 1000)
        return wr_error_set(err, WR_ERR_INVALID, "reason: 1 to 1000 characters");
    char *array = dlq_id_array(selection->ids, selection->count);
    if (!array)
        return wr_error_set(err, WR_ERR_NOMEM, "dead-letter store: out of memory");
    const char *params[] = {array, by, reason};
    wr_status status = db_exec(db,
                               "WITH done AS (UPDATE dead_letters SET status = 'discarded',"
                               " discarded_at = now(), discarded_by = $2, discard_reason = $3"
                               " WHERE id = ANY($1::bigint[]) AND status = 'dead' RETURNING 1)"
                               " SELECT count(*) FROM done",
                               3, params, &res, err);
    if (status == WR_OK)
        *discarded = strtoll(db_result_value(res, 0, 0), NULL, 10);
    db_result_free(res);
    free(array);
    return status;
}
