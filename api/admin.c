/* The API's admin routes (admin key only): the queue report of `warrenctl
 * status` (fleet/), and the dead-letter store through dlq/, the same
 * operations as `warrenctl dlq`. Each handler checks the
 * key, reads its query string or JSON body (an unknown or bad field is a
 * 400 naming it), runs one dlq/ call on a connection of the store's pool
 * and answers its JSON. A replay runs to its end on the request's thread:
 * large or ramped replays belong to `warrenctl dlq replay`, which shows
 * progress. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/duration.h"
#include "core/log.h"
#include "dlq/dlq.h"
#include "fleet/fleet.h"

#define ADMIN_PREFIX "/v1/admin/dead-letters/"
#define MAX_RAMP 16

static bool admin_only(struct api_context *ctx, const struct api_request *req,
                       struct api_response *res, char *by, size_t size)
{
    struct api_caller caller;
    if (!api_authenticate(ctx, req, CFG_KEY_ADMIN, res, &caller))
        return false;
    snprintf(by, size, "admin:%s", caller.name);
    return true;
}

static void answer(struct api_response *res, int status, json_t *body)
{
    res->status = status;
    res->body = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!res->body)
        api_response_unavailable(res, "out of memory; retry");
}

/* A failed dlq/ call: 400 for bad input (naming the field before ':'),
 * 404 for a missing record, 503 when the store or broker failed. */
static void answer_error(struct api_response *res, const struct wr_error *err)
{
    char field[32] = "";
    if (err->code == WR_ERR_INVALID) {
        size_t len = strcspn(err->message, ":");
        if (len < sizeof field && err->message[len] == ':')
            snprintf(field, sizeof field, "%.*s", (int)len, err->message);
        api_response_error(res, 400, "invalid", err->message, *field ? field : NULL);
    } else if (err->code == WR_ERR_NOT_FOUND) {
        api_response_error(res, 404, "not_found", err->message, NULL);
    } else {
        wr_log(WR_LOG_WARN, "api", "admin: %s", err->message);
        api_response_unavailable(res, "the dead-letter store is unavailable; retry");
    }
}

/* A store connection, its schema brought up to date by the first one
 * (the store may not exist before any deadletter worker ran), or NULL
 * after answering 503. */
static struct db_conn *open_store(struct api_context *ctx, struct api_response *res)
{
    struct wr_error err;
    struct db_conn *db = db_pool_acquire(ctx->deadletter_db, &err);
    bool ready = db && atomic_load(&ctx->deadletter_migrated);
    if (db && !ready && dlq_migrate(db, &err) == WR_OK)
        atomic_store(&ctx->deadletter_migrated, ready = true);
    if (db && !ready) {
        db_pool_release(ctx->deadletter_db, db);
        db = NULL;
    }
    if (!db)
        answer_error(res, &err);
    return db;
}

static void close_store(struct api_context *ctx, struct db_conn *db)
{
    if (db)
        db_pool_release(ctx->deadletter_db, db);
}

/* The {id} of ADMIN_PREFIX "{id}[/...]" into out; false after answering 404. */
static bool path_id(const struct api_request *req, struct api_response *res, char *out,
                    size_t size)
{
    const char *id = req->path + strlen(ADMIN_PREFIX);
    size_t len = strcspn(id, "/");
    snprintf(out, size, "%.*s", (int)(len < size ? len : size - 1), id);
    if (len >= size || !dlq_is_id(out)) {
        api_response_error(res, 404, "not_found", "no such dead letter", NULL);
        return false;
    }
    return true;
}

/* The query string as a filter (and limit, cursor when paging); false
 * after answering 400 for an unknown or bad argument. */
static bool query_filter(const struct api_request *req, struct api_response *res, bool paging,
                         struct dlq_filter *filter, long *limit, const char **cursor)
{
    struct wr_error err;
    if (req->query_too_long) {
        api_response_error(res, 400, "invalid", "too many query arguments", NULL);
        return false;
    }
    for (size_t i = 0; i < req->query_count; i++) {
        const char *name = req->query[i].name, *value = req->query[i].value;
        char *end = NULL;
        if (paging && strcmp(name, "limit") == 0) {
            *limit = strtol(value, &end, 10);
            if (*value && !*end && *limit >= 1 && *limit <= DLQ_LIST_MAX_LIMIT)
                continue;
            api_response_error(res, 400, "invalid", "limit: 1 to 10000", "limit");
            return false;
        }
        if (paging && strcmp(name, "cursor") == 0) {
            *cursor = value;
            continue;
        }
        wr_status status = dlq_filter_set(filter, name, value, &err);
        if (status != WR_OK) {
            api_response_error(res, 400, status == WR_ERR_NOT_FOUND ? "unknown_field" : "invalid",
                               err.message, name);
            return false;
        }
    }
    return true;
}

