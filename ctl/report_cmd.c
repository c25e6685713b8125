/* `warrenctl report [--since T] [--storefront S] [--json]`: the figures of
 * the analytics service's events table (database.analytics_url): orders by
 * final status, revenue by currency, the funnel placed -> reserved -> paid
 * -> confirmed, top rejection and failure reasons and a per-minute series.
 * Each section is one parameterised query; the report is built as JSON
 * and printed either as it is (--json) or as text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "workers/services.h"

#define DEFAULT_WINDOW_S (24 * 3600)
#define TEXT_MINUTES 60 /* the text report shows the latest minutes only */
#define TOP_REASONS "10"

/* Every query's window: $1 the start, $2 a storefront or NULL. */
#define WINDOW " at >= $1::timestamptz AND ($2::text IS NULL OR storefront = $2)"
#define FINAL_TYPES "('order.confirmed', 'order.rejected', 'order.payment_failed')"

struct report_args {
    const char *since;
    const char *storefront;
    bool json;
};

/* ---- --since -------------------------------------------------------------------------- */

static void format_utc(time_t t, char *out, size_t size)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "90s", "15m", "2h", "7d": that long ago. */
static bool parse_relative(const char *text, time_t now, char *out, size_t size)
{
    static const struct {
        char unit;
        long long seconds;
    } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
    size_t digits = strspn(text, "0123456789");
    if (digits == 0 || digits > 7 || strlen(text) != digits + 1)
        return false;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (text[digits] == units[i].unit) {
            format_utc(now - (time_t)(strtoll(text, NULL, 10) * units[i].seconds), out, size);
            return true;
        }
    }
    return false;
}

/* True if text starts like "2026-11-25T08:57:56" (digits where d is). */
static bool date_time_shaped(const char *text)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        bool digit = text[i] >= '0' && text[i] <= '9';
        if (shape[i] == 'd' ? !digit : (text[i] != shape[i] && !(i == 10 && text[i] == 't')))
            return false;
    }
    return true;
}

/* The seconds east of UTC of a "Z", "+01:00" or "-05:30" suffix. */
static bool parse_offset(const char *text, long *seconds)
{
    int hours = 0, minutes = 0, consumed = 0;
    if ((text[0] == 'Z' || text[0] == 'z') && text[1] == '\0') {
        *seconds = 0;
        return true;
    }
    if ((text[0] != '+' && text[0] != '-') || strlen(text) != 6 ||
        sscanf(text + 1, "%2d:%2d%n", &hours, &minutes, &consumed) != 2 || consumed != 5 ||
        hours > 23 || minutes > 59)
        return false;
    *seconds = (text[0] == '-' ? -1 : 1) * (hours * 3600L + minutes * 60L);
    return true;
}

/* "2026-11-25T08:57:56Z", "...56.548Z", "...56+01:00": a real instant,
 * rewritten in UTC (fractions of a second dropped). */
