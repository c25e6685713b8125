/* Random bytes from a per-thread pool refilled by getrandom() (see
 * random.h), and the UUID and hex formatting built on them. */
#include "core/random.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define POOL_SIZE 1024

struct random_pool {
    unsigned char bytes[POOL_SIZE];
    size_t left; /* the last `left` bytes are unread; 0 in a new thread */
};

static _Thread_local struct random_pool pool;

static void fill_from_kernel(unsigned char *out, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(out + got, len - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (!(n < 0 && errno == EINTR))
            abort(); /* identifiers that are not random would collide silently */
    }
}

void wr_random_bytes(void *out, size_t len)
{
    unsigned char *dst = out;
    while (len > 0) {
        if (pool.left == 0) {
            fill_from_kernel(pool.bytes, POOL_SIZE);
            pool.left = POOL_SIZE;
        }
        size_t take = pool.left < len ? pool.left : len;
        unsigned char *from = pool.bytes + POOL_SIZE - pool.left;
        memcpy(dst, from, take);
        memset(from, 0, take); /* a byte is handed out once */
        pool.left -= take;
        dst += take;
        len -= take;
    }
}

void wr_hex_lower(char *out, const unsigned char *bytes, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

void wr_random_uuid(char out[37])
{
    unsigned char id[16];
    wr_random_bytes(id, sizeof id);
    id[6] = (unsigned char)((id[6] & 0x0f) | 0x40); /* version 4 */
    id[8] = (unsigned char)((id[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const size_t group_end[] = {4, 6, 8, 10, 16};
    size_t at = 0, byte = 0;
    for (size_t g = 0; g < sizeof group_end / sizeof group_end[0]; g++) {
        if (g > 0)
            out[at++] = '-';
        wr_hex_lower(out + at, id + byte, group_end[g] - byte);
        at += 2 * (group_end[g] - byte);
        byte = group_end[g];
    }
    out[36] = '\0';
}
