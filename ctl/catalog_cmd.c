/* `warrenctl catalog import|list|show|set-stock`: the inventory service's
 * catalog, read and changed directly in its database (database.inventory_url).
 * import checks every row of the CSV before touching anything and then
 * upserts them all in one statement; stock is what is still available
 * (open reservations have already been taken from it). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/catalog_csv.h"
#include "ctl/ctl.h"
#include "workers/services.h"

#define MAX_FILE (64u << 20)
#define NAME_WIDTH 40

/* Columns of the rows catalog_rows() returns. */
enum { C_SKU, C_NAME, C_PRICE, C_CURRENCY, C_STOCK, C_RESERVED, C_UPDATED, C_COUNT };

static struct db_conn *open_inventory(const struct ctl_context *ctx)
{
    return ctl_database_open(ctx, CFG_DB_INVENTORY_URL, &wrk_inventory_service);
}

/* ---- import ------------------------------------------------------------------------ */

/* Reads all of path into *text (free it); prints why not and returns false. */
static bool read_file(const char *path, char **text, size_t *size)
{
    FILE *in = fopen(path, "rb");
    size_t cap = 0, n = 0;
    *text = NULL;
    if (!in) {
        fprintf(stderr, "warrenctl: cannot open %s: %s\n", path, strerror(errno));
        return false;
    }
    for (;;) {
        if (n == cap) {
            char *bigger = cap < MAX_FILE ? realloc(*text, (cap = cap ? cap * 2 : 65536)) : NULL;
            if (!bigger)
                break;
            *text = bigger;
        }
        size_t got = fread(*text + n, 1, cap - n, in);
        n += got;
        if (got == 0)
            break;
    }
    bool ok = !ferror(in) && feof(in);
    if (!ok)
        fprintf(stderr, "warrenctl: cannot read %s: %s\n", path,
                ferror(in) ? strerror(errno) : "larger than 64 MiB");
    fclose(in);
    *size = n;
    return ok;
}

/* Upserts rows in one statement (SKU order, as reservations lock them);
 * counts the SKUs that were new and those that changed. */
static wr_status upsert(struct db_conn *db, const json_t *rows, long *created, long *updated,
                        struct wr_error *err)
{
    char *text = json_dumps(rows, JSON_COMPACT);
    struct db_result *res = NULL;
    if (!text)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    const char *params[] = {text};
    wr_status status = db_exec(
        db,
        "WITH up AS (INSERT INTO catalog (sku, name, price, currency, stock)"
        " SELECT sku, name, price, currency, stock FROM jsonb_to_recordset($1::jsonb)"
        " AS x(sku text, name text, price bigint, currency text, stock int) ORDER BY sku"
        " ON CONFLICT (sku) DO UPDATE SET name = excluded.name, price = excluded.price,"
        " currency = excluded.currency, stock = excluded.stock, updated_at = now()"
        " WHERE (catalog.name, catalog.price, catalog.currency, catalog.stock)"
        " IS DISTINCT FROM (excluded.name, excluded.price, excluded.currency, excluded.stock)"
        " RETURNING xmax = 0 AS inserted)"
        " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up",
        1, params, &res, err);
    if (status == WR_OK) {
        *created = strtol(db_result_value(res, 0, 0), NULL, 10);
        *updated = strtol(db_result_value(res, 0, 1), NULL, 10);
    }
    db_result_free(res);
    free(text);
    return status;
}

static int run_import(const struct ctl_context *ctx, const struct ctl_args *args)
{
    const char *path = args->arg[0];
    char *text = NULL;
    size_t size = 0, problems;
    json_t *rows = NULL;
    struct db_conn *db = NULL;
    struct wr_error err = {0};
    long created = 0, updated = 0;
    int code = CTL_EXIT_FAILED;
    if (!read_file(path, &text, &size))
        goto out;
    if ((problems = catalog_csv_parse(path, text, size, &rows, stderr)) > 0) {
        fprintf(stderr, "%zu %s in %s; nothing imported\n", problems,
                problems == 1 ? "problem" : "problems", path);
        goto out;
    }
    if (!(db = open_inventory(ctx)))
        goto out;
    if (upsert(db, rows, &created, &updated, &err) != WR_OK) {
        fprintf(stderr, "warrenctl: import failed, nothing imported: %s\n", err.message);
        goto out;
    }
    size_t total = json_array_size(rows);
    printf("imported %s: %zu %s: %ld new, %ld updated, %ld unchanged\n", path, total,
           total == 1 ? "SKU" : "SKUs", created, updated, (long)total - created - updated);
    code = CTL_EXIT_OK;
out:
    db_close(db);
    json_decref(rows);
    free(text);
    return code;
}

/* ---- list and show ------------------------------------------------------------------ */