static bool parse_rfc3339(const char *text, char *out, size_t size)
{
    struct tm tm = {0}, asked;
    long offset = 0;
    if (!date_time_shaped(text) ||
        sscanf(text, "%4d-%2d-%2d%*c%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return false;
    const char *rest = text + 19;
    if (*rest == '.') {
        size_t digits = strspn(rest + 1, "0123456789");
        if (digits == 0)
            return false;
        rest += 1 + digits;
    }
    if (!parse_offset(rest, &offset))
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    asked = tm;
    time_t t = timegm(&tm);
    if (tm.tm_mday != asked.tm_mday || tm.tm_mon != asked.tm_mon || tm.tm_hour != asked.tm_hour ||
        tm.tm_min != asked.tm_min || tm.tm_sec != asked.tm_sec)
        return false; /* 2026-02-30, 25:00, ... */
    format_utc(t - offset, out, size);
    return true;
}

/* ---- sections ------------------------------------------------------------------------- */

static json_int_t cell_int(const struct db_result *res, size_t row, int column)
{
    const char *v = db_result_value(res, row, column);
    return v ? (json_int_t)strtoll(v, NULL, 10) : 0;
}

static void fill_orders(const struct db_result *res, json_t *report)
{
    json_t *orders = json_pack("{s:I, s:I, s:I, s:I, s:I}", "total", (json_int_t)0, "confirmed",
                               (json_int_t)0, "rejected", (json_int_t)0, "payment_failed",
                               (json_int_t)0, "in_progress", (json_int_t)0);
    json_int_t total = 0;
    for (size_t r = 0; orders && r < db_result_rows(res); r++) {
        json_object_set_new(orders, db_result_value(res, r, 0), json_integer(cell_int(res, r, 1)));
        total += cell_int(res, r, 1);
    }
    json_object_set_new(orders, "total", json_integer(total));
    json_object_set_new(report, "orders", orders);
}

static void fill_revenue(const struct db_result *res, json_t *report)
{
    json_t *revenue = json_object();
    for (size_t r = 0; revenue && r < db_result_rows(res); r++)
        json_object_set_new(revenue, db_result_value(res, r, 0), json_integer(cell_int(res, r, 1)));
    json_object_set_new(report, "revenue", revenue);
}

/* The funnel's steps: which event marks each. */
static const struct {
    const char *step;
    const char *type;
} funnel_steps[] = {
    {"placed", "order.placed"},
    {"reserved", "inventory.reserved"},
    {"paid", "payment.succeeded"},
    {"confirmed", "order.confirmed"},
};

#define FUNNEL_COUNT (sizeof funnel_steps / sizeof funnel_steps[0])

static void fill_funnel(const struct db_result *res, json_t *report)
{
    json_t *funnel = json_object();
    for (size_t i = 0; funnel && i < FUNNEL_COUNT; i++) {
        json_int_t count = 0;
        for (size_t r = 0; r < db_result_rows(res); r++)
            if (strcmp(db_result_value(res, r, 0), funnel_steps[i].type) == 0)
                count = cell_int(res, r, 1);
        json_object_set_new(funnel, funnel_steps[i].step, json_integer(count));
    }
    json_object_set_new(report, "funnel", funnel);
}

static void fill_reasons(const struct db_result *res, json_t *report)
{
    json_t *rejected = json_array(), *failed = json_array();
    for (size_t r = 0; rejected && failed && r < db_result_rows(res); r++)
        json_array_append_new(strcmp(db_result_value(res, r, 0), "order.rejected") == 0 ? rejected
                                                                                        : failed,
                              json_pack("{s:s, s:I}", "reason", db_result_value(res, r, 1), "count",
                                        cell_int(res, r, 2)));
    json_object_set_new(report, "rejection_reasons", rejected);
    json_object_set_new(report, "failure_reasons", failed);
}

static void fill_minutes(const struct db_result *res, json_t *report)
{
    json_t *series = json_array();
    for (size_t r = 0; series && r < db_result_rows(res); r++) {
        json_t *revenue = json_loads(db_result_value(res, r, 3), 0, NULL);
        json_array_append_new(
            series, json_pack("{s:s, s:I, s:I, s:o}", "minute", db_result_value(res, r, 0),
                              "orders", cell_int(res, r, 1), "confirmed", cell_int(res, r, 2),
                              "revenue", revenue ? revenue : json_object()));
    }
    json_object_set_new(report, "per_minute", series);
}

/* Each section of the report: its query (parameters as in WINDOW) and
 * how its rows go into the report. */
static const struct {
    const char *sql;
    void (*fill)(const struct db_result *res, json_t *report);
} sections[] = {
    {"SELECT status, count(*) FROM (SELECT CASE (array_agg(type ORDER BY at DESC, id DESC)"
     " FILTER (WHERE type IN " FINAL_TYPES "))[1]"
     " WHEN 'order.confirmed' THEN 'confirmed' WHEN 'order.rejected' THEN 'rejected'"
     " WHEN 'order.payment_failed' THEN 'payment_failed' ELSE 'in_progress' END AS status"
     " FROM events WHERE" WINDOW " GROUP BY order_id) o GROUP BY status",
     fill_orders},
    {"SELECT currency, sum(amount) FROM events WHERE type = 'order.confirmed'"
     " AND currency IS NOT NULL AND" WINDOW " GROUP BY 1 ORDER BY 1",
     fill_revenue},
    {"SELECT type, count(DISTINCT order_id) FROM events WHERE type IN ('order.placed',"
     " 'inventory.reserved', 'payment.succeeded', 'order.confirmed') AND" WINDOW " GROUP BY 1",
     fill_funnel},
    {"SELECT type, reason, n FROM (SELECT type, coalesce(reason, '(no reason)') AS reason,"
     " count(*) AS n, row_number() OVER (PARTITION BY type ORDER BY count(*) DESC,"
     " coalesce(reason, '(no reason)')) AS rank FROM events"
     " WHERE type IN ('order.rejected', 'order.payment_failed') AND" WINDOW
     " GROUP BY 1, 2) r WHERE rank <= " TOP_REASONS " ORDER BY type, n DESC, reason",
     fill_reasons},
    {"SELECT to_char(minute AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:00\"Z\"'), sum(placed),"
     " sum(confirmed), coalesce(json_object_agg(currency, revenue) FILTER (WHERE revenue IS NOT"
     " NULL AND currency IS NOT NULL), '{}')::text FROM (SELECT date_trunc('minute', at) AS"
     " minute, currency, count(*) FILTER (WHERE type = 'order.placed') AS placed,"
     " count(*) FILTER (WHERE type = 'order.confirmed') AS confirmed,"
     " sum(amount) FILTER (WHERE type = 'order.confirmed') AS revenue FROM events"
     " WHERE type IN ('order.placed', 'order.confirmed') AND" WINDOW
     " GROUP BY 1, 2) g GROUP BY minute ORDER BY minute",
     fill_minutes},
};

/* The whole report for the window, or NULL after printing why. */
static json_t *build_report(struct db_conn *db, const char *since, const char *storefront)
{
    char until[32];
    const char *params[] = {since, storefront};
    struct wr_error err = {0};
    format_utc(time(NULL), until, sizeof until);
    json_t *report =
        json_pack("{s:s, s:s, s:s?}", "since", since, "until", until, "storefront", storefront);
    for (size_t i = 0; report && i < sizeof sections / sizeof sections[0]; i++) {
        struct db_result *res = NULL;
        if (db_exec(db, sections[i].sql, 2, params, &res, &err) != WR_OK) {
            fprintf(stderr, "warrenctl: report: %s\n", err.message);
            json_decref(report);
            return NULL;
        }
        sections[i].fill(res, report);
        db_result_free(res);
    }
    return report;
}

/* ---- text --------------------------------------------------------------------------- */

static json_int_t int_at(const json_t *object, const char *key)
{
    return json_integer_value(json_object_get(object, key));
}

/* "259.80 EUR, 12.00 USD" (or "-") into out. */
static void amounts_text(const json_t *by_currency, char *out, size_t size)
{
    const char *currency;
    json_t *amount;
    size_t used = 0;
    out[0] = '\0';
    json_object_foreach((json_t *)by_currency, currency, amount)
    {
        char one[64];
        ctl_format_amount(json_integer_value(amount), currency, one, sizeof one);
        used += (size_t)snprintf(out + used, used < size ? size - used : 0, "%s%s",
                                 used ? ", " : "", one);
    }
    if (!out[0])
        snprintf(out, size, "-");
}

static void print_status_and_revenue(const json_t *report)
{
    static const char *const statuses[][2] = {{"confirmed", "confirmed"},
                                              {"rejected", "rejected"},
                                              {"payment_failed", "payment_failed"},
                                              {"in_progress", "in progress"}};
    const json_t *orders = json_object_get(report, "orders");
    char revenue[1024];
    printf("Orders by status (%lld)\n", (long long)int_at(orders, "total"));
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        printf("  %-16s %8lld\n", statuses[i][1], (long long)int_at(orders, statuses[i][0]));
    amounts_text(json_object_get(report, "revenue"), revenue, sizeof revenue);
    printf("\nRevenue (confirmed orders)\n  %s\n", revenue);
}

static void print_funnel(const json_t *report)
{
    const json_t *funnel = json_object_get(report, "funnel");
    json_int_t placed = int_at(funnel, "placed");
    printf("\nFunnel (share of placed)\n");
    for (size_t i = 0; i < FUNNEL_COUNT; i++) {
        json_int_t n = int_at(funnel, funnel_steps[i].step);
        printf("  %-16s %8lld", funnel_steps[i].step, (long long)n);
        if (placed > 0)
            printf("  %5.1f%%", 100.0 * (double)n / (double)placed);
        putchar('\n');
    }
}

static void print_reasons(const char *title, const json_t *reasons)
{
    size_t i;
    json_t *one;
    printf("\n%s\n", title);
    if (json_array_size(reasons) == 0)
        printf("  -\n");
    json_array_foreach(reasons, i, one) printf("  %8lld  %s\n", (long long)int_at(one, "count"),
                                               json_string_value(json_object_get(one, "reason")));
}

static void print_minutes(const json_t *series)
{
    size_t n = json_array_size(series), first = n > TEXT_MINUTES ? n - TEXT_MINUTES : 0;
    char revenue[1024];
    printf("\nOrders and revenue per minute (UTC)\n");
    if (n == 0)
        printf("  -\n");
    else
        printf("  %-20s %8s %10s  %s\n", "minute", "orders", "confirmed", "revenue");
    if (first > 0)
        printf("  (%zu earlier minutes not shown; --json has them all)\n", first);
    for (size_t i = first; i < n; i++) {
        const json_t *minute = json_array_get(series, i);
        amounts_text(json_object_get(minute, "revenue"), revenue, sizeof revenue);
        printf("  %-20s %8lld %10lld  %s\n", json_string_value(json_object_get(minute, "minute")),
               (long long)int_at(minute, "orders"), (long long)int_at(minute, "confirmed"),
               revenue);
    }
}

static void print_text(const json_t *report)
{
    const char *storefront = json_string_value(json_object_get(report, "storefront"));
    printf("warren report: %s to %s%s%s\n\n", json_string_value(json_object_get(report, "since")),
           json_string_value(json_object_get(report, "until")), storefront ? ", storefront " : "",
           storefront ? storefront : "");
    print_status_and_revenue(report);
    print_funnel(report);
    print_reasons("Top rejection reasons", json_object_get(report, "rejection_reasons"));
    print_reasons("Top payment failure reasons", json_object_get(report, "failure_reasons"));
    print_minutes(json_object_get(report, "per_minute"));
}

/* ---- command line --------------------------------------------------------------------- */

static void print_help(void)
{
    puts("usage: warrenctl [--config FILE] report [--since T] [--storefront S] [--json]\n"
         "\n"
         "Figures from the analytics service's database (database.analytics_url; the\n"
         "WARREN_DATABASE_ANALYTICS_URL variable overrides it), over the events received\n"
         "since T:\n"
         "  - orders by status: confirmed, rejected, payment_failed, and in progress (no\n"
         "    final status yet), counting each order with an event in the window once;\n"
         "  - revenue by currency: the totals of confirmed orders;\n"
         "  - the funnel placed -> reserved -> paid -> confirmed;\n"
         "  - the top rejection and payment failure reasons;\n"
         "  - orders placed and revenue confirmed per minute.\n"
         "\n"
         "  --since T        RFC 3339 (2026-11-25T08:00:00Z) or an age: 90s, 15m, 2h, 7d\n"
         "                   (default: 24h)\n"
         "  --storefront S   only the events of storefront S\n"
         "  --json           the report as one JSON object (amounts in minor units)\n"
         "\n"
         "Exit status: 0 ok, 1 the database could not be read, 2 usage error.");
}

/* Takes the value of an option given as "--opt V" or "--opt=V". */
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

static int parse_args(int argc, char **argv, struct report_args *args, bool *help)
{
    for (int i = 1; i < argc; i++) {
        int since = option_value(argc, argv, &i, "--since", &args->since);
        int store = since ? 0 : option_value(argc, argv, &i, "--storefront", &args->storefront);
        if (since < 0 || store < 0)
            return ctl_usage_error("report", "%s needs a value", argv[i]);
        if (since || store)
            continue;
        if (ctl_is_help(argv[i]))
            *help = true;
        else if (strcmp(argv[i], "--json") == 0)
            args->json = true;
        else
            return ctl_usage_error("report", "unexpected argument '%s'", argv[i]);
    }
    return CTL_EXIT_OK;
}

int ctl_report_main(const struct ctl_context *ctx, int argc, char **argv)
{
    struct report_args args = {0};
    bool help = false;
    char since[32];
    time_t now = time(NULL);
    int code = parse_args(argc, argv, &args, &help);
    if (code != CTL_EXIT_OK || help) {
        if (help)
            print_help();
        return code;
    }
    if (!args.since)
        format_utc(now - DEFAULT_WINDOW_S, since, sizeof since);
    else if (!parse_relative(args.since, now, since, sizeof since) &&
             !parse_rfc3339(args.since, since, sizeof since))
        return ctl_usage_error("report",
                               "--since: expected RFC 3339 (2026-11-25T08:00:00Z) or "
                               "an age like 90s, 15m, 2h, 7d, not '%s'",
                               args.since);
    struct db_conn *db = ctl_database_open(ctx, CFG_DB_ANALYTICS_URL, &wrk_analytics_service);
    json_t *report = db ? build_report(db, since, args.storefront) : NULL;
    if (report && args.json && json_dumpf(report, stdout, JSON_INDENT(2)) == 0)
        putchar('\n');
    else if (report && !args.json)
        print_text(report);
    json_decref(report);
    db_close(db);
    return report ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}
