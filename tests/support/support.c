/* The harness's base (see support.h): source-tree paths, the stack's
 * addresses from the environment, unique names, the scratch folder and its
 * temporary files, and child processes with a pid file that lets a test
 * runner kill what a failed test left running. */
#include "tests/support/support.h"

#include <check.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#define PIDFILE_ENV "WARREN_TEST_PIDFILE"
#define SCRATCH_ENV "WARREN_TEST_SCRATCH"

static const char *env_or(const char *name, const char *fallback)
{
    const char *value = getenv(name);
    return value && *value ? value : fallback;
}

/* The scratch folder, made on first use (in the runner, before any test
 * forks, when ts_run_suite runs). */
static const char *scratch_dir(void)
{
    const char *dir = getenv(SCRATCH_ENV);
    if (dir && *dir)
        return dir;
    char made[] = "/tmp/warren-test-XXXXXX";
    if (!mkdtemp(made)) {
        perror("warren tests: cannot create a scratch folder in /tmp");
        abort();
    }
    setenv(SCRATCH_ENV, made, 1);
    return getenv(SCRATCH_ENV);
}

/* Calls visit(path) for every file in the scratch folder dir, in name
 * order (it has no subfolders, and no names of ours start with a dot). */
static void each_scratch_file(const char *dir, void (*visit)(const char *path))
{
    char path[512];
    struct dirent **entries = NULL;
    int count = scandir(dir, &entries, NULL, alphasort);
    for (int i = 0; i < count; i++) {
        if (entries[i]->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", dir, entries[i]->d_name);
            visit(path);
        }
        free(entries[i]);
    }
    free(entries);
}

static void remove_file(const char *path)
{
    unlink(path);
}

/* Prints the last lines of path when it is a program's log, so that a
 * failed test's output (all CI keeps) shows what its programs said last. */
static void print_log_tail(const char *path)
{
    enum { LINES = 10 };
    size_t length = strlen(path);
    char *text = length > 4 && strcmp(path + length - 4, ".log") == 0 ? ts_read_file(path) : NULL;
    if (text && *text) {
        size_t end = strlen(text), at = end - (text[end - 1] == '\n');
        int lines = 0;
        while (at > 0 && !(text[at - 1] == '\n' && ++lines == LINES))
            at--;
        fprintf(stderr, "---- %s%s:\n%s%s", path, at > 0 ? ", its last lines" : "", text + at,
                text[end - 1] == '\n' ? "" : "\n");
    }
    free(text);
}

int ts_run_suite(Suite *suite)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s", scratch_dir());
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    if (failed == 0) {
        each_scratch_file(dir, remove_file);
        rmdir(dir);
    } else {
        fprintf(stderr, "logs of this run's programs: %s\n", dir);
        each_scratch_file(dir, print_log_tail);
    }
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ---- paths and the stack's addresses ------------------------------------------------- */

const char *ts_source_path(const char *relative, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s/%s", env_or("WARREN_SOURCE_DIR", "."), relative);
    return out;
}

const char *ts_run_dir(char *out, size_t out_size)
{
    const char *run = getenv("WARREN_RUN_DIR");
    if (run && *run)
        snprintf(out, out_size, "%s", run);
    else
        ts_source_path("run", out, out_size);
    return out;
}

const char *ts_broker_url(void)
{
    return env_or("WARREN_BROKER_URL", "amqp://warren:warren@127.0.0.1:5682/");
}

const char *ts_management_url(void)
{
    return env_or("WARREN_BROKER_MANAGEMENT_URL", "http://warren:warren@127.0.0.1:15682");
}

const char *ts_db_url(const char *service, char *out, size_t out_size)
{
    snprintf(out, out_size, "postgresql://warren:warren@127.0.0.1:%s/warren_%s",
             env_or("WARREN_PG_PORT", "5442"), service);
    return out;
}

/* The gateway URL variable, else 127.0.0.1 on the stub's port variable. */
static const char *gateway_url(const char *url_env, const char *port_env, const char *port,
                               char *out, size_t out_size)
{
    const char *url = getenv(url_env);
    if (url && *url)
        snprintf(out, out_size, "%s", url);
    else
        snprintf(out, out_size, "http://127.0.0.1:%s", env_or(port_env, port));
    return out;
}

const char *ts_payment_gateway_url(char *out, size_t out_size)
{
    return gateway_url("WARREN_PAYMENT_GATEWAY_URL", "WARREN_PAYMENT_STUB_PORT", "12111", out,
                       out_size);
}

const char *ts_sms_gateway_url(char *out, size_t out_size)
{
    return gateway_url("WARREN_SMS_GATEWAY_URL", "WARREN_SMS_STUB_PORT", "12112", out, out_size);
}

/* ---- names, time, files ---------------------------------------------------------------- */

const char *ts_unique_name(const char *prefix, char *out, size_t out_size)
{
    static unsigned counter;
    snprintf(out, out_size, "%s-%ld-%u", prefix, (long)getpid(), ++counter);
    return out;
}

