/* The sync layer's internals, shared by its files (lock.c, semaphore.c,
 * queue.c, waitq.c): no layer above uses them. */
#ifndef DFR_SYNC_INTERNAL_H
#define DFR_SYNC_INTERNAL_H

#include "core/core_internal.h"

/* ---- waitq.c: FIFO of deferreds waiting on a lock, semaphore or queue ---- */
typedef struct dfr__waitq_node dfr__waitq_node;
typedef struct dfr__waitq {
    dfr__waitq_node *head, *tail;
    size_t len;
} dfr__waitq;
/* A new waiting deferred at the tail; cancelling it removes it.  The
 * caller gets a reference; the queue keeps another.  NULL on OOM. */
dfr_deferred *dfr__waitq_push(dfr__waitq *q);
/* The oldest waiter (the queue's reference moves to the caller), or NULL. */
dfr_deferred *dfr__waitq_pop(dfr__waitq *q);
/* Fail every waiter with DFR_ECANCELLED (used when the owner is freed). */
void dfr__waitq_cancel_all(dfr__waitq *q);

/* ---- semaphore.c: the shared core of DeferredLock and DeferredSemaphore ---- */
typedef struct dfr__sem dfr__sem;
dfr__sem *dfr__sem_new(unsigned tokens);
void dfr__sem_free(dfr__sem *s);
dfr_deferred *dfr__sem_acquire(dfr__sem *s, void *self);
int dfr__sem_release(dfr__sem *s, void *self);
unsigned dfr__sem_tokens(const dfr__sem *s);
size_t dfr__sem_waiting(const dfr__sem *s);
dfr_deferred *dfr__sem_run(dfr__sem *s, void *self, dfr_task_fn fn, void *data,
                           dfr_destroy_fn destroy);

#endif
