/* The catalog CSV reader behind `warrenctl catalog import`: splits lines
 * into fields (RFC 4180 quoting, one record per line), maps the header's
 * columns, and checks each field against the rule in its column's table
 * entry, reporting every problem as FILE:LINE: message. */
#include "ctl/catalog_csv.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_FIELDS 32
#define SHOWN 48 /* bytes of a bad value quoted in a message */

enum column { COL_SKU, COL_NAME, COL_PRICE, COL_CURRENCY, COL_STOCK, COL_COUNT };

/* One line split into fields (pointing into buf). */
struct fields {
    char *buf;
    char *value[MAX_FIELDS];
    size_t count; /* may exceed MAX_FIELDS: the rest are not kept */
};

struct parser {
    const char *path;
    FILE *problems;
    size_t problem_count;
    size_t line;
    int field_of[COL_COUNT]; /* which field holds each column */
    json_t *rows;
    json_t *seen; /* sku -> line of its first row */
};

static void problem(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct parser *p, const char *fmt, ...)
{
    va_list ap;
    fprintf(p->problems, "%s:%zu: ", p->path, p->line);
    va_start(ap, fmt);
    vfprintf(p->problems, fmt, ap);
    va_end(ap);
    fputc('\n', p->problems);
    p->problem_count++;
}

/* ---- field rules ---------------------------------------------------------------- */

static bool is_digits(const char *v, size_t max_len)
{
    size_t len = strlen(v);
    return len > 0 && len <= max_len && strspn(v, "0123456789") == len;
}

static const char *check_sku(const char *v)
{
    size_t len = strlen(v);
    bool ok = len >= 1 && len <= 64 &&
              strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len;
    return ok ? NULL : "expected 1-64 characters of A-Z a-z 0-9 . _ -";
}

