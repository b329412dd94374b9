#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"

static atomic_int min_level = LOG_INFO;

void log_set_level(enum log_level level)
{
    atomic_store(&min_level, (int)level);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load(&min_level);
}

int log_parse_level(const char *s, enum log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void log_write(enum log_level level, const char *module, const char *stream, const char *fmt, ...)
{
    static const char *tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    if ((int)level < atomic_load(&min_level))
        return;
    char line[2048];
    char ts[32];
    clock_format_iso8601(clock_wall_us(), ts);
    int n = snprintf(line, sizeof(line), "%s %s %s ", ts, tags[level], module);
    if (stream)
        n += snprintf(line + n, sizeof(line) - (size_t)n, "stream=%s ", stream);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m > 0 ? (size_t)m : 0);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    /* One event, one line: a message must not smuggle in line breaks. */
    for (size_t i = (size_t)n; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
