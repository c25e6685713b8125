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

struct topology_args {
    const char *file;
    bool verbose;
};

/* A file loaded and turned into broker specs. */
struct loaded {
    struct topo_model *model;
    struct topo_derived derived;
};

struct subcommand {
    const char *name;
    const char *usage;
    const char *help;
    int (*run)(const struct ctl_context *ctx, const struct topology_args *args);
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

/* Fetches the live state and builds the plan. Returns an exit status. */
static int make_plan(const struct ctl_broker *broker, const struct loaded *loaded,
                     struct mq_live_state *live, struct topo_plan *plan)
{
    struct wr_error err = {0};
    char where[1024];
    memset(plan, 0, sizeof *plan);
    wr_redact_url(broker->management_url, where, sizeof where);
    if (mq_live_state_fetch(broker->management_url, broker->vhost, live, &err) != WR_OK) {
        fprintf(stderr, "warrenctl: cannot read the broker's state from %s: %s\n", where,
                err.message);
        return CTL_EXIT_FAILED;
    }
    if (topo_plan_build(&loaded->derived, live, plan, &err) != WR_OK) {
        fprintf(stderr, "warrenctl: %s\n", err.message);
        return CTL_EXIT_FAILED;
    }
    return CTL_EXIT_OK;
}

/* ---- validate ---------------------------------------------------------------- */

static int run_validate(const struct ctl_context *ctx, const struct topology_args *args)
{
    struct loaded loaded;
    (void)ctx;
    int code = load(args->file, &loaded);
    if (code == CTL_EXIT_OK) {
        const struct topo_model *m = loaded.model;
        const struct topo_derived *d = &loaded.derived;
        printf("%s: ok: %zu %s, %zu %s; on the broker: %zu queues with retry tiers and "
               "dead-letter queues, %zu %s\n",
               args->file, m->exchange_count, plural(m->exchange_count, "exchange", "exchanges"),
               m->queue_count, plural(m->queue_count, "queue", "queues"), d->queue_count,
               d->binding_count, plural(d->binding_count, "binding", "bindings"));
    }
    unload(&loaded);
    return code;
}

/* ---- plan -------------------------------------------------------------------- */

static int run_plan(const struct ctl_context *ctx, const struct topology_args *args)
{
    struct loaded loaded;
    struct ctl_broker broker;
    struct mq_live_state live = {0};
    struct topo_plan plan = {0};
    char where[1024];
    int code = load(args->file, &loaded);
    if (code != CTL_EXIT_OK)
        goto out;
    if (ctl_broker_settings(ctx, &broker) != WR_OK) {
        code = CTL_EXIT_FAILED;
        goto out;
    }
    if ((code = make_plan(&broker, &loaded, &live, &plan)) != CTL_EXIT_OK)
        goto out;
    wr_redact_url(broker.management_url, where, sizeof where);
    printf("plan: %s against %s (vhost %s)\n", args->file, where, broker.vhost);
    topo_plan_print(&plan, stdout, args->verbose);
    if (plan.counts[TOPO_ACTION_DRIFT] || plan.counts[TOPO_ACTION_BLOCKED]) {
        fprintf(stderr,
                "warrenctl: the broker differs from %s; apply leaves drifted objects "
                "alone (delete or fix them on the broker, or change the file)\n",
                args->file);
        code = CTL_EXIT_FAILED;
    }
out:
    topo_plan_free(&plan);
    mq_live_state_free(&live);
    unload(&loaded);
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

static int run_apply(const struct ctl_context *ctx, const struct topology_args *args)
{
    struct loaded loaded;
    struct ctl_broker broker;
    struct mq_live_state live = {0};
    struct topo_plan plan = {0};
    struct topo_apply_result result = {0};
    struct wr_error err = {0};
    char where[1024];
    int code = load(args->file, &loaded);
    if (code != CTL_EXIT_OK)
        goto out;
    if (ctl_broker_settings(ctx, &broker) != WR_OK) {
        code = CTL_EXIT_FAILED;
        goto out;
    }
    if ((code = make_plan(&broker, &loaded, &live, &plan)) != CTL_EXIT_OK)
        goto out;
    wr_redact_url(broker.url, where, sizeof where);
    printf("apply: %s to %s\n", args->file, where);
    if (args->verbose)
        topo_plan_print(&plan, stdout, true);
    wr_status status = declare_missing(&broker, &loaded, &plan, &result, &err);
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
    topo_plan_free(&plan);
    mq_live_state_free(&live);
    unload(&loaded);
    return code;
}

/* ---- command line ------------------------------------------------------------------ */

static const struct subcommand subcommands[] = {
    {"validate", "warrenctl topology validate FILE",
     "Checks FILE without a broker and prints every problem as FILE:LINE:COLUMN: message\n"
     "on stderr. Exit 0 if the file is valid, 1 if not.\n",
     run_validate},
    {"plan", "warrenctl [--config FILE] topology plan [--verbose] FILE",
     "Compares FILE with the live broker (read through broker.management_url) and prints\n"
     "what apply would create and what has drifted (both sides), changing nothing.\n"
     "--verbose also lists objects that are present and equal.\n"
     "Exit 0 if nothing drifted, 1 if something did or the broker could not be read.\n",
     run_plan},
    {"apply", "warrenctl [--config FILE] topology apply [--verbose] FILE",
     "Declares what is missing on the broker (over broker.url): exchanges, each queue with\n"
     "its retry tier queues and dead-letter queue, and bindings. Objects that exist with\n"
     "other settings are reported with both sides and left alone. Running it again\n"
     "creates nothing. --verbose also prints the plan first.\n"
     "Exit 0 if everything is in place, 1 if something drifted or a declaration failed.\n",
     run_apply},
};

#define SUBCOMMAND_COUNT (sizeof subcommands / sizeof subcommands[0])

static void print_help(void)
{
    puts("usage: warrenctl [--config FILE] topology validate|plan|apply [--verbose] FILE\n"
         "\n"
         "The topology file declares exchanges, queues (with service, workers, prefetch and\n"
         "retry policy) and bindings; see docs/TOPOLOGY.md.\n");
    for (size_t i = 0; i < SUBCOMMAND_COUNT; i++)
        printf("%s\n%s\n", subcommands[i].usage, subcommands[i].help);
    puts("Exit status: 0 ok, 1 problems in FILE, drift or a broker failure, 2 usage error.");
}

static int parse_args(const struct subcommand *sub, int argc, char **argv,
                      struct topology_args *args, bool *help)
{
    char command[64];
    snprintf(command, sizeof command, "topology %s", sub->name);
    for (int i = 0; i < argc; i++) {
        if (ctl_is_help(argv[i]))
            *help = true;
        else if (strcmp(argv[i], "--verbose") == 0 && sub->run != run_validate)
            args->verbose = true;
        else if (argv[i][0] == '-' && argv[i][1])
            return ctl_usage_error(command, "unknown option '%s'", argv[i]);
        else if (args->file)
            return ctl_usage_error(command, "unexpected argument '%s'", argv[i]);
        else
            args->file = argv[i];
    }
    if (!args->file && !*help)
        return ctl_usage_error(command, "missing FILE");
    return CTL_EXIT_OK;
}

int ctl_topology_main(const struct ctl_context *ctx, int argc, char **argv)
{
    struct topology_args args = {0};
    bool help = false;
    if (argc < 2)
        return ctl_usage_error("topology", "missing subcommand (validate, plan or apply)");
    if (ctl_is_help(argv[1])) {
        print_help();
        return CTL_EXIT_OK;
    }
    for (size_t i = 0; i < SUBCOMMAND_COUNT; i++) {
        const struct subcommand *sub = &subcommands[i];
        if (strcmp(argv[1], sub->name) != 0)
            continue;
        int code = parse_args(sub, argc - 2, argv + 2, &args, &help);
        if (code != CTL_EXIT_OK || !help)
            return code != CTL_EXIT_OK ? code : sub->run(ctx, &args);
        printf("usage: %s\n\n%s", sub->usage, sub->help);
        return CTL_EXIT_OK;
    }
    return ctl_usage_error("topology", "unknown subcommand '%s' (validate, plan or apply)",
                           argv[1]);
}
