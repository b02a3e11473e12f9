/* Locking discipline: one mutex guards the job list and the worker count.
 * A caller takes it once to publish its job and once to wait for the end;
 * a worker takes it only between jobs. Tasks are claimed with an atomic
 * counter, so no lock is taken per task, let alone per piece of text. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common/pool.h"
#include "common/alloc.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#define WT_POOL_MAX_THREADS 256

struct wt_job {
    wt_task_fn fn;
    void *ctx;
    size_t n_tasks;
    atomic_size_t next_task;
    atomic_size_t done_tasks;
    int helpers_wanted;      /* workers that may join besides the caller */
    int helpers_in;          /* workers inside the job now (under the mutex) */
    int published;           /* in the job list, for workers to join */
    struct wt_job *next;
};

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER;   /* a job was published */
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;   /* a worker left a job */
static wt_job *jobs;
static int n_workers;
static int atfork_registered;
static int stopping;                       /* fork is coming: idle workers exit */
static pthread_t worker_ids[WT_POOL_MAX_THREADS];
static int n_started;                      /* entries of worker_ids to join */

int wt_cpu_count(void)
{
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void run_tasks(wt_job *job)
{
    while (wt_pool_step(job)) {}
}

static wt_job *claimable_job(void)
{
    for (wt_job *j = jobs; j; j = j->next)
        if (j->helpers_in < j->helpers_wanted && atomic_load(&j->next_task) < j->n_tasks) return j;
    return NULL;
}

static void *worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool_mu);
    for (;;) {
        wt_job *job = claimable_job();
        if (!job) {
            if (stopping) {                 /* between jobs only: a caller finishes its own job */
                n_workers--;
                pthread_cond_broadcast(&done_cv);
                pthread_mutex_unlock(&pool_mu);
                return NULL;
            }
            pthread_cond_wait(&work_cv, &pool_mu);
            continue;
        }
        job->helpers_in++;
        pthread_mutex_unlock(&pool_mu);
        run_tasks(job);
        pthread_mutex_lock(&pool_mu);
        job->helpers_in--;
        pthread_cond_broadcast(&done_cv);
    }
    return NULL;
}

/* Fork: the workers are stopped (after the jobs they are in) and joined, so
 * the process forks with no thread of ours alive -- Python >= 3.12 warns when
 * a process with several OS threads forks -- and the parent holds the mutex
 * across fork() so the child copies a consistent state. The child's only thread
 * is the one that locked it, so it unlocks it (re-initialising a locked mutex is
 * undefined); the condition variables are made anew, since waiters of other
 * parent threads may still be counted in them. Both sides start workers again
 * lazily, on their next batch. */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&pool_mu);
    stopping = 1;
    pthread_cond_broadcast(&work_cv);
    while (n_workers > 0) pthread_cond_wait(&done_cv, &pool_mu);
    for (int i = 0; i < n_started; i++) pthread_join(worker_ids[i], NULL);
    n_started = 0;
    stopping = 0;
}
static void atfork_parent(void) { pthread_mutex_unlock(&pool_mu); }
static void atfork_child(void)
{
    pthread_cond_init(&work_cv, NULL);
    pthread_cond_init(&done_cv, NULL);
    jobs = NULL;
    n_workers = 0;
    n_started = 0;
    stopping = 0;
    pthread_mutex_unlock(&pool_mu);
}

/* Called with pool_mu held. */
static int grow_workers(int want)
{
    if (!atfork_registered) {
        if (pthread_atfork(atfork_prepare, atfork_parent, atfork_child) != 0) return WT_ETHREAD;
        atfork_registered = 1;
    }
    if (want > WT_POOL_MAX_THREADS) want = WT_POOL_MAX_THREADS;
    while (n_workers < want && n_started < WT_POOL_MAX_THREADS) {
        int rc = pthread_create(&worker_ids[n_started], NULL, worker_main, NULL);   /* joinable: see fork */
        if (rc != 0) return n_workers > 0 ? 0 : WT_ETHREAD;  /* run with what we have */
        n_started++;
        n_workers++;
    }
    return 0;
}

wt_job *wt_pool_begin(wt_task_fn fn, void *ctx, size_t n_tasks, int n_threads)
{
    wt_job *job = wt_malloc(sizeof *job);
    if (!job) return NULL;
    if (n_threads <= 0) n_threads = wt_cpu_count();
    if ((size_t)n_threads > n_tasks) n_threads = (int)n_tasks;
    *job = (wt_job){.fn = fn, .ctx = ctx, .n_tasks = n_tasks, .helpers_wanted = n_threads - 1};
    atomic_init(&job->next_task, 0);
    atomic_init(&job->done_tasks, 0);
    if (job->helpers_wanted <= 0) return job;

    pthread_mutex_lock(&pool_mu);
    if (grow_workers(job->helpers_wanted)) {
        job->helpers_wanted = 0;              /* no thread: the caller runs every task */
    } else {
        job->next = jobs;
        jobs = job;
        job->published = 1;
        pthread_cond_broadcast(&work_cv);
    }
    pthread_mutex_unlock(&pool_mu);
    return job;
}

int wt_pool_step(wt_job *job)
{
    size_t i = atomic_fetch_add(&job->next_task, 1);
    if (i >= job->n_tasks) return 0;
    job->fn(job->ctx, i);
    atomic_fetch_add(&job->done_tasks, 1);
    return 1;
}

void wt_pool_finish(wt_job *job)
{
    run_tasks(job);
    if (job->published) {
        pthread_mutex_lock(&pool_mu);
        while (atomic_load(&job->done_tasks) < job->n_tasks || job->helpers_in > 0)
            pthread_cond_wait(&done_cv, &pool_mu);
        for (wt_job **p = &jobs; *p; p = &(*p)->next)
            if (*p == job) { *p = job->next; break; }
        pthread_mutex_unlock(&pool_mu);
    }
    wt_free(job);
}
