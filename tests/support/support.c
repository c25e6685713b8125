/* Test helpers: source-tree paths, stack addresses, unique names. */
#include "tests/support/support.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
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
