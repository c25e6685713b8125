/* `warrenctl dlq list|show|stats`: support staff's view of the deadletter
 * service's store (database.deadletter_url): the dead letters filtered by
 * queue, type, error text, time and status, newest first; one record in
 * full with its body pretty-printed; counts by queue, type and error.
 * Each is one parameterised query that builds its JSON in PostgreSQL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "workers/services.h"

#define UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

struct dlq_args {
    const char *queue, *type, *error, *since, *until, *status, *id;
    bool json, help;
};

/* ---- options -------------------------------------------------------------------------- */

/* The value of "--opt V" or "--opt=V": 1 taken, 0 not this option, -1 no value. */
static int option_value(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) == 0 && argv[*i][len] == '=') {
        *out = argv[*i] + len + 1;
        return 1;
    }
    if (strcmp(argv[*i], name) != 0)
        return 0;
    if (*i + 1 == argc)
        return -1;
    *out = argv[++*i];
    return 1;
}

/* The filter options of `dlq list`; 1 taken, 0 none, -1 missing value. */
static int filter_option(int argc, char **argv, int *i, struct dlq_args *a)
{
    static const char *const names[] = {"--queue", "--type",  "--error",
                                        "--since", "--until", "--status"};
    const char **slots[] = {&a->queue, &a->type, &a->error, &a->since, &a->until, &a->status};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        int taken = option_value(argc, argv, i, names[k], slots[k]);
        if (taken)
            return taken;
    }
    return 0;
}

static int parse_args(const char *command, bool filters, size_t positionals, int argc, char **argv,
                      struct dlq_args *a)
{
    for (int i = 0; i < argc; i++) {
        int taken = filters ? filter_option(argc, argv, &i, a) : 0;
        if (taken < 0)
            return ctl_usage_error(command, "%s needs a value", argv[i]);
        if (taken)
            continue;
        if (ctl_is_help(argv[i]))
            a->help = true;
        else if (strcmp(argv[i], "--json") == 0)
            a->json = true;
        else if (argv[i][0] == '-' || positionals == 0 || a->id)
            return ctl_usage_error(command, "unexpected argument '%s'", argv[i]);
        else
            a->id = argv[i];
    }
    if (positionals && !a->id && !a->help)
        return ctl_usage_error(command, "missing the dead letter's ID");
    return CTL_EXIT_OK;
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
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6 || n != 19 ||
        mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return false;
    snprintf(out, size, "%s", text);
    return true;
}

/* ---- queries -------------------------------------------------------------------------- */

/* Runs sql (returning one JSON cell) and parses it; NULL after printing why. */
static json_t *query_json(struct db_conn *db, const char *sql, int count, const char *const *params)
{
    struct db_result *res = NULL;
    struct wr_error err;
    json_t *out = NULL;
    if (db_exec(db, sql, count, params, &res, &err) != WR_OK) {
        fprintf(stderr, "warrenctl: dlq: %s\n", err.message);
        goto out;
    }
    const char *text = db_result_rows(res) ? db_result_value(res, 0, 0) : NULL;
    out = text ? json_loads(text, 0, NULL) : json_null();
out:
    db_result_free(res);
    return out;
}

static const char list_sql[] =
    "SELECT coalesce(json_agg(r ORDER BY r.dead_at_t DESC, r.id DESC), '[]') FROM ("
    " SELECT id, queue, type, message_id, correlation_id, attempts, last_error, status,"
    " " UTC("dead_at") " AS dead_at, dead_at AS dead_at_t FROM dead_letters"
                       " WHERE ($1::text IS NULL OR queue = $1 OR dead_queue = $1)"
                       " AND ($2::text IS NULL OR type = $2)"
                       " AND ($3::text IS NULL OR strpos(lower(coalesce(last_error, '') || ' '"
                       "  || coalesce(first_error, '')), lower($3)) > 0)"
                       " AND ($4::timestamptz IS NULL OR dead_at >= $4::timestamptz)"
                       " AND ($5::timestamptz IS NULL OR dead_at < $5::timestamptz)"
                       " AND ($6 = 'all' OR status = $6)) r";

static const char show_sql[] =
    "SELECT row_to_json(r) FROM (SELECT id, status, queue, dead_queue, original_exchange,"
    " original_routing_key, message_id, type, correlation_id, attempts, first_error,"
    " last_error, " UTC("first_failed_at") " AS first_failed_at, " UTC(
        "dead_at") " AS dead_at,"
                   " " UTC("stored_at") " AS stored_at, " UTC(
                       "replayed_at") " AS replayed_at, replayed_by,"
                                      " " UTC("discarded_at") " AS discarded_at, discarded_by, "
                                                              "discard_reason, previous_id,"
                                                              " headers, body FROM dead_letters "
                                                              "WHERE id = $1::bigint) r";

