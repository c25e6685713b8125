/* Running warrenctl as a process (see ctl.h): stdout and stderr to
 * temporary files, read back after it exited. */
#include "tests/support/ctl.h"

#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/support.h"

/* The file's text (then removes it); "" when it cannot be read. */
static char *take_file(const char *path)
{
    char *text = ts_read_file(path);
    unlink(path);
    return text ? text : calloc(1, 1);
}

/* Child side: stdout to out_fd, stderr to err_fd, then exec. */
static void exec_ctl(char *const argv[], int out_fd, int err_fd)
{
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    execv(argv[0], argv);
    _exit(127);
}

static void run_ctl(struct ts_ctl_run *run, const char *const *args, int merged)
{
    char out_path[256], err_path[256];
    ts_scratch_path("warrenctl-out-XXXXXX", out_path, sizeof out_path);
    ts_scratch_path("warrenctl-err-XXXXXX", err_path, sizeof err_path);
    char *argv[32] = {WARRENCTL_BIN};
    size_t n = 1;
    for (; args[n - 1] && n < 31; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    int out = mkstemp(out_path), err = mkstemp(err_path);
    ck_assert_msg(out >= 0 && err >= 0, "cannot create temporary files");
    pid_t pid = fork();
    if (pid == 0)
        exec_ctl(argv, out, merged ? out : err);
    close(out);
    close(err);
    int wstatus = 0;
    ck_assert_int_eq(waitpid(pid, &wstatus, 0), pid);
    run->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    run->out = take_file(out_path);
    run->err = take_file(err_path);
}

void ts_ctl(struct ts_ctl_run *run, const char *const *args)
{
    run_ctl(run, args, 0);
}

void ts_ctl_merged(struct ts_ctl_run *run, const char *const *args)
{
    run_ctl(run, args, 1);
}

json_t *ts_ctl_json(const char *const *args)
{
    struct ts_ctl_run run;
    ts_ctl(&run, args);
    ck_assert_msg(run.status == 0, "warrenctl %s %s: exit %d\n%s%s", args[0], args[1] ? args[1] : "",
                  run.status, run.out, run.err);
    json_t *out = json_loads(run.out, 0, NULL);
    ck_assert_msg(out != NULL, "not JSON: %s", run.out);
    ts_ctl_free(&run);
    return out;
}

pid_t ts_ctl_start(const char *const *args)
{
    char log[256], *argv[32] = {WARRENCTL_BIN};
    size_t n = 1;
    for (; args[n - 1] && n < 31; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    return ts_spawn(argv, ts_scratch_log("warrenctl", log, sizeof log));
}

void ts_ctl_free(struct ts_ctl_run *run)
{
    free(run->out);
    free(run->err);
    run->out = run->err = NULL;
}

/* Runs args; returns the exit status, and what warrenctl said in output. */
static int run_quietly(const char *const *args, char *output, size_t size)
{
    struct ts_ctl_run run;
    ts_ctl(&run, args);
    snprintf(output, size, "%s%s", run.out, run.err);
    int status = run.status;
    ts_ctl_free(&run);
    return status;
}

void ts_ctl_apply_topology(const char *file)
{
    const char *const args[] = {"topology", "apply", file, NULL};
    char output[2048];
    int status = run_quietly(args, output, sizeof output);
    ck_assert_msg(status == 0, "topology apply %s: exit %d: %s", file, status, output);
}

void ts_ctl_catalog_import(const char *csv_text)
{
    char path[128], output[2048];
    ts_write_temp(csv_text, ".csv", path, sizeof path);
    const char *const args[] = {"catalog", "import", path, NULL};
    int status = run_quietly(args, output, sizeof output);
    unlink(path);
    ck_assert_msg(status == 0, "catalog import: exit %d: %s", status, output);
}
