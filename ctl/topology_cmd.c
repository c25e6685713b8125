/* `warrenctl topology validate|plan|apply FILE`: checks a topology file
 * (no broker needed), compares it with the live broker through the
 * management API, or declares what is missing over AMQP. Drifted objects
 * are reported with both sides and never touched. */
#include <stdio.h>
#include <string.h>

#include "broker/broker.h"
#include "core/log.h"
#include "ctl/ctl.h"
#include "topology/topology.h"

/* A file loaded and turned into broker specs. */
struct loaded {
    struct topo_model *model;
    struct topo_derived derived;
};

/* ---- shared steps ------------------------------------------------------------ */

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* Loads and derives args->file; prints every problem. Returns an exit status. */
static int load(const char *file, struct loaded *out)
{
    struct topo_diags diags = {0};
    struct wr_error err = {0};
    memset(out, 0, sizeof *out);
    wr_status status = topo_load_file(file, &out->model, &diags);
    topo_diags_print(&diags, stderr);
    if (status == WR_ERR_TOPOLOGY)
        fprintf(stderr, "%zu %s in %s\n", diags.count, plural(diags.count, "error", "errors"),
                file);
    else if (status == WR_ERR_NOMEM)
        fprintf(stderr, "warrenctl: %s: out of memory\n", file);
    topo_diags_free(&diags);
    if (status == WR_OK && (status = topo_derive(out->model, &out->derived, &err)) != WR_OK)
        fprintf(stderr, "warrenctl: %s\n", err.message);
    return status == WR_OK ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}

static void unload(struct loaded *loaded)
{
    topo_derived_free(&loaded->derived);
    topo_model_free(loaded->model);
}

/* A file loaded and compared with the live broker. */
struct planned {
    struct loaded loaded;
    struct ctl_broker broker;
    struct mq_live_state live;
    struct topo_plan plan;
};

/* Fetches the live state and builds the plan. Returns an exit status. */
static int make_plan(struct planned *p)
{
    struct wr_error err = {0};
    char where[1024];
    wr_redact_url(p->broker.management_url, where, sizeof where);
    if (mq_live_state_fetch(p->broker.management_url, p->broker.vhost, &p->live, &err) != WR_OK) {
        fprintf(stderr, "warrenctl: cannot read the broker's state from %s: %s\n", where,
                err.message);
        return CTL_EXIT_FAILED;
    }
    if (topo_plan_build(&p->loaded.derived, &p->live, &p->plan, &err) != WR_OK) {
        fprintf(stderr, "warrenctl: %s\n", err.message);
        return CTL_EXIT_FAILED;
    }
    return CTL_EXIT_OK;
}

/* Loads file, reads the broker settings and plans (plan and apply). Free
 * *p with planned_free() whatever it returns. Returns an exit status. */
static int plan_file(const struct ctl_context *ctx, const char *file, struct planned *p)
{
    memset(p, 0, sizeof *p);
    int code = load(file, &p->loaded);
    if (code != CTL_EXIT_OK)
        return code;
    if (ctl_broker_settings(ctx, &p->broker) != WR_OK)
        return CTL_EXIT_FAILED;
    return make_plan(p);
}

static void planned_free(struct planned *p)
{
    topo_plan_free(&p->plan);
    mq_live_state_free(&p->live);
    unload(&p->loaded);
}

/* ---- validate ---------------------------------------------------------------- */

static int run_validate(const struct ctl_context *ctx, const struct ctl_args *args)
{
    const char *file = args->arg[0];
    struct loaded loaded;
    (void)ctx;
    int code = load(file, &loaded);
    if (code == CTL_EXIT_OK) {
        const struct topo_model *m = loaded.model;
        const struct topo_derived *d = &loaded.derived;
        printf("%s: ok: %zu %s, %zu %s; on the broker: %zu queues with retry tiers and "
               "dead-letter queues, %zu %s\n",
               file, m->exchange_count, plural(m->exchange_count, "exchange", "exchanges"),
               m->queue_count, plural(m->queue_count, "queue", "queues"), d->queue_count,
               d->binding_count, plural(d->binding_count, "binding", "bindings"));
    }
    unload(&loaded);
    return code;
}

/* ---- plan -------------------------------------------------------------------- */

