/* Outage mode of the worker runtime, as a state machine without I/O.
 *
 * When a service's downstream (payment gateway, SMTP server, SMS gateway)
 * fails again and again, retrying every message through the tiers only
 * burns their attempts. After `threshold` downstream failures in a row the
 * worker enters outage: it stops consuming, waits a pause (probe_min_ms,
 * doubling up to probe_max_ms), then takes one message as a probe. A probe
 * that succeeds leaves outage; one that fails on the downstream again is
 * handed back uncharged and the pause doubles. runtime.c does the broker
 * side (docs/EXACTLY-ONCE.md, "Outage mode"); this file only decides. */
#ifndef WARREN_WORKERS_OUTAGE_H
#define WARREN_WORKERS_OUTAGE_H

#include <stdbool.h>
#include <stdint.h>

/* Where the worker stands. Changed only by the functions below. */
enum wrk_outage_state {
    WRK_OUTAGE_NONE,    /* normal: consuming at the queue's prefetch */
    WRK_OUTAGE_PAUSED,  /* in outage: not consuming until the next probe is due */
    WRK_OUTAGE_PROBING, /* in outage: consuming one message at a time as a probe */
};

struct wrk_outage_policy {
    int threshold;        /* downstream failures in a row that start an outage; 0 = never */
    int64_t probe_min_ms; /* the first pause before a probe */
    int64_t probe_max_ms; /* the pause doubles up to this */
};

/* What one handled message said about the downstream. */
enum wrk_outage_event {
    WRK_OUTAGE_SUCCESS,    /* the handler ran and succeeded */
    WRK_OUTAGE_DOWNSTREAM, /* the handler failed on its downstream (WRK_DOWNSTREAM) */
    WRK_OUTAGE_NEUTRAL,    /* says nothing of the downstream (a duplicate, a bad message,
                            * a database failure) */
};

/* What the runtime must do after an event. */
enum wrk_outage_change {
    WRK_OUTAGE_STAY,    /* nothing to do; the message is settled as usual */
    WRK_OUTAGE_ENTER,   /* outage starts: hand the message back uncharged, stop consuming */
    WRK_OUTAGE_BACKOFF, /* a probe failed: hand it back uncharged, stop consuming, pause longer */
    WRK_OUTAGE_LEAVE,   /* a probe succeeded: consume at the full prefetch again */
};

struct wrk_outage {
    struct wrk_outage_policy policy;
    enum wrk_outage_state state;
    int consecutive;     /* downstream failures in a row (a success resets it) */
    char downstream[64]; /* the downstream of the last failure, e.g. "payment gateway" */
    int64_t pause_ms;    /* the pause before the next probe */
    int64_t probe_at_ms; /* PAUSED: when the next probe starts (monotonic ms) */
    int64_t entered_ms;  /* when the current (or last) outage started */
    uint64_t outages;    /* outages entered, in total */
    uint64_t probes;     /* probes started, in total */
};

/* Starts in WRK_OUTAGE_NONE with no failures. Thresholds below 0 count as 0. */
void wrk_outage_init(struct wrk_outage *o, const struct wrk_outage_policy *policy);

/* Records what a handled message said; downstream names the failing
 * downstream for WRK_OUTAGE_DOWNSTREAM (copied; NULL: "downstream").
 * Returns what the runtime must do. Events while PAUSED are ignored. */
enum wrk_outage_change wrk_outage_record(struct wrk_outage *o, enum wrk_outage_event event,
                                         const char *downstream, int64_t now_ms);

/* While PAUSED: true once the probe is due (now_ms >= probe_at_ms), and
 * the state becomes PROBING. False in any other state. */
bool wrk_outage_probe_due(struct wrk_outage *o, int64_t now_ms);

/* Milliseconds until the next probe while PAUSED (0 when due), else -1. */
int64_t wrk_outage_wait_ms(const struct wrk_outage *o, int64_t now_ms);

/* "normal", "paused" or "probing". */
const char *wrk_outage_state_name(enum wrk_outage_state state);

#endif
