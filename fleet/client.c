/* The client side of warren-fleet's control socket (see fleet.h): connect,
 * send one request line, read the answer until the fleet closes, parse it.
 * Also the NAME=N parser both sides use. */
#include "fleet/fleet.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define TIMEOUT_MS 2000
#define MAX_REPLY 65536

wr_status fleet_parse_assignment(const char *text, char name[128], int *workers,
                                 struct wr_error *err)
{
    const char *eq = strrchr(text, '=');
    if (!eq || eq == text)
        return wr_error_set(err, WR_ERR_INVALID, "'%s': expected NAME=COUNT, e.g. payment=4", text);
    size_t len = (size_t)(eq - text);
    if (len >= 128 || strcspn(text, " \t\r\n") < len)
        return wr_error_set(err, WR_ERR_INVALID, "'%s': not a queue or service name", text);
    char *end = NULL;
    errno = 0;
    long n = strtol(eq + 1, &end, 10);
    if (eq[1] < '0' || eq[1] > '9' || *end || errno || n > FLEET_MAX_WORKERS)
        return wr_error_set(err, WR_ERR_INVALID, "'%s': the count must be a number from 0 to %d",
                            text, FLEET_MAX_WORKERS);
    memcpy(name, text, len);
    name[len] = '\0';
    *workers = (int)n;
    return WR_OK;
}

static wr_status connect_fleet(const char *path, int *fd, struct wr_error *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        return wr_error_set(err, WR_ERR_INVALID, "control socket path too long: %s", path);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0)
        return wr_error_set(err, WR_ERR_IO, "socket: %s", strerror(errno));
    struct timeval tv = {.tv_sec = TIMEOUT_MS / 1000, .tv_usec = TIMEOUT_MS % 1000 * 1000};
    setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(*fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(*fd, (struct sockaddr *)&addr, sizeof addr) == 0)
        return WR_OK;
    int e = errno;
    close(*fd);
    *fd = -1;
    if (e == ENOENT || e == ECONNREFUSED)
        return wr_error_set(err, WR_ERR_NOT_FOUND, "no fleet is running (nothing listens on %s)",
                            path);
    return wr_error_set(err, WR_ERR_IO, "cannot connect to the fleet at %s: %s", path, strerror(e));
}

/* Sends request and reads the whole answer into *reply (NUL-terminated;
 * the caller frees it). */
static wr_status exchange(const char *path, const char *request, char **reply, struct wr_error *err)
{
    int fd = -1;
    char *buf = NULL;
    size_t used = 0;
    wr_status status = connect_fleet(path, &fd, err);
    if (status != WR_OK)
        goto out;
    if (send(fd, request, strlen(request), MSG_NOSIGNAL) != (ssize_t)strlen(request)) {
        status = wr_error_set(err, WR_ERR_IO, "sending to the fleet: %s", strerror(errno));
        goto out;
    }
    if (!(buf = malloc(MAX_REPLY))) {
        status = wr_error_set(err, WR_ERR_NOMEM, "out of memory");
        goto out;
    }
    ssize_t n;
    while (used + 1 < MAX_REPLY && (n = recv(fd, buf + used, MAX_REPLY - 1 - used, 0)) > 0)
        used += (size_t)n;
    buf[used] = '\0';
    if (used == 0 || buf[used - 1] != '\n')
        status =
            errno == EAGAIN || errno == EWOULDBLOCK
                ? wr_error_set(err, WR_ERR_TIMEOUT, "the fleet did not answer in %d ms", TIMEOUT_MS)
                : wr_error_set(err, WR_ERR_PROTOCOL, "the fleet's answer was cut short");
out:
    if (fd >= 0)
        close(fd);
    if (status == WR_OK)
        *reply = buf;
    else
        free(buf);
    return status;
}

static wr_status parse_queue_line(const char *line, struct fleet_status *out, struct wr_error *err)
{
    struct fleet_queue *grown = realloc(out->queues, (out->queue_count + 1) * sizeof *grown);
    if (!grown)
        return wr_error_set(err, WR_ERR_NOMEM, "out of memory");
    out->queues = grown;
    struct fleet_queue *q = &grown[out->queue_count];
    if (sscanf(line, "queue %127s %31s %d %d", q->name, q->service, &q->desired, &q->running) != 4)
        return wr_error_set(err, WR_ERR_PROTOCOL, "unexpected answer line: %.100s", line);
    out->queue_count++;
    return WR_OK;
}

static wr_status parse_status(char *reply, struct fleet_status *out, struct wr_error *err)
{
    char *save = NULL;
    bool ok = false;
    for (char *line = strtok_r(reply, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long long pid, uptime, api;
        if (strcmp(line, "ok") == 0)
            ok = true;
        else if (sscanf(line, "fleet %lld %lld %lld", &pid, &uptime, &api) == 3) {
            out->pid = (pid_t)pid;
            out->uptime_s = uptime;
            out->api_pid = (pid_t)api;
        } else {
            wr_status status = parse_queue_line(line, out, err);
            if (status != WR_OK)
                return status;
        }
    }
    return ok ? WR_OK : wr_error_set(err, WR_ERR_PROTOCOL, "the fleet's answer has no end");
}

wr_status fleet_status_fetch(const char *socket_path, struct fleet_status *out,
                             struct wr_error *err)
{
    char *reply = NULL;
    memset(out, 0, sizeof *out);
    wr_status status = exchange(socket_path, "status\n", &reply, err);
    if (status == WR_OK)
        status = parse_status(reply, out, err);
    if (status != WR_OK)
        fleet_status_free(out);
    free(reply);
    return status;
}

void fleet_status_free(struct fleet_status *status)
{
    if (!status)
        return;
    free(status->queues);
    memset(status, 0, sizeof *status);
}

/* The answer without its final "ok\n", or the refusal as an error. */
static wr_status scale_answer(const char *answer, char *reply, size_t reply_size,
                              struct wr_error *err)
{
    size_t len = strlen(answer);
    if (strncmp(answer, "usage ", 6) == 0)
        return wr_error_set(err, WR_ERR_INVALID, "%.*s", (int)(len - 7), answer + 6);
    if (len < 3 || strcmp(answer + len - 3, "ok\n") != 0 || (len > 3 && answer[len - 4] != '\n'))
        return wr_error_set(err, WR_ERR_PROTOCOL, "unexpected answer: %.100s", answer);
    snprintf(reply, reply_size, "%.*s", (int)(len - 3), answer);
    return WR_OK;
}

wr_status fleet_scale(const char *socket_path, const char *const *assignments, size_t count,
                      char *reply, size_t reply_size, struct wr_error *err)
{
    char request[4096] = "scale";
    size_t used = strlen(request);
    for (size_t i = 0; i < count; i++) {
        int n = snprintf(request + used, sizeof request - used, " %s", assignments[i]);
        if (n < 0 || (size_t)n >= sizeof request - used - 1)
            return wr_error_set(err, WR_ERR_INVALID, "too many assignments");
        used += (size_t)n;
    }
    request[used++] = '\n';
    request[used] = '\0';
    char *answer = NULL;
    wr_status status = exchange(socket_path, request, &answer, err);
    if (status == WR_OK)
        status = scale_answer(answer, reply, reply_size, err);
    free(answer);
    return status;
}
