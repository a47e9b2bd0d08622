/* threads.h for the single-threaded wasm build: no workers, every task runs on the caller in order.
 * The threaded modules (build_wasm.sh's *_mt) take threads_wasm_mt.c instead.
 */
#include "threads.h"

wi_pool *wi_pool_create(int32_t n_threads, int32_t *n_started)
{
    (void)n_threads;
    *n_started = 1;
    return NULL;
}

void wi_pool_destroy(wi_pool *pool) { (void)pool; }

void wi_parallel_for(wi_context *ctx, int64_t n_tasks, wi_task_fn fn, void *arg)
{
    (void)ctx;
    for (int64_t t = 0; t < n_tasks; t++)
        fn(arg, t, 0);
}