/* The catalog (or one SKU of it) with the quantities held by open reservations. */
static wr_status catalog_rows(struct db_conn *db, const char *sku, struct db_result **res,
                              struct wr_error *err)
{
    const char *params[] = {sku};
    return db_exec(db,
                   "SELECT c.sku, c.name, c.price, c.currency, c.stock, coalesce(r.reserved, 0),"
                   " to_char(c.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
                   " FROM catalog c LEFT JOIN (SELECT l->>'sku' AS sku,"
                   " sum((l->>'quantity')::bigint) AS reserved FROM reservations,"
                   " jsonb_array_elements(lines) AS l WHERE status = 'reserved'"
                   " AND ($1::text IS NULL OR l->>'sku' = $1) GROUP BY 1) r ON r.sku = c.sku"
                   " WHERE $1::text IS NULL OR c.sku = $1 ORDER BY c.sku",
                   1, params, res, err);
}

static json_t *row_json(const struct db_result *res, size_t r)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:s}", "sku", db_result_value(res, r, C_SKU),
                     "name", db_result_value(res, r, C_NAME), "price",
                     (json_int_t)strtoll(db_result_value(res, r, C_PRICE), NULL, 10), "currency",
                     db_result_value(res, r, C_CURRENCY), "stock",
                     (json_int_t)strtoll(db_result_value(res, r, C_STOCK), NULL, 10), "reserved",
                     (json_int_t)strtoll(db_result_value(res, r, C_RESERVED), NULL, 10),
                     "updated_at", db_result_value(res, r, C_UPDATED));
}

static json_t *rows_json(const struct db_result *res)
{
    json_t *all = json_array();
    for (size_t r = 0; all && r < db_result_rows(res); r++)
        json_array_append_new(all, row_json(res, r));
    return all;
}

static void print_json(json_t *value)
{
    if (value && json_dumpf(value, stdout, JSON_INDENT(2)) == 0)
        putchar('\n');
    json_decref(value);
}

/* Columns a terminal shows for UTF-8 text (one per code point). */
static size_t width(const char *text)
{
    size_t w = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        w += (*c & 0xc0) != 0x80;
    return w;
}

/* Prints text padded (or cut, ending in "...") to exactly cols >= 4 columns. */
static void print_cell(const char *text, size_t cols)
{
    size_t w = width(text), bytes = 0, kept = 0;
    if (w <= cols) {
        printf("%s%*s", text, (int)(cols - w), "");
        return;
    }
    for (; text[bytes]; bytes++) {
        if (((unsigned char)text[bytes] & 0xc0) == 0x80)
            continue;
        if (kept++ == cols - 3)
            break;
    }
    printf("%.*s...", (int)bytes, text);
}

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

static void print_table(const struct db_result *res)
{
    size_t rows = db_result_rows(res), sku_w = 3, name_w = 4, price_w = 5;
    char price[64];
    for (size_t r = 0; r < rows; r++) {
        ctl_format_amount(strtoll(db_result_value(res, r, C_PRICE), NULL, 10),
                          db_result_value(res, r, C_CURRENCY), price, sizeof price);
        size_t name = width(db_result_value(res, r, C_NAME));
        sku_w = max_size(sku_w, strlen(db_result_value(res, r, C_SKU)));
        name_w = max_size(name_w, name > NAME_WIDTH ? NAME_WIDTH : name);
        price_w = max_size(price_w, strlen(price));
    }
    printf("%-*s  %-*s  %*s  %10s  %10s\n", (int)sku_w, "SKU", (int)name_w, "NAME", (int)price_w,
           "PRICE", "STOCK", "RESERVED");
    for (size_t r = 0; r < rows; r++) {
        ctl_format_amount(strtoll(db_result_value(res, r, C_PRICE), NULL, 10),
                          db_result_value(res, r, C_CURRENCY), price, sizeof price);
        printf("%-*s  ", (int)sku_w, db_result_value(res, r, C_SKU));
        print_cell(db_result_value(res, r, C_NAME), name_w);
        printf("  %*s  %10s  %10s\n", (int)price_w, price, db_result_value(res, r, C_STOCK),
               db_result_value(res, r, C_RESERVED));
    }
    printf("%zu %s\n", rows, rows == 1 ? "SKU" : "SKUs");
}

static void print_one(const struct db_result *res)
{
    char price[64];
    ctl_format_amount(strtoll(db_result_value(res, 0, C_PRICE), NULL, 10),
                      db_result_value(res, 0, C_CURRENCY), price, sizeof price);
    printf("sku:        %s\n"
           "name:       %s\n"
           "price:      %s (%s minor units)\n"
           "stock:      %s available\n"
           "reserved:   %s (held by open reservations, already taken from stock)\n"
           "updated_at: %s\n",
           db_result_value(res, 0, C_SKU), db_result_value(res, 0, C_NAME), price,
           db_result_value(res, 0, C_PRICE), db_result_value(res, 0, C_STOCK),
           db_result_value(res, 0, C_RESERVED), db_result_value(res, 0, C_UPDATED));
}

static void print_result(const struct db_result *res, bool one, bool json)
{
    if (json)
        print_json(one ? row_json(res, 0) : rows_json(res));
    else if (one)
        print_one(res);
    else
        print_table(res);
}

/* Prints the catalog, or only sku when not NULL (exit 1 when there is no
 * such SKU), as text or as JSON. Returns an exit status. */
