/* `warrenctl dlq ...`: support staff's commands on the dead-letter store
 * (database.deadletter_url): list, show, stats, groups, replay, discard and
 * purge. The work is dlq/'s (shared with the API's admin routes); this file
 * parses the command line, prints tables or JSON and shows progress. */
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/duration.h"
#include "ctl/ctl.h"
#include "dlq/dlq.h"
#include "workers/services.h"

#define MAX_RAMP 16

/* Which subcommand may take an option. */
enum {
    ON_LIST = 1 << 0,
    ON_SHOW = 1 << 1,
    ON_STATS = 1 << 2,
    ON_GROUPS = 1 << 3,
    ON_REPLAY = 1 << 4,
    ON_DISCARD = 1 << 5,
    ON_PURGE = 1 << 6,
    SELECTING = ON_REPLAY | ON_DISCARD,
    FILTERING = ON_LIST | ON_GROUPS | SELECTING,
};

struct dlq_args {
    unsigned sub;
    const char *name; /* "dlq replay" */
    struct dlq_filter filter;
    bool filtered;            /* a filter option was given */
    const char **ids;         /* positionals */
    size_t id_count;
    long limit;
    const char *cursor, *reason, *older_than;
    double rate;
    long ramp[MAX_RAMP];
    size_t ramp_count;
    int64_t settle_ms;        /* -1 = from the topology */
    long max_failures;
    bool all, dry_run, json, help;
};

/* ---- the command line ------------------------------------------------------------------ */

static bool parse_long(const char *text, long min, long max, long *out)
{
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (!*text || *end || value < min || value > max)
        return false;
    *out = value;
    return true;
}

static bool parse_ramp(const char *text, struct dlq_args *a)
{
    char copy[256], *save = NULL;
    if (strlen(text) >= sizeof copy)
        return false;
    snprintf(copy, sizeof copy, "%s", text);
    a->ramp_count = 0;
    for (char *step = strtok_r(copy, ",", &save); step; step = strtok_r(NULL, ",", &save))
        if (a->ramp_count == MAX_RAMP || !parse_long(step, 1, 1000000, &a->ramp[a->ramp_count++]))
            return false;
    return a->ramp_count > 0;
}

/* An option taking a value: checks and stores it; CTL_EXIT_OK or a usage error. */
static int take_value(struct dlq_args *a, const char *option, const char *value)
{
    static const char *const filters[] = {"queue", "type", "error", "since", "until", "status",
                                          "group"};
    struct wr_error err;
    long number;
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
        if (strcmp(option + 2, filters[i]) == 0) {
            if (dlq_filter_set(&a->filter, filters[i], value, &err) != WR_OK)
                return ctl_usage_error(a->name, "--%s", err.message);
            a->filtered = true;
            return CTL_EXIT_OK;
        }
    if (strcmp(option, "--limit") == 0 && parse_long(value, 1, DLQ_LIST_MAX_LIMIT, &a->limit))
        return CTL_EXIT_OK;
    if (strcmp(option, "--cursor") == 0)
        a->cursor = value;
    else if (strcmp(option, "--reason") == 0)
        a->reason = value;
    else if (strcmp(option, "--older-than") == 0)
        a->older_than = value;
    else if (strcmp(option, "--rate") == 0 && parse_long(value, 1, 1000000, &number))
        a->rate = (double)number;
    else if (strcmp(option, "--ramp") == 0 && parse_ramp(value, a))
        return CTL_EXIT_OK;
    else if (strcmp(option, "--settle") == 0 && wr_duration_parse(value, &a->settle_ms) == WR_OK)
        return CTL_EXIT_OK;
    else if (strcmp(option, "--max-failures") == 0 &&
             parse_long(value, 0, 1000000000, &a->max_failures))
        return CTL_EXIT_OK;
    else
        return ctl_usage_error(a->name, "bad value '%s' for %s", value, option);
    return CTL_EXIT_OK;
}