void api_admin_queues(struct api_context *ctx, const struct api_request *req,
                      struct api_response *res)
{
    char by[96];
    bool ok = false;
    if (!admin_only(ctx, req, res, by, sizeof by))
        return;
    struct fleet_report_source source = {
        .control_socket = ctx->control_socket,
        .topology_file = ctx->topology_file,
        .management_url = ctx->management_url,
        .vhost = ctx->vhost,
    };
    json_t *report = fleet_queues_report(&source, &ok);
    answer(res, 200, report); /* "broker": {"reachable": false} says when figures are missing */
    json_decref(report);
}

/* The store's read-only routes. */
enum store_read { READ_LIST, READ_GROUPS, READ_STATS, READ_ONE };

/* Checks the key and the request (query filter, or the path's id), runs
 * the one dlq/ query and answers its JSON. */
static void answer_read(struct api_context *ctx, const struct api_request *req,
                        struct api_response *res, enum store_read what)
{
    char by[96], id[24];
    struct dlq_filter filter = {0};
    long limit = DLQ_LIST_DEFAULT_LIMIT;
    const char *cursor = NULL;
    struct wr_error err;
    json_t *out = NULL;
    struct db_conn *db;
    bool filtered = what == READ_LIST || what == READ_GROUPS;
    if (!admin_only(ctx, req, res, by, sizeof by) ||
        (filtered && !query_filter(req, res, what == READ_LIST, &filter, &limit, &cursor)) ||
        (what == READ_ONE && !path_id(req, res, id, sizeof id)) || !(db = open_store(ctx, res)))
        return;
    wr_status status = what == READ_LIST     ? dlq_list(db, &filter, limit, cursor, &out, &err)
                       : what == READ_GROUPS ? dlq_groups(db, &filter, &out, &err)
                       : what == READ_STATS  ? dlq_stats(db, &out, &err)
                                             : dlq_show(db, id, &out, &err);
    if (status == WR_OK && what == READ_GROUPS) {
        json_t *groups = out;
        out = json_pack("{s:o}", "groups", groups);
    }
    if (status == WR_OK)
        answer(res, 200, out);
    else
        answer_error(res, &err);
    close_store(ctx, db);
    json_decref(out);
}

void api_admin_dead_letters(struct api_context *ctx, const struct api_request *req,
                            struct api_response *res)
{
    answer_read(ctx, req, res, READ_LIST);
}

void api_admin_dead_letter_groups(struct api_context *ctx, const struct api_request *req,
                                  struct api_response *res)
{
    answer_read(ctx, req, res, READ_GROUPS);
}

void api_admin_dead_letter_stats(struct api_context *ctx, const struct api_request *req,
                                 struct api_response *res)
{
    answer_read(ctx, req, res, READ_STATS);
}

void api_admin_dead_letter(struct api_context *ctx, const struct api_request *req,
                           struct api_response *res)
{
    answer_read(ctx, req, res, READ_ONE);
}

/* The request's JSON object body (an empty body is {}); NULL after answering 400. */
static json_t *body_object(const struct api_request *req, struct api_response *res)
{
    json_error_t parse;
    if (!req->body || req->body_len == 0)
        return json_object();
    json_t *body = req->body_too_large
                       ? NULL
                       : json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &parse);
    if (!json_is_object(body)) {
        api_response_error(res, 400, "invalid_json",
                           body ? "the body must be a JSON object" : "the body is not valid JSON",
                           NULL);
        json_decref(body);
        return NULL;
    }
    return body;
}

/* Replay settings of a body ("rate", "ramp", "settle", "max_failures",
 * "dry_run"); consumed keys are removed from body. False after a 400. */
