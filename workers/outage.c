/* Outage mode's state machine (see outage.h): counts downstream failures
 * in a row, decides when to enter and leave outage, and spaces the probes
 * with a doubling pause. No I/O: runtime.c acts on what it returns. */
#include "workers/outage.h"

#include <stdio.h>
#include <string.h>

void wrk_outage_init(struct wrk_outage *o, const struct wrk_outage_policy *policy)
{
    memset(o, 0, sizeof *o);
    o->policy = *policy;
    if (o->policy.threshold < 0)
        o->policy.threshold = 0;
    if (o->policy.probe_min_ms < 1)
        o->policy.probe_min_ms = 1;
    if (o->policy.probe_max_ms < o->policy.probe_min_ms)
        o->policy.probe_max_ms = o->policy.probe_min_ms;
    o->state = WRK_OUTAGE_NONE;
}

/* PROBING or NONE -> PAUSED for pause_ms. */
static void pause_for(struct wrk_outage *o, int64_t pause_ms, int64_t now_ms)
{
    o->state = WRK_OUTAGE_PAUSED;
    o->pause_ms = pause_ms;
    o->probe_at_ms = now_ms + pause_ms;
}

static enum wrk_outage_change on_failure(struct wrk_outage *o, const char *downstream,
                                         int64_t now_ms)
{
    o->consecutive++;
    snprintf(o->downstream, sizeof o->downstream, "%s", downstream ? downstream : "downstream");
    if (o->state == WRK_OUTAGE_PROBING) {
        int64_t doubled = o->pause_ms * 2;
        pause_for(o, doubled < o->policy.probe_max_ms ? doubled : o->policy.probe_max_ms, now_ms);
        return WRK_OUTAGE_BACKOFF;
    }
    if (o->policy.threshold == 0 || o->consecutive < o->policy.threshold)
        return WRK_OUTAGE_STAY;
    o->outages++;
    o->entered_ms = now_ms;
    pause_for(o, o->policy.probe_min_ms, now_ms);
    return WRK_OUTAGE_ENTER;
}

enum wrk_outage_change wrk_outage_record(struct wrk_outage *o, enum wrk_outage_event event,
                                         const char *downstream, int64_t now_ms)
{
    if (o->state == WRK_OUTAGE_PAUSED || event == WRK_OUTAGE_NEUTRAL)
        return WRK_OUTAGE_STAY;
    if (event == WRK_OUTAGE_DOWNSTREAM)
        return on_failure(o, downstream, now_ms);
    bool was_probing = o->state == WRK_OUTAGE_PROBING;
    o->consecutive = 0;
    o->state = WRK_OUTAGE_NONE;
    return was_probing ? WRK_OUTAGE_LEAVE : WRK_OUTAGE_STAY;
}

bool wrk_outage_probe_due(struct wrk_outage *o, int64_t now_ms)
{
    if (o->state != WRK_OUTAGE_PAUSED || now_ms < o->probe_at_ms)
        return false;
    o->state = WRK_OUTAGE_PROBING;
    o->probes++;
    return true;
}

int64_t wrk_outage_wait_ms(const struct wrk_outage *o, int64_t now_ms)
{
    if (o->state != WRK_OUTAGE_PAUSED)
        return -1;
    return o->probe_at_ms > now_ms ? o->probe_at_ms - now_ms : 0;
}

const char *wrk_outage_state_name(enum wrk_outage_state state)
{
    switch (state) {
    case WRK_OUTAGE_PAUSED:
        return "paused";
    case WRK_OUTAGE_PROBING:
        return "probing";
    case WRK_OUTAGE_NONE:
        break;
    }
    return "normal";
}
