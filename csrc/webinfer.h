/* webinfer native runtime: runs a serialized execution plan (src/webinfer/plan.py) in one call.
 *
 * The block between the WI_API markers is the whole public API; the cffi build feeds it verbatim to
 * ffi.cdef, so it holds plain declarations only (no macros, no includes).
 */
#ifndef WEBINFER_H
#define WEBINFER_H

#include <stdint.h>

/* WI_API_BEGIN */
typedef struct wi_context wi_context;

enum {
    WI_OK = 0,
    WI_ERR_PLAN = 1,        /* malformed plan: magic, version, truncated or overlong step */
    WI_ERR_TENSOR = 2,      /* a tensor reference: buffer, offset, dims, dtype, bounds */
    WI_ERR_PARAMS = 3,      /* kernel parameters or shapes inconsistent with the tensors */
    WI_ERR_UNSUPPORTED = 4, /* a valid request this build does not implement (dtype, variant) */
    WI_ERR_RUNTIME = 5,     /* data-dependent failure, e.g. a gather index out of range */
    WI_ERR_NOMEM = 6
};

enum { WI_ISA_GENERIC = 0, WI_ISA_AVX2 = 1, WI_ISA_AVX512 = 2, WI_ISA_WASM_SIMD = 3 /* wasm builds only */ };

/* A context owns the thread pool and the scratch memory; use it from one thread at a time. */
wi_context *wi_create(int32_t n_threads);
void wi_destroy(wi_context *ctx);
int32_t wi_num_threads(wi_context *ctx);

/* Restrict the instruction set the kernels may use (isa < 0 only queries); returns the one in effect. */
int32_t wi_select_isa(wi_context *ctx, int32_t isa);

/* Forget the weight matrices packed for the kernels (they are keyed by address): call it before
 * freeing or changing any WEIGHTS buffer a plan has run with. */
void wi_clear_packed(wi_context *ctx);

/* Validate then run every step of the plan; returns WI_OK or an error code (see wi_last_error). */
int32_t wi_run_plan(wi_context *ctx, const int64_t *plan, int64_t n_words, uint8_t *const *buffers,
                    const int64_t *buffer_sizes, int32_t n_buffers);
const char *wi_last_error(wi_context *ctx);

/* 64-byte aligned memory for weights and arenas; wi_alloc(0) returns a valid unique pointer. */
void *wi_alloc(int64_t bytes);
void wi_free(void *ptr);
/* WI_API_END */

#endif
