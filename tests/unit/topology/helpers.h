/* Helpers shared by the topology unit tests: loading fixture files and
 * asserting their diagnostics exactly ("LINE:COLUMN: message"). */
#ifndef WARREN_TESTS_TOPOLOGY_HELPERS_H
#define WARREN_TESTS_TOPOLOGY_HELPERS_H

#include "topology/topology.h"

/* Loads tests/unit/topology/fixtures/<name> into *model and diags. */
wr_status th_load(const char *name, struct topo_model **model, struct topo_diags *diags);

/* Loads fixture name, asserts it fails with exactly the diagnostics in
 * expected (NULL-terminated, each "LINE:COLUMN: message", in order). */
void th_expect_diags(const char *name, const char *const *expected);

/* Loads fixture name, asserts it is valid, and returns the model (the
 * caller frees it). */
struct topo_model *th_load_good(const char *name);

#endif
