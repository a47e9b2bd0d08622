/* Exports with i32-only signatures for the JS side: an i64 parameter would have to be a BigInt there.
 * wasm32 pointers and sizes fit 32 bits, so nothing is lost. The other exports are the webinfer.h
 * functions themselves (listed in scripts/build_wasm.sh). */
#include "internal.h"

__attribute__((export_name("wi_alloc32"))) void *wi_alloc32(uint32_t bytes) { return wi_alloc(bytes); }

__attribute__((export_name("wi_run_plan32"))) int32_t wi_run_plan32(wi_context *ctx, const int64_t *plan,
                                                                   uint32_t n_words, uint8_t *const *buffers,
                                                                   const int64_t *buffer_sizes, int32_t n_buffers)
{
    return wi_run_plan(ctx, plan, n_words, buffers, buffer_sizes, n_buffers);
}

/* The most linear memory the module may grow to, in 64 KiB pages (its --max-memory). */
__attribute__((export_name("wi_max_pages"))) uint32_t wi_max_pages(void) { return WI_WASM_MAX_PAGES; }
