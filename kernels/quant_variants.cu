// Bench-only quantizer variants (`isolate bench quant` times them beside the production kernels; their
// history is in docs/kernels.md §3). The same source as kernels/quant.cu with the production entry points left
// out and the variants compiled in, so the production module carries no experiments.
#define ISOLATE_BENCH_VARIANTS
#include "quant.cu"
