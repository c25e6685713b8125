/* Fixture loading and exact diagnostic assertions for topology tests. */
#include "tests/unit/topology/helpers.h"

#include <check.h>
#include <stdio.h>

#include "tests/support/support.h"

wr_status th_load(const char *name, struct topo_model **model, struct topo_diags *diags)
{
    char relative[256], path[1024];
    snprintf(relative, sizeof relative, "tests/unit/topology/fixtures/%s", name);
    return topo_load_file(ts_source_path(relative, path, sizeof path), model, diags);
}

void th_expect_diags(const char *name, const char *const *expected)
{
    struct topo_diags diags = {0};
    struct topo_model *model = NULL;
    char line[1200];
    size_t count = 0;
    ck_assert_int_eq(th_load(name, &model, &diags), WR_ERR_TOPOLOGY);
    ck_assert_ptr_null(model);
    while (expected[count])
        count++;
    for (size_t i = 0; i < diags.count; i++) {
        snprintf(line, sizeof line, "%d:%d: %s", diags.items[i].line, diags.items[i].column,
                 diags.items[i].message);
        ck_assert_msg(i < count, "%s: unexpected extra diagnostic %s", name, line);
        ck_assert_str_eq(line, expected[i]);
    }
    ck_assert_msg(diags.count == count, "%s: %zu diagnostics, expected %zu", name, diags.count,
                  count);
    topo_diags_free(&diags);
}

struct topo_model *th_load_good(const char *name)
{
    struct topo_diags diags = {0};
    struct topo_model *model = NULL;
    wr_status status = th_load(name, &model, &diags);
    if (status != WR_OK)
        topo_diags_print(&diags, stderr);
    ck_assert_int_eq(status, WR_OK);
    ck_assert_uint_eq(diags.count, 0);
    ck_assert_ptr_nonnull(model);
    topo_diags_free(&diags);
    return model;
}