static int print_rows(const struct ctl_context *ctx, const char *sku, bool json)
{
    struct db_result *res = NULL;
    struct wr_error err = {0};
    struct db_conn *db = open_inventory(ctx);
    int code = CTL_EXIT_FAILED;
    if (!db)
        goto out;
    if (catalog_rows(db, sku, &res, &err) != WR_OK) {
        fprintf(stderr, "warrenctl: %s\n", err.message);
        goto out;
    }
    if (sku && db_result_rows(res) == 0) {
        fprintf(stderr, "warrenctl: no SKU '%s' in the catalog\n", sku);
        goto out;
    }
    print_result(res, sku != NULL, json);
    code = CTL_EXIT_OK;
out:
    db_result_free(res);
    db_close(db);
    return code;
}

/* --json (args->flag) prints an array. */
static int run_list(const struct ctl_context *ctx, const struct ctl_args *args)
{
    return print_rows(ctx, NULL, args->flag);
}

/* --json (args->flag) prints an object. */
static int run_show(const struct ctl_context *ctx, const struct ctl_args *args)
{
    return print_rows(ctx, args->arg[0], args->flag);
}

/* ---- set-stock ------------------------------------------------------------------------ */

static bool stock_valid(const char *text)
{
    size_t len = strlen(text);
    return len > 0 && len <= 10 && strspn(text, "0123456789") == len &&
           strtoll(text, NULL, 10) <= 2147483647LL;
}

static int run_set_stock(const struct ctl_context *ctx, const struct ctl_args *args)
{
    const char *params[] = {args->arg[0], args->arg[1]};
    struct db_result *res = NULL;
    struct wr_error err = {0};
    struct db_conn *db = NULL;
    int code = CTL_EXIT_FAILED;
    if (!stock_valid(args->arg[1]))
        return ctl_usage_error("catalog set-stock",
                               "N must be a whole number from 0 to "
                               "2147483647, not '%s'",
                               args->arg[1]);
    if (!(db = open_inventory(ctx)))
        goto out;
    if (db_exec(db,
                "UPDATE catalog c SET stock = $2::int, updated_at = now()"
                " FROM (SELECT sku, stock FROM catalog WHERE sku = $1 FOR UPDATE) old"
                " WHERE c.sku = old.sku RETURNING old.stock, c.stock",
                2, params, &res, &err) != WR_OK) {
        fprintf(stderr, "warrenctl: %s\n", err.message);
        goto out;
    }
    if (db_result_rows(res) == 0) {
        fprintf(stderr, "warrenctl: no SKU '%s' in the catalog\n", args->arg[0]);
        goto out;
    }
    printf("%s: stock %s -> %s\n", args->arg[0], db_result_value(res, 0, 0),
           db_result_value(res, 0, 1));
    code = CTL_EXIT_OK;
out:
    db_result_free(res);
    db_close(db);
    return code;
}

/* ---- command line ---------------------------------------------------------------------- */

static const struct ctl_subcommand subcommands[] = {
    {"import", "warrenctl [--config FILE] catalog import FILE.csv",
     "Reads FILE.csv: a header line naming the columns sku,name,price,currency,stock (any\n"
     "order), then one SKU per line; price is in minor units (1299 for 12.99 EUR), currency\n"
     "three capital letters, stock a whole number >= 0. Every bad row is reported as\n"
     "FILE:LINE: message and then nothing is imported. Otherwise every row is inserted or\n"
     "updated (name, price, currency, stock) in one transaction; SKUs not in the file are\n"
     "left alone. Exit 0 when imported, 1 on bad rows or a database failure.\n",
     1, NULL, run_import},
    {"list", "warrenctl [--config FILE] catalog list [--json]",
     "Prints every SKU with its price, available stock and the quantity held by open\n"
     "reservations, as a table, or with --json as an array (prices in minor units).\n",
     0, "--json", run_list},
    {"show", "warrenctl [--config FILE] catalog show SKU [--json]",
     "Prints one SKU in full. Exit 1 if there is no such SKU.\n", 1, "--json", run_show},
    {"set-stock", "warrenctl [--config FILE] catalog set-stock SKU N",
     "Sets the available stock of SKU to N (open reservations are not counted in it).\n"
     "Exit 1 if there is no such SKU.\n",
     2, NULL, run_set_stock},
};

static const struct ctl_group group = {
    .name = "catalog",
    .intro = "usage: warrenctl [--config FILE] catalog import|list|show|set-stock ...\n"
             "\n"
             "The inventory service's catalog, in its database (database.inventory_url; the\n"
             "WARREN_DATABASE_INVENTORY_URL variable overrides it). Its tables are created when\n"
             "missing, so a catalog can be imported before any worker has run.\n",
    .epilog = "Exit status: 0 ok, 1 failed, not found or bad rows, 2 usage error.",
    .subcommands = subcommands,
    .count = sizeof subcommands / sizeof subcommands[0],
};

int ctl_catalog_main(const struct ctl_context *ctx, int argc, char **argv)
{
    return ctl_group_main(&group, ctx, argc, argv);
}
