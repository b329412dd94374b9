/* Logging: one line per event, written with a single write(2) so lines from different threads
 * never interleave:
 *
 *   2026-11-23T16:30:00.123Z INFO  rtmp stream=cam1 publish started (192.168.1.5:50123)
 *
 * `module` is the subsystem ("rtmp", "hls", "http", "hub"); `stream` is the live stream's name or
 * NULL when the event belongs to no stream. The level is set once at start (process config). */
#ifndef KIBITKA_CORE_LOG_H
#define KIBITKA_CORE_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "debug", "info", "warn", "error"; returns 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);

void log_write(enum log_level level, const char *module, const char *stream, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(mod, stream, ...) log_write(LOG_DEBUG, mod, stream, __VA_ARGS__)
#define log_info(mod, stream, ...) log_write(LOG_INFO, mod, stream, __VA_ARGS__)
#define log_warn(mod, stream, ...) log_write(LOG_WARN, mod, stream, __VA_ARGS__)
#define log_error(mod, stream, ...) log_write(LOG_ERROR, mod, stream, __VA_ARGS__)

#endif
