/* The notification service (work in progress: a placeholder so the tree
 * builds while email and SMS are written). */
#include "workers/services.h"

static enum wrk_outcome notification_handle(void *state, const struct wrk_message *msg,
                                            struct wrk_step *step, struct wr_error *why)
{
    (void)state;
    (void)msg;
    (void)step;
    wr_error_set(why, WR_ERR_INVALID, "notification service not implemented yet");
    return WRK_RETRY;
}

const struct wrk_service wrk_notification_service = {
    .name = "notification",
    .handle = notification_handle,
};
