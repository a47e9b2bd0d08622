/* The one threading primitive kernels use; threads_pthread.c implements it (a wasm build swaps the file). */
#ifndef WI_THREADS_H
#define WI_THREADS_H

#include "internal.h"

/* Runs task in [0, n_tasks) on some thread; thread is 0 (the caller) .. n_threads - 1, unique at any time. */
typedef void (*wi_task_fn)(void *arg, int64_t task, int32_t thread);

/* A pool of n_threads - 1 workers (the caller is thread 0); *n_started says how many threads exist. */
wi_pool *wi_pool_create(int32_t n_threads, int32_t *n_started);
void wi_pool_destroy(wi_pool *pool);

/* Runs all tasks and returns when they are done; must not be called from inside a task. */
void wi_parallel_for(wi_context *ctx, int64_t n_tasks, wi_task_fn fn, void *arg);

#endif