#define GROUP_BY(col)                                                                              \
    "(SELECT coalesce(json_agg(json_build_object('" col "', k, 'count', n)"                        \
    " ORDER BY n DESC, k), '[]') FROM (SELECT coalesce(" col ", '') AS k, count(*) AS n"           \
    " FROM dead_letters WHERE status = 'dead' GROUP BY 1) g)"

static const char stats_sql[] =
    "SELECT json_build_object("
    "'dead', (SELECT count(*) FROM dead_letters WHERE status = 'dead'),"
    "'replayed', (SELECT count(*) FROM dead_letters WHERE status = 'replayed'),"
    "'discarded', (SELECT count(*) FROM dead_letters WHERE status = 'discarded'),"
    "'by_queue', " GROUP_BY("queue") ", 'by_type', " GROUP_BY(
        "type") ","
                "'by_error', (SELECT coalesce(json_agg(json_build_object('error', k, 'count', n)"
                " ORDER BY n DESC, k), '[]') FROM (SELECT coalesce(last_error, '') AS k, count(*) "
                "AS n"
                " FROM dead_letters WHERE status = 'dead' GROUP BY 1) g))";

static struct db_conn *open_store(const struct ctl_context *ctx)
{
    return ctl_database_open(ctx, CFG_DB_DEADLETTER_URL, &wrk_deadletter_service);
}

static const char *text_of(const json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text ? text : "-";
}

static void print_json(const json_t *value)
{
    if (json_dumpf(value, stdout, JSON_INDENT(2)) == 0)
        putchar('\n');
}

/* ---- subcommands ---------------------------------------------------------------------- */

static void print_list(const json_t *rows)
{
    size_t i;
    json_t *row;
    if (json_array_size(rows) == 0) {
        puts("no dead letters match");
        return;
    }
    printf("%-8s %-20s %-24s %-22s %-36s %3s  %s\n", "ID", "DEAD AT (UTC)", "QUEUE", "TYPE",
           "ORDER", "TRY", "LAST ERROR");
    json_array_foreach(rows, i, row)
    {
        printf("%-8lld %-20s %-24s %-22s %-36s %3lld  %.60s\n",
               (long long)json_integer_value(json_object_get(row, "id")), text_of(row, "dead_at"),
               text_of(row, "queue"), text_of(row, "type"), text_of(row, "correlation_id"),
               (long long)json_integer_value(json_object_get(row, "attempts")),
               text_of(row, "last_error"));
    }
    printf("%zu dead letter%s\n", json_array_size(rows), json_array_size(rows) == 1 ? "" : "s");
}

static int run_list(const struct ctl_context *ctx, const struct dlq_args *a)
{
    char since[64] = "", until[64] = "";
    static const char *const statuses[] = {"dead", "replayed", "discarded", "all"};
    bool known = !a->status;
    for (size_t i = 0; a->status && i < sizeof statuses / sizeof statuses[0]; i++)
        known = known || strcmp(a->status, statuses[i]) == 0;
    if (!known)
        return ctl_usage_error("dlq list", "--status: dead, replayed, discarded or all");
    if ((a->since && !parse_time(a->since, since, sizeof since)) ||
        (a->until && !parse_time(a->until, until, sizeof until)))
        return ctl_usage_error("dlq list", "--since/--until: RFC 3339 (2026-11-25T08:00:00Z) or "
                                           "an age like 90s, 15m, 2h, 7d");
    const char *params[] = {a->queue,
                            a->type,
                            a->error,
                            a->since ? since : NULL,
                            a->until ? until : NULL,
                            a->status ? a->status : "dead"};
    struct db_conn *db = open_store(ctx);
    json_t *rows = db ? query_json(db, list_sql, 6, params) : NULL;
    if (rows && a->json)
        print_json(rows);
    else if (rows)
        print_list(rows);
    db_close(db);
    int code = rows ? CTL_EXIT_OK : CTL_EXIT_FAILED;
    json_decref(rows);
    return code;
}

/* Every field but headers and body, one a line; then those two. */
static void print_record(const json_t *record)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)record, key, value)
    {
        if (strcmp(key, "headers") == 0 || strcmp(key, "body") == 0)
            continue;
        if (json_is_integer(value))
            printf("%-21s %lld\n", key, (long long)json_integer_value(value));
        else
            printf("%-21s %s\n", key, json_is_string(value) ? json_string_value(value) : "-");
    }
    printf("headers:\n");
    print_json(json_object_get(record, "headers"));
    const char *body = text_of(record, "body");
    json_t *parsed = json_loads(body, JSON_DECODE_ANY, NULL);
    printf("body:\n");
    if (parsed)
        print_json(parsed);
    else
        printf("%s\n", body);
    json_decref(parsed);
}

