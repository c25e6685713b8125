/* Amounts for people: an integer in the currency's minor unit written
 * with the currency's decimals (ISO 4217 exponents), "12.99 EUR",
 * "1299 JPY", "1.299 BHD". Machine output (--json) keeps minor units. */
#include "ctl/ctl.h"

#include <stdio.h>
#include <string.h>

/* Currencies whose minor unit is not a hundredth (ISO 4217). */
static const struct {
    const char *codes;
    int decimals;
} exponents[] = {
    {"BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF", 0},
    {"BHD IQD JOD KWD LYD OMR TND", 3},
    {"CLF UYW", 4},
};

static int decimals_of(const char *currency)
{
    if (!currency || strlen(currency) != 3)
        return 2;
    for (size_t i = 0; i < sizeof exponents / sizeof exponents[0]; i++)
        for (const char *c = strstr(exponents[i].codes, currency); c; c = strstr(c + 1, currency))
            if ((c == exponents[i].codes || c[-1] == ' ') && (c[3] == ' ' || c[3] == '\0'))
                return exponents[i].decimals;
    return 2;
}

void ctl_format_amount(long long minor, const char *currency, char *out, size_t size)
{
    int decimals = decimals_of(currency);
    unsigned long long magnitude =
        minor < 0 ? 0ULL - (unsigned long long)minor : (unsigned long long)minor;
    unsigned long long scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    if (decimals == 0)
        snprintf(out, size, "%s%llu %s", minor < 0 ? "-" : "", magnitude, currency ? currency : "");
    else
        snprintf(out, size, "%s%llu.%0*llu %s", minor < 0 ? "-" : "", magnitude / scale, decimals,
                 magnitude % scale, currency ? currency : "");
}
