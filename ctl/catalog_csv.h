/* Reading a catalog CSV file for `warrenctl catalog import`: a header line
 * naming the columns sku,name,price,currency,stock (any order), then one
 * SKU per line, each field checked; every problem is reported as
 * FILE:LINE: message so a whole file can be fixed in one pass. */
#ifndef WARREN_CTL_CATALOG_CSV_H
#define WARREN_CTL_CATALOG_CSV_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* Parses size bytes of text read from the file named path (used only in
 * messages). Fields may be quoted ("a, b", "say ""hi""") and lines may end
 * in CRLF; a UTF-8 byte order mark and blank lines are skipped. Rules: sku
 * 1-64 of [A-Za-z0-9._-], unique in the file; name 1-200 bytes of UTF-8
 * without control characters; price an integer >= 0 in minor units; currency
 * three capital letters; stock an integer 0..2147483647.
 * Returns the number of problems, each written to problems as one line.
 * When it returns 0, *rows is a new JSON array of {sku, name, price,
 * currency, stock} objects in file order (free with json_decref);
 * otherwise *rows is NULL. */
size_t catalog_csv_parse(const char *path, const char *text, size_t size, json_t **rows,
                         FILE *problems);

#endif
