/* Persistent pthread pool: workers sleep on a condition variable between jobs (no spinning).
 *
 * Tasks are claimed from one atomic word holding (job generation << 32 | next task), so a worker
 * that wakes late can never run a task of a newer job with an older job's function. The caller
 * takes tasks too and waits only for tasks still running elsewhere, not for workers to wake: a job
 * the caller finishes alone costs one futex wake, not a round trip through the scheduler.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdlib.h>

#include "threads.h"

struct wi_pool {
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    pthread_t *workers;
    int32_t n_workers;
    int32_t shutdown;
    int32_t caller_waiting;
    uint32_t generation; /* of the current job; the fields below describe it */
    wi_task_fn fn;
    void *arg;
    int64_t n_tasks;
    uint64_t claim;   /* atomic: generation << 32 | next unclaimed task */
    int64_t finished; /* atomic: tasks of the current job completed */
};

typedef struct {
    wi_pool *pool;
    int32_t id;
} worker_start;

static void run_tasks(wi_pool *p, uint32_t gen, wi_task_fn fn, void *arg, int64_t n_tasks, int32_t thread)
{
    for (;;) {
        uint64_t v = __atomic_load_n(&p->claim, __ATOMIC_ACQUIRE);
        do {
            if ((uint32_t)(v >> 32) != gen || (int64_t)(v & 0xffffffffu) >= n_tasks)
                return;
        } while (!__atomic_compare_exchange_n(&p->claim, &v, v + 1, 1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
        fn(arg, (int64_t)(v & 0xffffffffu), thread);
        if (__atomic_add_fetch(&p->finished, 1, __ATOMIC_ACQ_REL) == n_tasks) {
            pthread_mutex_lock(&p->mu);
            if (p->caller_waiting)
                pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void *worker_main(void *start_arg)
{
    worker_start start = *(worker_start *)start_arg;
    free(start_arg);
    wi_pool *p = start.pool;
    uint32_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->shutdown && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->shutdown)
            break;
        seen = p->generation;
        wi_task_fn fn = p->fn;
        void *arg = p->arg;
        int64_t n_tasks = p->n_tasks;
        pthread_mutex_unlock(&p->mu);
        run_tasks(p, seen, fn, arg, n_tasks, start.id);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

wi_pool *wi_pool_create(int32_t n_threads, int32_t *n_started)
{
    *n_started = 1;
    if (n_threads <= 1)
        return NULL;
    wi_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
    if (!p->workers) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int32_t i = 0; i < n_threads - 1; i++) {
        worker_start *s = malloc(sizeof *s);
        if (!s)
            break;
        s->pool = p;
        s->id = i + 1;
        if (pthread_create(&p->workers[i], NULL, worker_main, s) != 0) {
            free(s);
            break;
        }
        p->n_workers++;
    }
    if (p->n_workers == 0) {
        wi_pool_destroy(p);
        return NULL;
    }
    *n_started = p->n_workers + 1;
    return p;
}

void wi_pool_destroy(wi_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->shutdown = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int32_t i = 0; i < p->n_workers; i++)
        pthread_join(p->workers[i], NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}

void wi_parallel_for(wi_context *ctx, int64_t n_tasks, wi_task_fn fn, void *arg)
{
    wi_pool *p = ctx->pool;
    if (!p || n_tasks <= 1 || n_tasks > 0xffffffffLL) {
        for (int64_t t = 0; t < n_tasks; t++)
            fn(arg, t, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    uint32_t gen = ++p->generation;
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    __atomic_store_n(&p->finished, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&p->claim, (uint64_t)gen << 32, __ATOMIC_RELEASE);
    if (n_tasks - 1 < p->n_workers)
        for (int64_t i = 0; i < n_tasks - 1; i++)
            pthread_cond_signal(&p->wake);
    else
        pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_tasks(p, gen, fn, arg, n_tasks, 0);
    if (__atomic_load_n(&p->finished, __ATOMIC_ACQUIRE) < n_tasks) {
        pthread_mutex_lock(&p->mu);
        p->caller_waiting = 1;
        while (__atomic_load_n(&p->finished, __ATOMIC_ACQUIRE) < n_tasks)
            pthread_cond_wait(&p->done, &p->mu);
        p->caller_waiting = 0;
        pthread_mutex_unlock(&p->mu);
    }
}