static const struct {
    const char *name;
    unsigned on;
    bool takes_value;
} options[] = {
    {"--queue", FILTERING, true},   {"--type", FILTERING, true},
    {"--error", FILTERING, true},   {"--since", FILTERING, true},
    {"--until", FILTERING, true},   {"--status", ON_LIST | ON_GROUPS, true},
    {"--group", FILTERING, true},   {"--limit", ON_LIST, true},
    {"--cursor", ON_LIST, true},    {"--rate", ON_REPLAY, true},
    {"--ramp", ON_REPLAY, true},    {"--settle", ON_REPLAY, true},
    {"--max-failures", ON_REPLAY, true}, {"--reason", ON_DISCARD, true},
    {"--older-than", ON_PURGE, true},
    {"--all", SELECTING, false},    {"--dry-run", ON_REPLAY, false},
    {"--json", ~0u, false},
};

static int parse_args(int argc, char **argv, struct dlq_args *a)
{
    a->ids = calloc((size_t)argc + 1, sizeof *a->ids);
    if (!a->ids)
        return CTL_EXIT_FAILED;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i], *eq = strchr(arg, '=');
        size_t len = eq && arg[0] == '-' ? (size_t)(eq - arg) : strlen(arg);
        if (ctl_is_help(arg)) {
            a->help = true;
            continue;
        }
        if (arg[0] != '-') {
            a->ids[a->id_count++] = arg;
            continue;
        }
        size_t k = 0, count = sizeof options / sizeof options[0];
        while (k < count && !(strlen(options[k].name) == len && strncmp(options[k].name, arg, len) == 0))
            k++;
        if (k == count || !(options[k].on & a->sub))
            return ctl_usage_error(a->name, "unknown option '%.*s'", (int)len, arg);
        char option[32];
        snprintf(option, sizeof option, "%s", options[k].name);
        if (!options[k].takes_value) {
            if (eq)
                return ctl_usage_error(a->name, "%s takes no value", option);
            a->all |= strcmp(option, "--all") == 0;
            a->dry_run |= strcmp(option, "--dry-run") == 0;
            a->json |= strcmp(option, "--json") == 0;
            continue;
        }
        const char *value = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!value)
            return ctl_usage_error(a->name, "%s needs a value", option);
        int code = take_value(a, option, value);
        if (code != CTL_EXIT_OK)
            return code;
    }
    return CTL_EXIT_OK;
}

/* The checks that depend on the subcommand, after parsing. */
static int check_args(struct dlq_args *a)
{
    if (a->sub & SELECTING) {
        bool by_filter = a->all || a->filter.group;
        if (by_filter == (a->id_count > 0))
            return ctl_usage_error(a->name, a->id_count
                                                ? "give IDs or --all/--group, not both"
                                                : "which dead letters? give IDs, --all [filters] "
                                                  "or --group G");
        if (a->filtered && !by_filter)
            return ctl_usage_error(a->name, "filters select with --all");
    } else if (a->sub == ON_SHOW ? a->id_count != 1 : a->id_count != 0) {
        return ctl_usage_error(a->name, a->sub == ON_SHOW && !a->id_count
                                            ? "missing the dead letter's ID"
                                            : "unexpected argument '%s'",
                               a->id_count > 1 ? a->ids[1] : a->ids[0]);
    }
    if (a->sub == ON_DISCARD && (!a->reason || !*a->reason))
        return ctl_usage_error(a->name, "--reason TEXT is required: say why they are discarded");
    return CTL_EXIT_OK;
}

/* ---- printing -------------------------------------------------------------------------- */

static const char *text_of(const json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text ? text : "-";
}

static long long number_of(const json_t *object, const char *key)
{
    return (long long)json_integer_value(json_object_get(object, key));
}