static const char *check_name(const char *v)
{
    json_t *utf8 = json_string(v); /* NULL unless valid UTF-8 */
    json_decref(utf8);
    if (!*v || strlen(v) > 200)
        return "expected 1-200 bytes of text";
    if (!utf8)
        return "not valid UTF-8";
    for (const unsigned char *c = (const unsigned char *)v; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return "control characters are not allowed";
    return NULL;
}

static const char *check_price(const char *v)
{
    return is_digits(v, 18) ? NULL : "expected a whole number of minor units >= 0 (1299 for 12.99)";
}

static const char *check_currency(const char *v)
{
    return strlen(v) == 3 && strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 3
               ? NULL
               : "expected an ISO 4217 code of three capital letters (EUR)";
}

static const char *check_stock(const char *v)
{
    return is_digits(v, 10) && strtoll(v, NULL, 10) <= INT_MAX
               ? NULL
               : "expected a whole number from 0 to 2147483647";
}

/* Each column: its header name, its rule, and whether it is a number in JSON. */
static const struct {
    const char *name;
    const char *(*check)(const char *value); /* NULL if fine, else why not */
    bool integer;
} columns[COL_COUNT] = {
    [COL_SKU] = {"sku", check_sku, false},
    [COL_NAME] = {"name", check_name, false},
    [COL_PRICE] = {"price", check_price, true},
    [COL_CURRENCY] = {"currency", check_currency, false},
    [COL_STOCK] = {"stock", check_stock, true},
};

/* ---- splitting ------------------------------------------------------------------- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Copies one quoted field starting after its opening quote at line[*i];
 * NULL when fine, else what is wrong. */
static const char *copy_quoted(const char *line, size_t len, size_t *i, char *out, size_t *o)
{
    for (;;) {
        if (*i >= len)
            return "unterminated quoted field (a field cannot span lines)";
        if (line[*i] == '"' && *i + 1 < len && line[*i + 1] == '"') {
            out[(*o)++] = '"';
            *i += 2;
        } else if (line[*i] == '"') {
            (*i)++;
            break;
        } else {
            out[(*o)++] = line[(*i)++];
        }
    }
    while (*i < len && is_blank(line[*i]))
        (*i)++;
    return *i < len && line[*i] != ',' ? "unexpected text after a closing quote" : NULL;
}

/* Splits line (len bytes, no line break) into f; NULL or what is wrong. */
static const char *split(const char *line, size_t len, struct fields *f)
{
    size_t i = 0, o = 0;
    const char *why = NULL;
    f->count = 0;
    for (;;) {
        char *start = f->buf + o;
        while (i < len && is_blank(line[i]))
            i++;
        if (i < len && line[i] == '"') {
            i++;
            if ((why = copy_quoted(line, len, &i, f->buf, &o)))
                return why;
        } else {
            while (i < len && line[i] != ',')
                f->buf[o++] = line[i++];
            while (f->buf + o > start && is_blank(f->buf[o - 1]))
                o--;
        }
        f->buf[o++] = '\0';
        if (f->count < MAX_FIELDS)
            f->value[f->count] = start;
        f->count++;
        if (i >= len)
            return NULL;
        i++; /* the comma */
    }
}

/* ---- header and rows -------------------------------------------------------------- */

static int column_named(const char *name)
{
    for (int c = 0; c < COL_COUNT; c++)
        if (strcasecmp(columns[c].name, name) == 0)
            return c;
    return -1;
}

/* Maps the header's fields onto columns; false (with problems) if it
 * does not name each column exactly once. */
static bool read_header(struct parser *p, const struct fields *f)
{
    size_t before = p->problem_count;
    for (int c = 0; c < COL_COUNT; c++)
        p->field_of[c] = -1;
    for (size_t i = 0; i < f->count && i < MAX_FIELDS; i++) {
        int c = column_named(f->value[i]);
        if (c < 0)
            problem(p, "header: unknown column \"%.*s\"", SHOWN, f->value[i]);
        else if (p->field_of[c] >= 0)
            problem(p, "header: column \"%s\" appears twice", columns[c].name);
        else
            p->field_of[c] = (int)i;
    }
    for (int c = 0; c < COL_COUNT; c++)
        if (p->field_of[c] < 0)
            problem(p, "header: missing column \"%s\"", columns[c].name);
    if (p->problem_count > before)
        fprintf(p->problems, "%s:%zu: the header must name the columns %s (in any order)\n",
                p->path, p->line, "sku,name,price,currency,stock");
    return p->problem_count == before;
}

/* A new {sku, name, price, currency, stock} object from a checked row. */
static json_t *row_object(const struct parser *p, const struct fields *f)
{
    json_t *row = json_object();
    for (int c = 0; row && c < COL_COUNT; c++) {
        const char *v = f->value[p->field_of[c]];
        json_object_set_new(row, columns[c].name,
                            columns[c].integer ? json_integer(strtoll(v, NULL, 10))
                                               : json_string(v));
    }
    return row;
}

static void read_row(struct parser *p, const struct fields *f)
{
    size_t before = p->problem_count;
    if (f->count != COL_COUNT) {
        problem(p, "expected %d fields (sku,name,price,currency,stock), found %zu", COL_COUNT,
                f->count);
        return;
    }
    for (int c = 0; c < COL_COUNT; c++) {
        const char *v = f->value[p->field_of[c]], *why = columns[c].check(v);
        if (why)
            problem(p, "%s \"%.*s\": %s", columns[c].name, SHOWN, v, why);
    }
    const char *sku = f->value[p->field_of[COL_SKU]];
    json_t *first = json_object_get(p->seen, sku);
    if (first)
        problem(p, "sku \"%.*s\" is also on line %lld", SHOWN, sku,
                (long long)json_integer_value(first));
    if (p->problem_count > before)
        return;
    json_object_set_new(p->seen, sku, json_integer((json_int_t)p->line));
    json_array_append_new(p->rows, row_object(p, f));
}

/* Handles one line of the file; false once the header is bad. */
static bool read_line(struct parser *p, const char *line, size_t len, struct fields *f, bool header)
{
    const char *why = memchr(line, '\0', len) ? "the line holds a NUL byte" : split(line, len, f);
    if (why) {
        problem(p, "%s", why);
        return !header;
    }
    if (header)
        return read_header(p, f);
    read_row(p, f);
    return true;
}

static bool blank_line(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_blank(line[i]))
            return false;
    return true;
}

size_t catalog_csv_parse(const char *path, const char *text, size_t size, json_t **rows,
                         FILE *problems)
{
    struct parser p = {
        .path = path, .problems = problems, .rows = json_array(), .seen = json_object()};
    struct fields f = {.buf = malloc(size + 1)};
    bool header = true;
    size_t pos = size >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    *rows = NULL;
    if (!p.rows || !p.seen || !f.buf) {
        fprintf(problems, "%s: out of memory\n", path);
        p.problem_count++;
        goto out;
    }
    while (pos < size) {
        const char *line = text + pos, *nl = memchr(line, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - line) : size - pos;
        pos += len + (nl != NULL);
        p.line++;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (blank_line(line, len))
            continue;
        if (!read_line(&p, line, len, &f, header))
            goto out;
        header = false;
    }
    if (header) {
        p.line = 1;
        problem(&p, "no header line: the file must start with sku,name,price,currency,stock");
    }
out:
    if (p.problem_count == 0) {
        *rows = p.rows;
        p.rows = NULL;
    }
    json_decref(p.rows);
    json_decref(p.seen);
    free(f.buf);
    return p.problem_count;
}
