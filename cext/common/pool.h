/* A persistent pthread pool shared by all tokenizers in the process.
 * Threads start lazily, and a forked child starts with an empty pool. */
#ifndef WT_POOL_H
#define WT_POOL_H

#include "common/wt_common.h"

typedef void (*wt_task_fn)(void *ctx, size_t task);

/* Run fn(ctx, i) for i in [0, n_tasks) on up to n_threads threads, the caller
 * included, in steps, so the caller can do other work between its tasks.
 * begin hands the tasks to up to n_threads - 1 pool threads (NULL if out of
 * memory, and then nothing runs); step runs one unclaimed task on the caller
 * (0 when none is left); finish runs the rest, waits for all and frees the job.
 * Several callers may run jobs at once. */
typedef struct wt_job wt_job;
wt_job *wt_pool_begin(wt_task_fn fn, void *ctx, size_t n_tasks, int n_threads);
int wt_pool_step(wt_job *job);
void wt_pool_finish(wt_job *job);

/* CPUs this process may run on (affinity mask where the OS has one). */
int wt_cpu_count(void);

#endif
