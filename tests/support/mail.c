/* Reading the stack's maildir (see mail.h). */
#include "tests/support/mail.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/support/support.h"

/* The text of a message received since `since` (caller frees), or NULL. */
static char *message_since(const char *dir, const char *name, time_t since)
{
    char path[1200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (name[0] == '.' || stat(path, &st) != 0 || st.st_mtime < since)
        return NULL;
    return ts_read_file(path);
}

int ts_mail_count(const char *needle, time_t since, char **last)
{
    char run[512], dir[600];
    int count = 0;
    snprintf(dir, sizeof dir, "%s/smtp/maildir/new", ts_run_dir(run, sizeof run));
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "no maildir at %s", dir);
    for (struct dirent *e; (e = readdir(d));) {
        char *text = message_since(dir, e->d_name, since);
        if (text && strstr(text, needle)) {
            count++;
            if (last) {
                free(*last);
                *last = text;
                text = NULL;
            }
        }
        free(text);
    }
    closedir(d);
    return count;
}

int ts_mail_wait(const char *needle, time_t since, int want, int wait_ms, int settle_ms)
{
    int count = ts_mail_count(needle, since, NULL);
    for (int waited = 0; count < want && waited < wait_ms; waited += 100) {
        ts_sleep_ms(100);
        count = ts_mail_count(needle, since, NULL);
    }
    ts_sleep_ms(settle_ms);
    return ts_mail_count(needle, since, NULL);
}
