/* The command line of warrenctl's command groups made of subcommands
 * (topology, catalog): finding the subcommand, its positionals and its one
 * option, the usage errors and the help, all from the group's table (see
 * struct ctl_group in ctl.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"

/* "validate, plan or apply" */
static void list_names(const struct ctl_group *group, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < group->count && used < size; i++) {
        const char *sep = i == 0 ? "" : i + 1 == group->count ? " or " : ", ";
        int n = snprintf(out + used, size - used, "%s%s", sep, group->subcommands[i].name);
        used += n > 0 ? (size_t)n : 0;
    }
}

static void print_group_help(const struct ctl_group *group)
{
    puts(group->intro);
    for (size_t i = 0; i < group->count; i++)
        printf("%s\n%s\n", group->subcommands[i].usage, group->subcommands[i].help);
    puts(group->epilog);
}

static bool is_option(const char *arg)
{
    return arg[0] == '-' && arg[1] && !isdigit((unsigned char)arg[1]);
}

static int parse_args(const struct ctl_group *group, const struct ctl_subcommand *sub, int argc,
                      char **argv, struct ctl_args *args, bool *help)
{
    char command[64];
    snprintf(command, sizeof command, "%s %s", group->name, sub->name);
    for (int i = 0; i < argc; i++) {
        if (ctl_is_help(argv[i]))
            *help = true;
        else if (sub->flag && strcmp(argv[i], sub->flag) == 0)
            args->flag = true;
        else if (is_option(argv[i]))
            return ctl_usage_error(command, "unknown option '%s'", argv[i]);
        else if (args->count == sub->positionals)
            return ctl_usage_error(command, "unexpected argument '%s'", argv[i]);
        else
            args->arg[args->count++] = argv[i];
    }
    if (args->count == sub->positionals || *help)
        return CTL_EXIT_OK;
    if (group->missing)
        return ctl_usage_error(command, "missing %s", group->missing);
    return ctl_usage_error(command, "missing arguments (usage: %s)", sub->usage);
}

/* Parses the subcommand's arguments and runs it, or prints its help. */
static int run_subcommand(const struct ctl_group *group, const struct ctl_subcommand *sub,
                          const struct ctl_context *ctx, int argc, char **argv)
{
    struct ctl_args args = {0};
    bool help = false;
    int code = parse_args(group, sub, argc, argv, &args, &help);
    if (code != CTL_EXIT_OK || !help)
        return code != CTL_EXIT_OK ? code : sub->run(ctx, &args);
    printf("usage: %s\n\n%s", sub->usage, sub->help);
    return CTL_EXIT_OK;
}

int ctl_group_main(const struct ctl_group *group, const struct ctl_context *ctx, int argc,
                   char **argv)
{
    char names[256];
    list_names(group, names, sizeof names);
    if (argc < 2)
        return ctl_usage_error(group->name, "missing subcommand (%s)", names);
    if (ctl_is_help(argv[1])) {
        print_group_help(group);
        return CTL_EXIT_OK;
    }
    for (size_t i = 0; i < group->count; i++) {
        if (strcmp(argv[1], group->subcommands[i].name) == 0)
            return run_subcommand(group, &group->subcommands[i], ctx, argc - 2, argv + 2);
    }
    return ctl_usage_error(group->name, "unknown subcommand '%s' (%s)", argv[1], names);
}
