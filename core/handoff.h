/* A queue from many threads to one worker thread that sleeps in poll()
 * while it has nothing to do. Producers append items; the worker takes
 * them all at once, and when none are queued it sleeps on an eventfd,
 * written only while it sleeps and once per sleep, and on one descriptor
 * of its own (its connection's socket), so it uses no CPU between bursts
 * and a burst of items costs it one wake-up. The API's publisher thread
 * and its Idempotency-Key database thread are both built on it. */
#ifndef WARREN_CORE_HANDOFF_H
#define WARREN_CORE_HANDOFF_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"

struct wr_handoff {
    pthread_t thread; /* the worker, when wr_handoff_start made it */
    pthread_mutex_t lock;
    int wake_fd;
    size_t next_offset; /* where an item keeps the pointer to the next one */
    void *head, *tail;
    bool sleeping; /* the worker is in (or entering) poll(): only then is wake_fd written */
    bool stopping;
};

/* Items are structs with a pointer to their own type at next_offset
 * (offsetof(struct job, next)), which the queue uses to link them and
 * the worker to walk what it took. WR_OK, or err set when out of
 * resources. */
wr_status wr_handoff_init(struct wr_handoff *handoff, size_t next_offset,
                          struct wr_error *err) WR_MUST_CHECK;
/* Once the worker has ended. */
void wr_handoff_destroy(struct wr_handoff *handoff);

/* Appends item, waking the worker if it sleeps; false (item not queued)
 * once wr_handoff_stop was called. Any thread. */
bool wr_handoff_push(struct wr_handoff *handoff, void *item) WR_MUST_CHECK;

/* The worker: takes every queued item, oldest first, linked through
 * their next pointers (NULL when none); *stopping says whether
 * wr_handoff_stop was called. */
void *wr_handoff_take(struct wr_handoff *handoff, bool *stopping);

/* The worker: sleeps until an item is pushed, stop is asked, fd (when not
 * negative) is readable, or timeout_ms passes (-1: no timeout). Returns at
 * once when items are queued. The result is fd's revents (0 when fd was
 * not the reason). */
short wr_handoff_wait(struct wr_handoff *handoff, int fd, int timeout_ms);

/* Asks the worker to stop (wr_handoff_take then says so) and wakes it. */
void wr_handoff_stop(struct wr_handoff *handoff);

/* wr_handoff_init, then a thread that runs run(arg) as the worker. On
 * failure nothing is left to free. */
wr_status wr_handoff_start(struct wr_handoff *handoff, size_t next_offset, void *(*run)(void *),
                           void *arg, struct wr_error *err) WR_MUST_CHECK;
/* wr_handoff_stop, waits for the thread of wr_handoff_start to end, then
 * wr_handoff_destroy. */
void wr_handoff_finish(struct wr_handoff *handoff);

#endif