static bool replay_options(struct api_context *ctx, json_t *body, struct api_response *res,
                           long *ramp, struct dlq_replay_options *opt)
{
    json_t *rate = json_object_get(body, "rate"), *steps = json_object_get(body, "ramp");
    json_t *settle = json_object_get(body, "settle"), *dry = json_object_get(body, "dry_run");
    json_t *max = json_object_get(body, "max_failures");
    const char *bad = NULL, *why = NULL;
    if (rate && (!json_is_integer(rate) || json_integer_value(rate) < 1))
        bad = "rate", why = "rate: a whole number of messages per second, at least 1";
    else if (steps && (!json_is_array(steps) || json_array_size(steps) == 0 ||
                       json_array_size(steps) > MAX_RAMP))
        bad = "ramp", why = "ramp: an array of 1 to 16 step sizes";
    else if (settle && (!json_is_string(settle) ||
                        wr_duration_parse(json_string_value(settle), &opt->settle_ms) != WR_OK))
        bad = "settle", why = "settle: a duration such as \"30s\"";
    else if (max && (!json_is_integer(max) || json_integer_value(max) < 0))
        bad = "max_failures", why = "max_failures: a whole number, at least 0";
    else if (dry && !json_is_boolean(dry))
        bad = "dry_run", why = "dry_run: true or false";
    for (size_t i = 0; !bad && steps && i < json_array_size(steps); i++) {
        json_t *step = json_array_get(steps, i);
        if (!json_is_integer(step) || json_integer_value(step) < 1)
            bad = "ramp", why = "ramp: steps are whole numbers above 0";
        else
            ramp[opt->ramp_count++] = (long)json_integer_value(step);
    }
    if (bad) {
        api_response_error(res, 400, "invalid", why, bad);
        return false;
    }
    opt->rate = rate ? (double)json_integer_value(rate) : 0;
    opt->ramp = ramp;
    opt->max_failures = max ? (long)json_integer_value(max) : 0;
    opt->dry_run = dry && json_is_true(dry);
    if (!settle)
        opt->settle_ms = opt->ramp_count ? dlq_default_settle_ms(ctx->topology_file) : 0;
    static const char *const consumed[] = {"rate", "ramp", "settle", "max_failures", "dry_run"};
    for (size_t i = 0; i < sizeof consumed / sizeof consumed[0]; i++)
        json_object_del(body, consumed[i]);
    return true;
}

/* Replays selection (after a 404/409 for a single id that cannot go). */
static void run_replay(struct api_context *ctx, struct db_conn *db,
                       const struct dlq_selection *selection, struct dlq_replay_options *opt,
                       struct api_response *res)
{
    struct wr_error err;
    json_t *outcome = NULL;
    opt->broker_url = ctx->broker_url;
    opt->mark_db = opt->dry_run ? NULL : db_pool_acquire(ctx->deadletter_db, &err);
    wr_status status = dlq_replay(db, selection, opt, &outcome, &err);
    if (opt->mark_db)
        db_pool_release(ctx->deadletter_db, opt->mark_db);
    if (status == WR_OK || (outcome && json_integer_value(json_object_get(outcome, "replayed"))))
        answer(res, 200, outcome);
    else
        answer_error(res, &err);
    json_decref(outcome);
}

/* A single id's selection: 404 if it does not exist, 409 if it is not dead. */
static bool single_selection(struct db_conn *db, const char *id, struct dlq_selection *selection,
                             struct api_response *res)
{
    struct wr_error err;
    const char *ids[] = {id};
    if (dlq_select_ids(db, ids, 1, selection, &err) != WR_OK) {
        answer_error(res, &err);
        return false;
    }
    if (selection->count == 1)
        return true;
    const char *reason =
        json_string_value(json_object_get(json_array_get(selection->skipped, 0), "reason"));
    bool missing = reason && strcmp(reason, "no such dead letter") == 0;
    api_response_error(res, missing ? 404 : 409, missing ? "not_found" : "conflict",
                       reason ? reason : "it cannot be taken", NULL);
    return false;
}

