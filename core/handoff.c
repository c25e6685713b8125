/* The queue between request threads and one sleeping worker thread
 * (core/handoff.h): a mutex-protected list and an eventfd. */
#include "core/handoff.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"

/* Sets the item's next pointer, bytewise: the field has the item's own
 * pointer type. */
static void set_next(const struct wr_handoff *handoff, void *item, void *next)
{
    memcpy((char *)item + handoff->next_offset, &next, sizeof next);
}

wr_status wr_handoff_init(struct wr_handoff *handoff, size_t next_offset, struct wr_error *err)
{
    *handoff = (struct wr_handoff){.next_offset = next_offset};
    handoff->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (handoff->wake_fd < 0)
        return wr_error_set(err, WR_ERR_NOMEM, "eventfd: %s", strerror(errno));
    pthread_mutex_init(&handoff->lock, NULL);
    return WR_OK;
}

void wr_handoff_destroy(struct wr_handoff *handoff)
{
    pthread_mutex_destroy(&handoff->lock);
    close(handoff->wake_fd);
}

/* Called with the lock held. */
static void wake_locked(struct wr_handoff *handoff)
{
    uint64_t one = 1;
    handoff->sleeping = false; /* one write per sleep is enough */
    (void)!write(handoff->wake_fd, &one, sizeof one);
}

bool wr_handoff_push(struct wr_handoff *handoff, void *item)
{
    set_next(handoff, item, NULL);
    pthread_mutex_lock(&handoff->lock);
    bool open = !handoff->stopping;
    if (open) {
        if (handoff->tail)
            set_next(handoff, handoff->tail, item);
        else
            handoff->head = item;
        handoff->tail = item;
        if (handoff->sleeping) /* a busy worker picks it up on its next round */
            wake_locked(handoff);
    }
    pthread_mutex_unlock(&handoff->lock);
    return open;
}

void *wr_handoff_take(struct wr_handoff *handoff, bool *stopping)
{
    pthread_mutex_lock(&handoff->lock);
    void *items = handoff->head;
    handoff->head = handoff->tail = NULL;
    *stopping = handoff->stopping;
    pthread_mutex_unlock(&handoff->lock);
    return items;
}

short wr_handoff_wait(struct wr_handoff *handoff, int fd, int timeout_ms)
{
    pthread_mutex_lock(&handoff->lock);
    bool work = handoff->head || handoff->stopping;
    handoff->sleeping = !work;
    pthread_mutex_unlock(&handoff->lock);
    if (work)
        return 0;
    struct pollfd fds[2] = {{.fd = handoff->wake_fd, .events = POLLIN},
                            {.fd = fd, .events = POLLIN}};
    if (poll(fds, fd >= 0 ? 2 : 1, timeout_ms) < 0 && errno != EINTR)
        wr_log(WR_LOG_WARN, "handoff", "poll: %s", strerror(errno));
    pthread_mutex_lock(&handoff->lock);
    handoff->sleeping = false;
    pthread_mutex_unlock(&handoff->lock);
    uint64_t count;
    if (fds[0].revents & POLLIN)
        (void)!read(handoff->wake_fd, &count, sizeof count); /* resets the eventfd */
    return fd >= 0 ? fds[1].revents : 0;
}

void wr_handoff_stop(struct wr_handoff *handoff)
{
    pthread_mutex_lock(&handoff->lock);
    handoff->stopping = true;
    wake_locked(handoff);
    pthread_mutex_unlock(&handoff->lock);
}

wr_status wr_handoff_start(struct wr_handoff *handoff, size_t next_offset, void *(*run)(void *),
                           void *arg, struct wr_error *err)
{
    wr_status status = wr_handoff_init(handoff, next_offset, err);
    if (status != WR_OK)
        return status;
    if (pthread_create(&handoff->thread, NULL, run, arg) == 0)
        return WR_OK;
    wr_handoff_destroy(handoff);
    return wr_error_set(err, WR_ERR_NOMEM, "cannot start a thread");
}

void wr_handoff_finish(struct wr_handoff *handoff)
{
    wr_handoff_stop(handoff);
    pthread_join(handoff->thread, NULL);
    wr_handoff_destroy(handoff);
}