/* --verbose (args->flag) also lists what is present and equal. */
static int run_plan(const struct ctl_context *ctx, const struct ctl_args *args)
{
    const char *file = args->arg[0];
    struct planned p;
    char where[1024];
    int code = plan_file(ctx, file, &p);
    if (code != CTL_EXIT_OK)
        goto out;
    wr_redact_url(p.broker.management_url, where, sizeof where);
    printf("plan: %s against %s (vhost %s)\n", file, where, p.broker.vhost);
    topo_plan_print(&p.plan, stdout, args->flag);
    if (p.plan.counts[TOPO_ACTION_DRIFT] || p.plan.counts[TOPO_ACTION_BLOCKED]) {
        fprintf(stderr,
                "warrenctl: the broker differs from %s; apply leaves drifted objects "
                "alone (delete or fix them on the broker, or change the file)\n",
                file);
        code = CTL_EXIT_FAILED;
    }
out:
    planned_free(&p);
    return code;
}

/* ---- apply ------------------------------------------------------------------- */

/* Declares the plan's missing objects, connecting only if there are any. */
static wr_status declare_missing(const struct ctl_broker *broker, const struct loaded *loaded,
                                 const struct topo_plan *plan, struct topo_apply_result *result,
                                 struct wr_error *err)
{
    struct mq_conn *conn = NULL;
    if (plan->counts[TOPO_ACTION_CREATE]) {
        struct mq_conn_options options = {.url = broker->url,
                                          .name = "warrenctl topology apply",
                                          .connect_timeout_ms = broker->connect_timeout_ms};
        if (!(conn = mq_conn_open(&options, err)))
            return err->code;
    }
    wr_status status = topo_apply_plan(conn, &loaded->derived, plan, stdout, result, err);
    mq_conn_close(conn);
    return status;
}

/* --verbose (args->flag) also prints the plan first. */
static int run_apply(const struct ctl_context *ctx, const struct ctl_args *args)
{
    const char *file = args->arg[0];
    struct planned p;
    struct topo_apply_result result = {0};
    struct wr_error err = {0};
    char where[1024];
    int code = plan_file(ctx, file, &p);
    if (code != CTL_EXIT_OK)
        goto out;
    wr_redact_url(p.broker.url, where, sizeof where);
    printf("apply: %s to %s\n", file, where);
    if (args->flag)
        topo_plan_print(&p.plan, stdout, true);
    wr_status status = declare_missing(&p.broker, &p.loaded, &p.plan, &result, &err);
    printf("summary: %zu created, %zu already present, %zu drifted (left alone)", result.created,
           result.present, result.drifted);
    if (result.blocked)
        printf(", %zu blocked", result.blocked);
    putchar('\n');
    if (status != WR_OK) {
        fprintf(stderr, "warrenctl: %s\n", err.message);
        code = CTL_EXIT_FAILED;
    }
out:
    planned_free(&p);
    return code;
}

/* ---- command line ------------------------------------------------------------------ */

static const struct ctl_subcommand subcommands[] = {
    {"validate", "warrenctl topology validate FILE",
     "Checks FILE without a broker and prints every problem as FILE:LINE:COLUMN: message\n"
     "on stderr. Exit 0 if the file is valid, 1 if not.\n",
     1, NULL, run_validate},
    {"plan", "warrenctl [--config FILE] topology plan [--verbose] FILE",
     "Compares FILE with the live broker (read through broker.management_url) and prints\n"
     "what apply would create and what has drifted (both sides), changing nothing.\n"
     "--verbose also lists objects that are present and equal.\n"
     "Exit 0 if nothing drifted, 1 if something did or the broker could not be read.\n",
     1, "--verbose", run_plan},
    {"apply", "warrenctl [--config FILE] topology apply [--verbose] FILE",
     "Declares what is missing on the broker (over broker.url): exchanges, each queue with\n"
     "its retry tier queues and dead-letter queue, and bindings. Objects that exist with\n"
     "other settings are reported with both sides and left alone. Running it again\n"
     "creates nothing. --verbose also prints the plan first.\n"
     "Exit 0 if everything is in place, 1 if something drifted or a declaration failed.\n",
     1, "--verbose", run_apply},
};

static const struct ctl_group group = {
    .name = "topology",
    .intro = "usage: warrenctl [--config FILE] topology validate|plan|apply [--verbose] FILE\n"
             "\n"
             "The topology file declares exchanges, queues (with service, workers, prefetch and\n"
             "retry policy) and bindings; see docs/TOPOLOGY.md.\n",
    .epilog = "Exit status: 0 ok, 1 problems in FILE, drift or a broker failure, 2 usage error.",
    .missing = "FILE",
    .subcommands = subcommands,
    .count = sizeof subcommands / sizeof subcommands[0],
};

int ctl_topology_main(const struct ctl_context *ctx, int argc, char **argv)
{
    return ctl_group_main(&group, ctx, argc, argv);
}
