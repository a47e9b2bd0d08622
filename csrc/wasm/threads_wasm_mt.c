/* threads.h for the threaded wasm build (-matomics, shared memory): the embedder (js_runtime.py) starts
 * n_threads - 1 workers that instantiate the same module over the same memory, each with its own
 * __stack_pointer, and call wi_worker_main once; it never returns while the pool lives.
 *
 * As in threads_pthread.c, tasks are claimed from one atomic word (job generation << 32 | next task)
 * and the caller takes tasks too, so a job never waits for a worker to start or wake: a worker that has
 * not started yet (a browser starts it only once the page yields to its event loop) just misses jobs.
 * Idle workers sleep in memory.atomic.wait32 on the generation word, and a new job notifies them. The
 * caller waits for tasks still running elsewhere by spinning: a browser's main thread may not block,
 * and the wait is at most one task long. wasm atomics are sequentially consistent, so a worker that
 * reads any field of a newer job than the generation it saw also sees that job's claim word, and its
 * claim fails: it never runs a task with a mix of two jobs' fields.
 */
#include "threads.h"

#define SEQ __ATOMIC_SEQ_CST

struct wi_pool {
    int32_t generation; /* futex word: bumped for every job and at shutdown */
    int32_t shutdown;
    int32_t n_workers;
    int32_t n_running; /* workers that have entered wi_worker_main */
    wi_task_fn fn; /* the current job, written by the caller before it bumps generation */
    void *arg;
    int64_t n_tasks;
    uint64_t claim;   /* generation << 32 | next unclaimed task */
    int64_t finished; /* tasks of the current job completed */
};

static void run_tasks(wi_pool *p, uint32_t gen, wi_task_fn fn, void *arg, int64_t n_tasks, int32_t thread)
{
    for (;;) {
        uint64_t v = __atomic_load_n(&p->claim, SEQ);
        do {
            if ((uint32_t)(v >> 32) != gen || (int64_t)(v & 0xffffffffu) >= n_tasks)
                return;
        } while (!__atomic_compare_exchange_n(&p->claim, &v, v + 1, 0, SEQ, SEQ));
        fn(arg, (int64_t)(v & 0xffffffffu), thread);
        __atomic_add_fetch(&p->finished, 1, SEQ);
    }
}

/* A worker's loop: thread is its index, 1 .. n_threads - 1, each used by one worker. */
__attribute__((export_name("wi_worker_main"))) void wi_worker_main(wi_context *ctx, int32_t thread)
{
    wi_pool *p = ctx->pool;
    if (!p || thread < 1 || thread > p->n_workers)
        return;
    __atomic_add_fetch(&p->n_running, 1, SEQ);
    int32_t seen = 0; /* a late starter joins the job in flight, if any */
    for (;;) {
        int32_t gen = __atomic_load_n(&p->generation, SEQ);
        if (gen == seen) {
            __builtin_wasm_memory_atomic_wait32(&p->generation, seen, -1); /* returns once it changed */
            continue;
        }
        if (__atomic_load_n(&p->shutdown, SEQ))
            return;
        seen = gen;
        wi_task_fn fn = __atomic_load_n(&p->fn, SEQ);
        void *arg = __atomic_load_n(&p->arg, SEQ);
        int64_t n_tasks = __atomic_load_n(&p->n_tasks, SEQ);
        run_tasks(p, (uint32_t)gen, fn, arg, n_tasks, thread);
    }
}

/* How many workers have started (a browser starts them once the page yields to its event loop). */
__attribute__((export_name("wi_workers_running"))) int32_t wi_workers_running(wi_context *ctx)
{
    return ctx->pool ? __atomic_load_n(&ctx->pool->n_running, SEQ) : 0;
}

wi_pool *wi_pool_create(int32_t n_threads, int32_t *n_started)
{
    *n_started = 1;
    if (n_threads <= 1)
        return NULL;
    wi_pool *p = wi_alloc(sizeof *p);
    if (!p)
        return NULL;
    *p = (wi_pool){.n_workers = n_threads - 1};
    *n_started = n_threads; /* counted as started: jobs never wait for them */
    return p;
}

/* Stops the workers. The pool is not freed: a worker the embedder started late may still read it
 * (the embedder ends the workers with the memory when the session goes). */
void wi_pool_destroy(wi_pool *p)
{
    if (!p)
        return;
    __atomic_store_n(&p->shutdown, 1, SEQ);
    __atomic_add_fetch(&p->generation, 1, SEQ);
    __builtin_wasm_memory_atomic_notify(&p->generation, (uint32_t)-1);
}

void wi_parallel_for(wi_context *ctx, int64_t n_tasks, wi_task_fn fn, void *arg)
{
    wi_pool *p = ctx->pool;
    if (!p || n_tasks <= 1 || n_tasks > 0xffffffffLL) {
        for (int64_t t = 0; t < n_tasks; t++)
            fn(arg, t, 0);
        return;
    }
    int32_t gen = __atomic_load_n(&p->generation, SEQ) + 1; /* only the caller writes it */
    __atomic_store_n(&p->fn, fn, SEQ);
    __atomic_store_n(&p->arg, arg, SEQ);
    __atomic_store_n(&p->n_tasks, n_tasks, SEQ);
    __atomic_store_n(&p->finished, 0, SEQ);
    __atomic_store_n(&p->claim, (uint64_t)(uint32_t)gen << 32, SEQ);
    __atomic_store_n(&p->generation, gen, SEQ);
    int64_t wake = n_tasks - 1 < p->n_workers ? n_tasks - 1 : p->n_workers;
    __builtin_wasm_memory_atomic_notify(&p->generation, (uint32_t)wake);
    run_tasks(p, (uint32_t)gen, fn, arg, n_tasks, 0);
    while (__atomic_load_n(&p->finished, SEQ) < n_tasks) {
    }
}