void api_admin_replay_one(struct api_context *ctx, const struct api_request *req,
                          struct api_response *res)
{
    char by[96], id[24];
    long ramp[MAX_RAMP];
    struct dlq_selection selection = {0};
    struct dlq_replay_options opt = {.by = by};
    struct db_conn *db = NULL;
    json_t *body = NULL;
    const char *extra;
    json_t *ignored;
    if (!admin_only(ctx, req, res, by, sizeof by) || !path_id(req, res, id, sizeof id) ||
        !(body = body_object(req, res)) || !replay_options(ctx, body, res, ramp, &opt))
        goto out;
    json_object_foreach(body, extra, ignored)
    {
        api_response_error(res, 400, "unknown_field", "not a field of a replay", extra);
        goto out;
    }
    if ((db = open_store(ctx, res)) && single_selection(db, id, &selection, res))
        run_replay(ctx, db, &selection, &opt, res);
out:
    close_store(ctx, db);
    dlq_selection_free(&selection);
    json_decref(body);
}

void api_admin_replay(struct api_context *ctx, const struct api_request *req,
                      struct api_response *res)
{
    static const char *const filters[] = {"queue", "type", "error", "since", "until", "group"};
    char by[96];
    long ramp[MAX_RAMP];
    struct dlq_filter filter = {0};
    struct dlq_selection selection = {0};
    struct dlq_replay_options opt = {.by = by};
    struct wr_error err;
    struct db_conn *db = NULL;
    json_t *body = NULL, *value;
    const char *key;
    bool all = false, filtered = false;
    if (!admin_only(ctx, req, res, by, sizeof by) || !(body = body_object(req, res)) ||
        !replay_options(ctx, body, res, ramp, &opt))
        goto out;
    json_object_foreach(body, key, value)
    {
        bool known = strcmp(key, "all") == 0;
        for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
            known = known || strcmp(key, filters[i]) == 0;
        if (!known) {
            api_response_error(res, 400, "unknown_field", "not a field of a replay", key);
            goto out;
        }
        if (strcmp(key, "all") == 0 ? !json_is_boolean(value) : !json_is_string(value)) {
            api_response_error(res, 400, "invalid",
                               strcmp(key, "all") == 0 ? "all: true or false" : "a string",
                               key);
            goto out;
        }
        if (strcmp(key, "all") == 0) {
            all = json_is_true(value);
        } else if (dlq_filter_set(&filter, key, json_string_value(value), &err) != WR_OK) {
            api_response_error(res, 400, "invalid", err.message, key);
            goto out;
        } else {
            filtered = true;
        }
    }
    if (!all && !filtered) {
        api_response_error(res, 400, "invalid",
                           "say which: filter fields (queue, type, error, since, until, group) "
                           "or \"all\": true",
                           NULL);
        goto out;
    }
    if (!(db = open_store(ctx, res)))
        goto out;
    if (dlq_select(db, &filter, &selection, &err) != WR_OK)
        answer_error(res, &err);
    else
        run_replay(ctx, db, &selection, &opt, res);
out:
    close_store(ctx, db);
    dlq_selection_free(&selection);
    json_decref(body);
}

void api_admin_discard_one(struct api_context *ctx, const struct api_request *req,
                           struct api_response *res)
{
    char by[96], id[24];
    struct dlq_selection selection = {0};
    struct wr_error err;
    struct db_conn *db = NULL;
    json_t *body = NULL;
    const char *key;
    json_t *value;
    long long discarded = 0;
    if (!admin_only(ctx, req, res, by, sizeof by) || !path_id(req, res, id, sizeof id) ||
        !(body = body_object(req, res)))
        goto out;
    json_object_foreach(body, key, value) if (strcmp(key, "reason") != 0)
    {
        api_response_error(res, 400, "unknown_field", "a discard takes only a reason", key);
        goto out;
    }
    const char *reason = json_string_value(json_object_get(body, "reason"));
    if (!reason || !*reason || strlen(reason) > 1000) {
        api_response_error(res, 400, "invalid", "reason: 1 to 1000 characters saying why",
                           "reason");
        goto out;
    }
    if (!(db = open_store(ctx, res)) || !single_selection(db, id, &selection, res))
        goto out;
    if (dlq_discard(db, &selection, by, reason, &discarded, &err) != WR_OK) {
        answer_error(res, &err);
        goto out;
    }
    json_t *record = NULL;
    if (dlq_show(db, id, &record, &err) == WR_OK) {
        json_object_del(record, "body");
        json_object_del(record, "headers");
        answer(res, 200, record);
    } else {
        answer_error(res, &err);
    }
    json_decref(record);
out:
    close_store(ctx, db);
    dlq_selection_free(&selection);
    json_decref(body);
}