void ts_uuid(char out[37])
{
    uuid_t id;
    uuid_generate_random(id);
    uuid_unparse_lower(id, out);
}

void ts_sleep_ms(int ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&pause, NULL);
}

const char *ts_scratch_path(const char *name, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s/%s", scratch_dir(), name);
    return out;
}

const char *ts_scratch_log(const char *program, char *out, size_t out_size)
{
    char name[128];
    size_t length = strlen(ts_unique_name(program, name, sizeof name));
    snprintf(name + length, sizeof name - length, ".log");
    return ts_scratch_path(name, out, out_size);
}

void ts_write_temp(const char *text, const char *suffix, char *path, size_t size)
{
    snprintf(path, size, "%s/temp-XXXXXX%s", scratch_dir(), suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    ck_assert_msg(fd >= 0, "cannot create %s", path);
    size_t length = strlen(text);
    ck_assert_int_eq(write(fd, text, length), (ssize_t)length);
    close(fd);
}

char *ts_read_file(const char *path)
{
    FILE *in = fopen(path, "rb");
    if (!in)
        return NULL;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    char chunk[4096];
    for (size_t n; (n = fread(chunk, 1, sizeof chunk, in)) > 0;)
        fwrite(chunk, 1, n, out);
    fclose(out);
    fclose(in);
    return text;
}

int ts_run(const char *command_line)
{
    char full[4096];
    snprintf(full, sizeof full, "cd '%s' && %s", env_or("WARREN_SOURCE_DIR", "."), command_line);
    int rc = system(full);
    if (rc == -1 || !WIFEXITED(rc))
        return -1;
    return WEXITSTATUS(rc);
}

/* ---- processes ------------------------------------------------------------------------- */

static void track(pid_t pid)
{
    const char *path = getenv(PIDFILE_ENV);
    FILE *file = path ? fopen(path, "a") : NULL;
    if (file) {
        fprintf(file, "%d\n", (int)pid);
        fclose(file);
    }
}

pid_t ts_spawn(char *const argv[], const char *log_path)
{
    unlink(log_path); /* whoever reads it sees this child's output, never older */
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid < 0) {
        fprintf(stderr, "fork failed\n");
        abort();
    }
    track(pid);
    return pid;
}

int ts_stop(pid_t pid, int sig, int timeout_ms)
{
    kill(pid, sig);
    return ts_reap(pid, timeout_ms);
}

int ts_reap(pid_t pid, int timeout_ms)
{
    int wstatus = 0;
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        if (waitpid(pid, &wstatus, WNOHANG) == pid)
            return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
        ts_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &wstatus, 0);
    return 128 + SIGKILL;
}

int ts_wait_exit(pid_t pid, int timeout_ms)
{
    int wstatus;
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        if (waitpid(pid, &wstatus, WNOHANG) == pid)
            return wstatus;
        ts_sleep_ms(20);
    }
    return -1;
}

/* True when nothing is bound to 127.0.0.1:port. */
static int port_is_free(int port)
{
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int free_port = fd >= 0 && bind(fd, (struct sockaddr *)&address, sizeof address) == 0;
    if (fd >= 0)
        close(fd);
    return free_port;
}

int ts_free_port(void)
{
    enum { FIRST = 20000, SPAN = 12000 };
    static pid_t owner;
    static int next; /* where this process looks next: it never hands out a port twice */
    if (owner != getpid()) {
        owner = getpid();
        next = FIRST + (int)(((long)owner * 131) % SPAN);
    }
    for (int tried = 0; tried < 500; tried++) {
        int port = next;
        next = next + 1 < FIRST + SPAN ? next + 1 : FIRST;
        if (port_is_free(port))
            return port;
    }
    ck_abort_msg("no free port near %d", next);
    return 0;
}

void ts_track_begin(void)
{
    char path[256];
    setenv(PIDFILE_ENV, ts_scratch_path("pids", path, sizeof path), 1);
}

/* True when pid runs a program of ours (not a reused pid). */
static int is_ours(int pid)
{
    char path[64], cmdline[1024] = "";
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    FILE *file = fopen(path, "rb");
    if (!file)
        return 0;
    size_t n = fread(cmdline, 1, sizeof cmdline - 1, file);
    fclose(file);
    for (size_t i = 0; i < n; i++)
        cmdline[i] = cmdline[i] ? cmdline[i] : ' ';
    cmdline[n] = '\0';
    return strstr(cmdline, "warren-worker") || strstr(cmdline, "warren-api") ||
           strstr(cmdline, "warren-fleet") ||
           strstr(cmdline, "tests/stubs/");
}

void ts_reap_tracked(void)
{
    const char *path = getenv(PIDFILE_ENV);
    FILE *file = path ? fopen(path, "r") : NULL;
    if (!file)
        return;
    int pid;
    while (fscanf(file, "%d", &pid) == 1)
        if (pid > 0 && is_ours(pid))
            kill(pid, SIGKILL);
    fclose(file);
    unlink(path);
}