static void print_json(const json_t *value)
{
    if (json_dumpf(value, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0)
        putchar('\n');
}

/* The width of a column: its widest value of key in rows (at least the
 * heading's, at most 60), so long queue names never shift the table. */
static int column_width(const json_t *rows, const char *key, int heading)
{
    size_t i;
    json_t *row;
    int width = heading;
    json_array_foreach(rows, i, row)
    {
        int len = (int)strlen(text_of(row, key));
        width = len > width ? (len < 60 ? len : 60) : width;
    }
    return width;
}

static void print_list(const json_t *page)
{
    const json_t *rows = json_object_get(page, "dead_letters");
    size_t i;
    json_t *row;
    if (json_array_size(rows) == 0) {
        puts("no dead letters match");
        return;
    }
    int queue = column_width(rows, "queue", 5), type = column_width(rows, "type", 4);
    printf("%-8s %-24s %-*s %-*s %-36s %3s %-9s %s\n", "ID", "DEAD AT (UTC)", queue, "QUEUE", type,
           "TYPE", "ORDER", "TRY", "STATUS", "LAST ERROR");
    json_array_foreach(rows, i, row)
        printf("%-8lld %-24s %-*.*s %-*.*s %-36s %3lld %-9s %.60s\n", number_of(row, "id"),
               text_of(row, "dead_at"), queue, queue, text_of(row, "queue"), type, type,
               text_of(row, "type"),
               text_of(row, "correlation_id"), number_of(row, "attempts"), text_of(row, "status"),
               text_of(row, "last_error"));
    long long total = number_of(page, "total");
    printf("%zu of %lld dead letter%s", json_array_size(rows), total, total == 1 ? "" : "s");
    if (json_is_string(json_object_get(page, "next_cursor")))
        printf(" (more: --cursor %s)", text_of(page, "next_cursor"));
    putchar('\n');
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
    json_t *parsed = json_is_string(json_object_get(record, "body_encoding"))
                         ? NULL
                         : json_loads(body, JSON_DECODE_ANY, NULL);
    printf("body:\n");
    if (parsed)
        print_json(parsed);
    else
        printf("%s\n", body);
    json_decref(parsed);
}

static void print_counts(const char *title, const json_t *groups, const char *key)
{
    size_t i;
    json_t *group;
    printf("\n%s\n", title);
    if (json_array_size(groups) == 0)
        printf("  -\n");
    json_array_foreach(groups, i, group)
        printf("  %8lld  %s\n", number_of(group, "count"), text_of(group, key));
}

static void print_stats(const json_t *stats)
{
    printf("dead %lld, replayed %lld, discarded %lld\n", number_of(stats, "dead"),
           number_of(stats, "replayed"), number_of(stats, "discarded"));
    print_counts("Dead by queue", json_object_get(stats, "by_queue"), "queue");
    print_counts("Dead by type", json_object_get(stats, "by_type"), "type");
    print_counts("Dead by error", json_object_get(stats, "by_error"), "error");
}

static void print_groups(const json_t *groups)
{
    size_t i;
    json_t *g;
    if (json_array_size(groups) == 0) {
        puts("no dead letters match");
        return;
    }
    int queue = column_width(groups, "queue", 5), type = column_width(groups, "type", 4);
    printf("%-12s %7s %-*s %-*s %s\n", "GROUP", "COUNT", queue, "QUEUE", type, "TYPE",
           "FINGERPRINT");
    json_array_foreach(groups, i, g)
        printf("%-12s %7lld %-*.*s %-*.*s %.70s\n", text_of(g, "group"), number_of(g, "count"),
               queue, queue, text_of(g, "queue"), type, type, text_of(g, "type"),
               text_of(g, "fingerprint"));
    puts("replay or discard a group with --group GROUP");
}

static void print_skipped(const json_t *skipped)
{
    size_t i;
    json_t *s;
    json_array_foreach(skipped, i, s)
        fprintf(stderr, "warrenctl: dead letter %lld skipped: %s\n", number_of(s, "id"),
                text_of(s, "reason"));
}

/* ---- running --------------------------------------------------------------------------- */

/* Who is doing it, as recorded: "warrenctl:<user>". */
static void operator_name(char *out, size_t size)
{
    const char *user = getenv("SUDO_USER");
    struct passwd *pw = user && *user ? NULL : getpwuid(getuid());
    if (!user || !*user)
        user = pw ? pw->pw_name : getenv("USER");
    snprintf(out, size, "warrenctl:%s", user && *user ? user : "unknown");
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* One line in place on a terminal; otherwise a line every 5 s and at the end. */
static void show_progress(const struct dlq_replay_progress *p, void *user)
{
    static int64_t last_ms;
    bool tty = *(bool *)user;
    int64_t now = wr_monotonic_ms();
    if (!tty && now - last_ms < 5000 && p->replayed < p->selected)
        return;
    last_ms = now;
    fprintf(stderr, "%sreplay: %zu/%zu replayed (%.0f%%), %zu died again, %.0f/s, %s%s",
            tty ? "\r\033[K" : "", p->replayed, p->selected,
            p->selected ? 100.0 * (double)p->replayed / (double)p->selected : 100.0,
            p->failed_again, p->rate_per_s, p->phase, tty ? "" : "\n");
}

static int run_replay(const struct ctl_context *ctx, const struct cfg *cfg, struct db_conn *db,
                      struct dlq_args *a,
                      const struct dlq_selection *selection)
{
    char by[128], settle[32];
    bool tty = isatty(STDERR_FILENO);
    struct wr_error err;
    json_t *outcome = NULL;
    operator_name(by, sizeof by);
    if (a->settle_ms < 0)
        a->settle_ms = a->ramp_count ? dlq_default_settle_ms(cfg_str(cfg, CFG_TOPOLOGY_FILE)) : 0;
    struct dlq_replay_options opt = {
        .broker_url = cfg_str(cfg, CFG_BROKER_URL), .by = by, .rate = a->rate,
        .ramp = a->ramp, .ramp_count = a->ramp_count, .settle_ms = a->settle_ms,
        .max_failures = a->max_failures, .dry_run = a->dry_run,
        .progress = a->json ? NULL : show_progress, .user = &tty, .interrupted = &interrupted,
    };
    if (a->ramp_count && !a->json && !a->dry_run) {
        wr_duration_format(a->settle_ms, settle, sizeof settle);
        fprintf(stderr, "replay: ramping; after each step, watching %s for messages that die "
                        "again (--settle)\n", settle);
    }
    /* a second connection marks records while the next batch goes out */
    struct db_conn *mark_db =
        a->dry_run ? NULL : ctl_database_open(ctx, CFG_DB_DEADLETTER_URL, NULL);
    opt.mark_db = mark_db;
    struct sigaction sa = {.sa_handler = on_interrupt}, old_int, old_term;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    wr_status status = dlq_replay(db, selection, &opt, &outcome, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    db_close(mark_db);
    if (tty && !a->json && !a->dry_run && selection->count)
        fputc('\n', stderr);
    bool stopped = json_is_true(json_object_get(outcome, "stopped"));
    if (a->json && outcome) {
        print_json(outcome);
    } else if (outcome && a->dry_run) {
        size_t i;
        json_t *row;
        json_t *rows = json_object_get(outcome, "would_replay");
        json_array_foreach(rows, i, row)
            printf("%-8lld %-20s %-22s %-36s -> %s %s\n", number_of(row, "id"),
                   text_of(row, "queue"), text_of(row, "type"), text_of(row, "correlation_id"),
                   text_of(row, "exchange"), text_of(row, "routing_key"));
        printf("dry run: would replay %zu dead letter%s; nothing changed\n", json_array_size(rows),
               json_array_size(rows) == 1 ? "" : "s");
    } else if (outcome) {
        printf("replayed %lld of %lld dead letter%s (run %s); %lld died again\n",
               number_of(outcome, "replayed"), number_of(outcome, "selected"),
               number_of(outcome, "selected") == 1 ? "" : "s", text_of(outcome, "run"),
               number_of(outcome, "failed_again"));
        if (stopped)
            printf("stopped: %s\n", text_of(outcome, "reason"));
    }
    if (outcome && !a->json)
        print_skipped(json_object_get(outcome, "skipped"));
    if (status != WR_OK)
        fprintf(stderr, "warrenctl: dlq replay: %s\n", err.message);
    int code = status == WR_OK && !stopped && json_array_size(selection->skipped) == 0
                   ? CTL_EXIT_OK
                   : CTL_EXIT_FAILED;
    json_decref(outcome);
    return code;
}

static int run_discard(struct db_conn *db, const struct dlq_args *a,
                       const struct dlq_selection *selection)
{
    char by[128];
    long long discarded = 0;
    struct wr_error err;
    operator_name(by, sizeof by);
    if (dlq_discard(db, selection, by, a->reason, &discarded, &err) != WR_OK) {
        fprintf(stderr, "warrenctl: dlq discard: %s\n", err.message);
        return CTL_EXIT_FAILED;
    }
    if (a->json) {
        json_t *out = json_pack("{s:I, s:O}", "discarded", (json_int_t)discarded, "skipped",
                                selection->skipped);
        print_json(out);
        json_decref(out);
    } else {
        printf("discarded %lld dead letter%s\n", discarded, discarded == 1 ? "" : "s");
        print_skipped(selection->skipped);
    }
    return json_array_size(selection->skipped) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}

static int run_purge(const struct cfg *cfg, struct db_conn *db, const struct dlq_args *a)
{
    long days = (long)cfg_int(cfg, CFG_DEADLETTER_RETENTION_DAYS);
    long long purged = 0;
    struct wr_error err;
    if (a->older_than && !parse_long(a->older_than, 1, 36500, &days))
        return ctl_usage_error(a->name, "--older-than: a number of days");
    if (dlq_purge(db, (int)days, &purged, &err) != WR_OK) {
        fprintf(stderr, "warrenctl: dlq purge: %s\n", err.message);
        return CTL_EXIT_FAILED;
    }
    printf("purged %lld replayed or discarded dead letter%s older than %ld days\n", purged,
           purged == 1 ? "" : "s", days);
    return CTL_EXIT_OK;
}

/* Runs one read-only query subcommand and prints its JSON or table. */
static int run_query(struct db_conn *db, const struct dlq_args *a)
{
    struct wr_error err;
    json_t *out = NULL;
    wr_status status = a->sub == ON_LIST
                           ? dlq_list(db, &a->filter, a->limit, a->cursor, &out, &err)
                       : a->sub == ON_SHOW  ? dlq_show(db, a->ids[0], &out, &err)
                       : a->sub == ON_STATS ? dlq_stats(db, &out, &err)
                                            : dlq_groups(db, &a->filter, &out, &err);
    if (status != WR_OK) {
        fprintf(stderr, "warrenctl: %s: %s\n", a->name, err.message);
        return status == WR_ERR_INVALID ? CTL_EXIT_USAGE : CTL_EXIT_FAILED;
    }
    if (a->json)
        print_json(out);
    else if (a->sub == ON_LIST)
        print_list(out);
    else if (a->sub == ON_SHOW)
        print_record(out);
    else if (a->sub == ON_STATS)
        print_stats(out);
    else
        print_groups(out);
    json_decref(out);
    return CTL_EXIT_OK;
}

static int run(const struct ctl_context *ctx, struct dlq_args *a)
{
    struct cfg *cfg = NULL;
    struct dlq_selection selection = {0};
    struct wr_error err;
    int code = CTL_EXIT_FAILED;
    if (cfg_load(ctx->config_path, stderr, &cfg) != WR_OK) {
        fprintf(stderr, "warrenctl: bad configuration (see above)\n");
        return CTL_EXIT_FAILED;
    }
    struct db_conn *db = ctl_database_open(ctx, CFG_DB_DEADLETTER_URL, &wrk_deadletter_service);
    if (!db)
        goto out;
    if (a->sub & SELECTING) {
        wr_status status = a->id_count ? dlq_select_ids(db, a->ids, a->id_count, &selection, &err)
                                       : dlq_select(db, &a->filter, &selection, &err);
        if (status != WR_OK) {
            fprintf(stderr, "warrenctl: %s: %s\n", a->name, err.message);
            code = status == WR_ERR_INVALID ? CTL_EXIT_USAGE : CTL_EXIT_FAILED;
            goto out;
        }
        code = a->sub == ON_REPLAY ? run_replay(ctx, cfg, db, a, &selection)
                                   : run_discard(db, a, &selection);
    } else if (a->sub == ON_PURGE) {
        code = run_purge(cfg, db, a);
    } else {
        code = run_query(db, a);
    }
out:
    dlq_selection_free(&selection);
    db_close(db);
    cfg_free(cfg);
    return code;
}

/* ---- the group ------------------------------------------------------------------------ */

static const char help_text[] =
    "usage: warrenctl [--config FILE] dlq list [FILTERS] [--status S] [--limit N] [--cursor C]\n"
    "       warrenctl [--config FILE] dlq show ID\n"
    "       warrenctl [--config FILE] dlq stats\n"
    "       warrenctl [--config FILE] dlq groups [FILTERS] [--status S]\n"
    "       warrenctl [--config FILE] dlq replay (ID... | --all [FILTERS] | --group G)\n"
    "                 [--rate N] [--ramp 1,10,100] [--settle DURATION] [--max-failures N]\n"
    "                 [--dry-run]\n"
    "       warrenctl [--config FILE] dlq discard (ID... | --all [FILTERS] | --group G)\n"
    "                 --reason TEXT\n"
    "       warrenctl [--config FILE] dlq purge [--older-than DAYS]\n"
    "Every subcommand takes --json.\n"
    "\n"
    "The dead letters the deadletter service stored (database.deadletter_url; the\n"
    "WARREN_DATABASE_DEADLETTER_URL variable overrides it).\n"
    "  FILTERS  --queue Q (source or .dead queue), --type T, --error TEXT (in the first or\n"
    "           last error, any case), --since/--until T (RFC 3339 or an age: 90s, 15m, 2h,\n"
    "           7d), --group G (a failure group of `dlq groups`)\n"
    "  list     newest first, --limit (default 100) at a time; --status dead (default),\n"
    "           replayed, discarded or all\n"
    "  show     one record in full, the body pretty-printed\n"
    "  stats    dead letters by status, and the dead ones by queue, type and error\n"
    "  groups   dead letters grouped by cause: queue, type and the last error with ids and\n"
    "           numbers taken out\n"
    "  replay   republishes each to its original exchange and routing key with confirms,\n"
    "           attempts reset, and marks it replayed (who, when). The selection is fixed\n"
    "           when the run starts. --rate: at most N a second; --ramp: steps of these\n"
    "           sizes first, each followed by --settle (default: the longest retry path of\n"
    "           the topology + 5 s) watching for replayed messages that die again; the run\n"
    "           stops by itself once more than --max-failures (default 0) did. --dry-run\n"
    "           lists what would go and changes nothing. Ctrl-C stops between batches.\n"
    "  discard  marks them discarded with the reason (who, when)\n"
    "  purge    deletes replayed and discarded records older than --older-than days\n"
    "           (default deadletter.retention_days; the deadletter worker also does it)\n"
    "\n"
    "Exit status: 0 ok, 1 not found, skipped, stopped or the store could not be read,\n"
    "2 usage error.";

int ctl_dlq_main(const struct ctl_context *ctx, int argc, char **argv)
{
    static const char *const subs[] = {"list",   "show",    "stats", "groups",
                                       "replay", "discard", "purge"};
    const char *sub = argc > 1 ? argv[1] : "";
    struct dlq_args a = {.limit = DLQ_LIST_DEFAULT_LIMIT, .settle_ms = -1};
    char name[32];
    if (argc > 1 && ctl_is_help(sub)) {
        puts(help_text);
        return CTL_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(sub, subs[i]) == 0)
            a.sub = 1u << i;
    if (!a.sub)
        return ctl_usage_error("dlq",
                               argc > 1 ? "unknown subcommand '%s' (list, show, stats, groups, "
                                          "replay, discard or purge)"
                                        : "missing subcommand%s (list, show, stats, groups, "
                                          "replay, discard or purge)",
                               sub);
    snprintf(name, sizeof name, "dlq %s", sub);
    a.name = name;
    int code = parse_args(argc - 2, argv + 2, &a);
    if (code == CTL_EXIT_OK && a.help)
        puts(help_text);
    else if (code == CTL_EXIT_OK && (code = check_args(&a)) == CTL_EXIT_OK)
        code = run(ctx, &a);
    free(a.ids);
    return code;
}
