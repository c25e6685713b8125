/* The server side of warren-fleet's control socket (protocol in fleet.h):
 * a unix socket of mode 0600 (only the fleet's user, or root, may use
 * it; the peer's uid is checked too), non-blocking so the supervisor's
 * loop never waits for a client: each client sends one line and gets its
 * answer in one write, or is dropped after a second of silence. */
#define _GNU_SOURCE /* accept4, struct ucred (SO_PEERCRED) */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "fleet/internal.h"

#define CLIENT_TIMEOUT_MS 1000
#define MAX_WORDS 65
#define REPLY_SIZE sizeof((struct fleet_control *)0)->reply

static void make_parent(const char *path)
{
    char dir[sizeof((struct sockaddr_un *)0)->sun_path];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            wr_log(WR_LOG_WARN, "fleet", "cannot create %s: %s", dir, strerror(errno));
    }
}

/* A socket file left by a fleet that died is removed; one that answers
 * belongs to a running fleet. */
static wr_status clear_path(const struct sockaddr_un *addr, struct wr_error *err)
{
    struct stat st;
    if (lstat(addr->sun_path, &st) != 0)
        return WR_OK;
    if (!S_ISSOCK(st.st_mode))
        return wr_error_set(err, WR_ERR_INVALID, "%s exists and is not a socket", addr->sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool taken = fd >= 0 && connect(fd, (const struct sockaddr *)addr, sizeof *addr) == 0;
    if (fd >= 0)
        close(fd);
    if (taken)
        return wr_error_set(err, WR_ERR_CONFLICT, "another warren-fleet listens on %s",
                            addr->sun_path);
    unlink(addr->sun_path);
    return WR_OK;
}

wr_status fleet__control_open(struct fleet_control *c, const char *path, struct wr_error *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    c->listen_fd = -1;
    for (size_t i = 0; i < FLEET_CONTROL_CLIENTS; i++)
        c->clients[i].fd = -1;
    if (!path[0] || strlen(path) >= sizeof addr.sun_path || strlen(path) >= sizeof c->path)
        return wr_error_set(err, WR_ERR_INVALID,
                            "fleet.control_socket: '%s' is empty or longer "
                            "than %zu bytes",
                            path, sizeof addr.sun_path - 1);
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    make_parent(path);
    wr_status status = clear_path(&addr, err);
    if (status != WR_OK)
        return status;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return wr_error_set(err, WR_ERR_IO, "socket: %s", strerror(errno));
    mode_t old_mask = umask(0177); /* the socket file is created 0600 */
    int bound = bind(fd, (struct sockaddr *)&addr, sizeof addr);
    umask(old_mask);
    if (bound != 0 || listen(fd, 16) != 0) {
        status = wr_error_set(err, WR_ERR_IO, "cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return status;
    }
    c->listen_fd = fd;
    snprintf(c->path, sizeof c->path, "%s", path);
    return WR_OK;
}

size_t fleet__control_pollfds(const struct fleet_control *c, struct pollfd *fds)
{
    size_t n = 0;
    if (c->listen_fd < 0)
        return 0;
    fds[n++] = (struct pollfd){.fd = c->listen_fd, .events = POLLIN};
    for (size_t i = 0; i < FLEET_CONTROL_CLIENTS; i++)
        if (c->clients[i].fd >= 0)
            fds[n++] = (struct pollfd){.fd = c->clients[i].fd, .events = POLLIN};
    return n;
}

static void drop(struct fleet_control_client *client)
{
    close(client->fd);
    client->fd = -1;
}

/* "status": the fleet line, one line per queue, "ok". */
static void answer_status(const struct fleet *f, char *reply, size_t size)
{
    size_t used = 0;
    int n =
        snprintf(reply, size, "fleet %d %lld %d\n", (int)getpid(),
                 (long long)((wr_monotonic_ms() - f->started_ms) / 1000), (int)fleet__api_pid(f));
    used = n > 0 ? (size_t)n : 0;
    for (size_t i = 0; i < f->group_count && used < size; i++) {
        const struct fleet_group *g = &f->groups[i];
        n = snprintf(reply + used, size - used, "queue %s %s %d %d\n", g->queue, g->service,
                     g->desired, fleet__running(f, (int)i));
        used += n > 0 ? (size_t)n : 0;
    }
    if (used + 4 <= size)
        snprintf(reply + used, size - used, "ok\n");
}

static void answer(struct fleet *f, char *request, char *reply, size_t size)
{
    char *words[MAX_WORDS], *save = NULL;
    size_t count = 0;
    for (char *w = strtok_r(request, " \t\r", &save); w && count < MAX_WORDS;
         w = strtok_r(NULL, " \t\r", &save))
        words[count++] = w;
    if (count == 1 && strcmp(words[0], "status") == 0) {
        answer_status(f, reply, size);
    } else if (count >= 1 && strcmp(words[0], "scale") == 0) {
        if (fleet__scale(f, words + 1, count - 1, reply, size) == WR_OK)
            snprintf(reply + strlen(reply), size - strlen(reply), "ok\n");
    } else {
        snprintf(reply, size, "usage unknown request (status, scale NAME=N ...)\n");
    }
}

/* Reads what the client sent; answers once a whole line is there. */
static void serve(struct fleet_control_client *client, struct fleet *f, char *reply)
{
    ssize_t n = recv(client->fd, client->request + client->used,
                     sizeof client->request - 1 - client->used, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        drop(client);
        return;
    }
    client->used += (size_t)n;
    client->request[client->used] = '\0';
    char *newline = strchr(client->request, '\n');
    if (!newline && client->used + 1 < sizeof client->request)
        return;
    if (newline)
        *newline = '\0';
    if (newline)
        answer(f, client->request, reply, REPLY_SIZE);
    else
        snprintf(reply, REPLY_SIZE, "usage request too long\n");
    size_t len = strlen(reply);
    if (send(client->fd, reply, len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)len)
        wr_log(WR_LOG_WARN, "fleet", "control client: answer not sent in full: %s",
               strerror(errno));
    drop(client);
}

/* Only the fleet's own user (or root) may control it. */
static bool trusted(int fd)
{
    struct ucred peer;
    socklen_t len = sizeof peer;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0)
        return false;
    return peer.uid == geteuid() || peer.uid == 0;
}

static void accept_clients(struct fleet_control *c)
{
    int fd;
    while ((fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct fleet_control_client *slot = NULL;
        for (size_t i = 0; i < FLEET_CONTROL_CLIENTS && !slot; i++)
            if (c->clients[i].fd < 0)
                slot = &c->clients[i];
        if (!slot || !trusted(fd)) {
            wr_log(WR_LOG_WARN, "fleet", "control client refused (%s)",
                   slot ? "another user" : "too many clients");
            close(fd);
            continue;
        }
        *slot = (struct fleet_control_client){.fd = fd, .opened_ms = wr_monotonic_ms()};
    }
}

void fleet__control_service(struct fleet_control *c, const struct pollfd *fds, size_t count,
                            struct fleet *f)
{
    int64_t now = wr_monotonic_ms();
    for (size_t i = 0; i < count; i++) {
        if (!fds[i].revents)
            continue;
        if (fds[i].fd == c->listen_fd) {
            accept_clients(c);
            continue;
        }
        for (size_t k = 0; k < FLEET_CONTROL_CLIENTS; k++)
            if (c->clients[k].fd == fds[i].fd)
                serve(&c->clients[k], f, c->reply);
    }
    for (size_t k = 0; k < FLEET_CONTROL_CLIENTS; k++)
        if (c->clients[k].fd >= 0 && now - c->clients[k].opened_ms > CLIENT_TIMEOUT_MS)
            drop(&c->clients[k]);
}

void fleet__control_close(struct fleet_control *c)
{
    for (size_t k = 0; k < FLEET_CONTROL_CLIENTS; k++)
        if (c->clients[k].fd >= 0)
            drop(&c->clients[k]);
    if (c->listen_fd >= 0) {
        close(c->listen_fd);
        unlink(c->path);
        c->listen_fd = -1;
    }
}