static int run_show(const struct ctl_context *ctx, const struct dlq_args *a)
{
    if (strspn(a->id, "0123456789") != strlen(a->id) || strlen(a->id) > 18)
        return ctl_usage_error("dlq show", "ID is a number, not '%s'", a->id);
    const char *params[] = {a->id};
    struct db_conn *db = open_store(ctx);
    json_t *record = db ? query_json(db, show_sql, 1, params) : NULL;
    int code = json_is_object(record) ? CTL_EXIT_OK : CTL_EXIT_FAILED;
    if (record && !json_is_object(record))
        fprintf(stderr, "warrenctl: dlq show: no dead letter %s\n", a->id);
    else if (record && a->json)
        print_json(record);
    else if (record)
        print_record(record);
    json_decref(record);
    db_close(db);
    return code;
}

static void print_counts(const char *title, const json_t *groups, const char *key)
{
    size_t i;
    json_t *group;
    printf("\n%s\n", title);
    if (json_array_size(groups) == 0)
        printf("  -\n");
    json_array_foreach(groups, i, group)
        printf("  %8lld  %s\n", (long long)json_integer_value(json_object_get(group, "count")),
               text_of(group, key));
}

static int run_stats(const struct ctl_context *ctx, const struct dlq_args *a)
{
    struct db_conn *db = open_store(ctx);
    json_t *stats = db ? query_json(db, stats_sql, 0, NULL) : NULL;
    if (stats && a->json) {
        print_json(stats);
    } else if (stats) {
        printf("dead %lld, replayed %lld, discarded %lld\n",
               (long long)json_integer_value(json_object_get(stats, "dead")),
               (long long)json_integer_value(json_object_get(stats, "replayed")),
               (long long)json_integer_value(json_object_get(stats, "discarded")));
        print_counts("Dead by queue", json_object_get(stats, "by_queue"), "queue");
        print_counts("Dead by type", json_object_get(stats, "by_type"), "type");
        print_counts("Dead by error", json_object_get(stats, "by_error"), "error");
    }
    db_close(db);
    int code = stats ? CTL_EXIT_OK : CTL_EXIT_FAILED;
    json_decref(stats);
    return code;
}

/* ---- the group ------------------------------------------------------------------------ */

static const char help_text[] =
    "usage: warrenctl [--config FILE] dlq list [--queue Q] [--type T] [--error TEXT]\n"
    "                 [--since T] [--until T] [--status S] [--json]\n"
    "       warrenctl [--config FILE] dlq show ID [--json]\n"
    "       warrenctl [--config FILE] dlq stats [--json]\n"
    "\n"
    "The dead letters the deadletter service stored (database.deadletter_url; the\n"
    "WARREN_DATABASE_DEADLETTER_URL variable overrides it).\n"
    "  list    newest first: --queue (source or .dead queue), --type, --error (text in\n"
    "          the first or last error, any case), --since/--until (RFC 3339 or an age:\n"
    "          90s, 15m, 2h, 7d), --status dead (default), replayed, discarded or all\n"
    "  show    one record in full, the body pretty-printed\n"
    "  stats   dead letters by status, and the dead ones by queue, type and error\n"
    "  --json  the same as JSON\n"
    "\n"
    "Exit status: 0 ok, 1 not found or the database could not be read, 2 usage error.";

int ctl_dlq_main(const struct ctl_context *ctx, int argc, char **argv)
{
    struct dlq_args a = {0};
    const char *sub = argc > 1 ? argv[1] : "";
    bool list = strcmp(sub, "list") == 0, show = strcmp(sub, "show") == 0;
    bool stats = strcmp(sub, "stats") == 0;
    if (argc > 1 && ctl_is_help(sub)) {
        puts(help_text);
        return CTL_EXIT_OK;
    }
    if (!list && !show && !stats)
        return ctl_usage_error("dlq",
                               argc > 1 ? "unknown subcommand '%s' (list, show or stats)"
                                        : "missing subcommand%s (list, show or stats)",
                               sub);
    char command[32];
    snprintf(command, sizeof command, "dlq %s", sub);
    int code = parse_args(command, list, show ? 1 : 0, argc - 2, argv + 2, &a);
    if (code != CTL_EXIT_OK || a.help) {
        if (a.help)
            puts(help_text);
        return code;
    }
    return list ? run_list(ctx, &a) : show ? run_show(ctx, &a) : run_stats(ctx, &a);
}
