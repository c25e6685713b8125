/* libFuzzer target for the topology parser and validator: any bytes must
 * give either a model or diagnostics, never a crash, leak or hang.
 * Build: CC=clang cmake -S . -B build-fuzz -DWARREN_FUZZ=ON; run
 * build-fuzz/tests/fuzz/fuzz_topology tests/fuzz/seeds/topology. */
#include <stddef.h>
#include <stdint.h>

#include "topology/topology.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct topo_diags diags = {0};
    struct topo_model *model = NULL;
    struct topo_derived derived;
    if (topo_load_buffer("fuzz.yaml", (const char *)data, size, &model, &diags) == WR_OK &&
        topo_derive(model, &derived, NULL) == WR_OK)
        topo_derived_free(&derived);
    topo_model_free(model);
    topo_diags_free(&diags);
    return 0;
}
