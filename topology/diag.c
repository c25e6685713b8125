/* Diagnostics of a topology file: collected (every problem, not just the
 * first), de-duplicated, sorted by position, and printed as
 * FILE:LINE:COLUMN: message. */
#include "topology/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"

static bool diag_is_repeat(const struct topo_diags *diags, int line, int column,
                           const char *message)
{
    for (size_t i = 0; i < diags->count; i++) {
        const struct topo_diag *d = &diags->items[i];
        if (d->line == line && d->column == column && strcmp(d->message, message) == 0)
            return true;
    }
    return false;
}

static wr_status diag_push(struct topo_diags *diags, int line, int column, char *message)
{
    if (!wr_grow(&diags->items, &diags->capacity, diags->count, sizeof *diags->items, 8))
        return WR_ERR_NOMEM;
    diags->items[diags->count++] = (struct topo_diag){line, column, message};
    return WR_OK;
}

wr_status topo_diag_add(struct topo_diags *diags, int line, int column, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);

    if (diags->count > TOPO_MAX_DIAGS || diag_is_repeat(diags, line, column, text))
        return WR_OK;
    if (diags->count == TOPO_MAX_DIAGS)
        snprintf(text, sizeof text, "too many errors (more than %d); stopping here",
                 TOPO_MAX_DIAGS);
    char *message = strdup(text);
    if (!message)
        return WR_ERR_NOMEM;
    wr_status status = diag_push(diags, line, column, message);
    if (status != WR_OK)
        free(message);
    return status;
}

static int diag_compare(const void *a, const void *b)
{
    const struct topo_diag *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return 0;
}

void topo_diags_sort(struct topo_diags *diags)
{
    /* insertion sort: stable (equal positions keep their order) and the
     * list is short and nearly sorted already */
    for (size_t i = 1; i < diags->count; i++) {
        struct topo_diag d = diags->items[i];
        size_t j = i;
        while (j > 0 && diag_compare(&diags->items[j - 1], &d) > 0) {
            diags->items[j] = diags->items[j - 1];
            j--;
        }
        diags->items[j] = d;
    }
}

wr_status topo_diags_set_file(struct topo_diags *diags, const char *name)
{
    if (diags->file)
        return WR_OK;
    diags->file = strdup(name);
    return diags->file ? WR_OK : WR_ERR_NOMEM;
}

void topo_diags_free(struct topo_diags *diags)
{
    for (size_t i = 0; i < diags->count; i++)
        free(diags->items[i].message);
    free(diags->items);
    free(diags->file);
    memset(diags, 0, sizeof *diags);
}

void topo_diags_print(const struct topo_diags *diags, FILE *out)
{
    const char *file = diags->file ? diags->file : "(topology)";
    for (size_t i = 0; i < diags->count; i++) {
        const struct topo_diag *d = &diags->items[i];
        if (d->line > 0)
            fprintf(out, "%s:%d:%d: %s\n", file, d->line, d->column, d->message);
        else
            fprintf(out, "%s: %s\n", file, d->message);
    }
}

char *topo_format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int length = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *text = length >= 0 ? malloc((size_t)length + 1) : NULL;
    if (text) {
        va_start(ap, fmt);
        vsnprintf(text, (size_t)length + 1, fmt, ap);
        va_end(ap);
    }
    return text;
}

void topo_quote(const char *text, char *out, size_t out_size)
{
    /* Invariant at the top of the loop: o + 9 <= out_size, room for the
     * widest escape (4), "..." (3), the closing quote and the NUL. */
    size_t o = 0;
    if (out_size < 16) {
        if (out_size)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        bool boundary = (*p & 0xC0) != 0x80; /* never cut a UTF-8 sequence */
        if (o + 9 > out_size || (o > 60 && boundary)) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (*p == '"' || *p == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(out + o, out_size - o, "\\x%02x", *p);
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}
