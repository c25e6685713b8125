/* The RabbitMQ virtual host named by broker.url (percent-decoded), which
 * the management API's paths need. */
#include <stdio.h>
#include <string.h>

#include "config/config.h"

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The vhost of an AMQP URL: the percent-decoded path after the host;
 * "/" when there is none or it is empty (as broker/ reads it). */
void cfg_broker_vhost(const struct cfg *cfg, char *out, size_t size)
{
    const char *url = cfg_str(cfg, CFG_BROKER_URL);
    const char *p = strstr(url, "://");
    size_t o = 0;
    p = p ? strchr(p + 3, '/') : NULL;
    if (!p || !p[1]) {
        snprintf(out, size, "/");
        return;
    }
    for (p++; *p && *p != '?' && o + 1 < size; p++) {
        int hi = p[0] == '%' ? hex_value(p[1]) : -1, lo = hi >= 0 ? hex_value(p[2]) : -1;
        if (lo >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            p += 2;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

