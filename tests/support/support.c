/* Test helpers: source-tree paths, stack addresses, unique names. */
#include "tests/support/support.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *source_dir(void)
{
    const char *dir = getenv("WARREN_SOURCE_DIR");
    return dir && *dir ? dir : ".";
}

const char *ts_source_path(const char *relative, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s/%s", source_dir(), relative);
    return out;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *value = getenv(name);
    return value && *value ? value : fallback;
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

int ts_run(const char *command_line)
{
    char full[4096];
    snprintf(full, sizeof full, "cd '%s' && %s", source_dir(), command_line);
    int rc = system(full);
    if (rc == -1 || !WIFEXITED(rc))
        return -1;
    return WEXITSTATUS(rc);
}

const char *ts_unique_name(const char *prefix, char *out, size_t out_size)
{
    static unsigned counter;
    snprintf(out, out_size, "%s-%ld-%u", prefix, (long)getpid(), ++counter);
    return out;
}

pid_t ts_spawn(char *const argv[], const char *log_path)
{
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
    return pid;
}

static void sleep_ms(int ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&pause, NULL);
}

int ts_stop(pid_t pid, int sig, int timeout_ms)
{
    int wstatus = 0;
    kill(pid, sig);
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        if (waitpid(pid, &wstatus, WNOHANG) == pid)
            return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &wstatus, 0);
    return 128 + SIGKILL;
}

static size_t discard_body(char *data, size_t size, size_t count, void *user)
{
    (void)data;
    (void)user;
    return size * count;
}

int ts_http_wait(const char *url, int timeout_ms)
{
    CURL *curl = curl_easy_init();
    long code = 0;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L); /* tests' self-signed certificates */
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        if (curl_easy_perform(curl) == CURLE_OK &&
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200)
            break;
        sleep_ms(50);
    }
    curl_easy_cleanup(curl);
    return code == 200 ? 0 : -1;
}

int ts_port(int offset)
{
    return 20000 + (int)(getpid() % 20000) + offset;
}
