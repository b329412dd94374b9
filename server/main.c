/* kibitka's entry point: parses the command line, wires the modules together and runs the
 * network loop until SIGTERM or SIGINT.
 *
 * Wiring, in start order: the hub registry (where sources meet sinks), the packager (observes
 * the registry, so every new stream gets LL-HLS), the webhooks (observe it too: stream.live
 * and stream.ended, POSTed by their own worker thread), the store and the upload worker, the
 * recovery of the recording spool, the recorder (another observer), the HTTP server (serves
 * what the packager made), the RTMP server (the source). Stop runs the other way round: RTMP
 * first, so every stream ends and its playlists get #EXT-X-ENDLIST (and its stream.ended is
 * queued, and its recording's last chunk is closed); HTTP keeps serving those for --stop-grace
 * while the webhook and upload workers deliver; then HTTP stops, the recorder writes out its
 * queue, the upload worker finishes or abandons its upload (a few seconds at most), and the
 * rest is freed. */
#include <dirent.h>
#include <errno.h>
#include <libavformat/avformat.h>
#include <limits.h>
#include <malloc.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/http.h"
#include "api/http_limits.h"
#include "auth/publish.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/data_lock.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/net.h"
#include "core/proxy.h"
#include "db/db.h"
#include "events/webhook.h"
#include "ingest/rtmp/rtmp.h"
#include "packager/hls.h"
#include "packager/thumb.h"
#include "recorder/recorder.h"
#include "recorder/upload.h"
#include "rtc/net.h"
#include "rtc/transport.h"
#include "server/cli.h"
#include "server/sfu_glue.h"
#include "server/whip_glue.h"
#include "storage/storage.h"
#include "transcode/admission.h"
#include "transcode/ladder.h"
#include "transcode/worker.h"

struct app {
    struct config cfg;
    struct ladder ladder; /* parsed --ladder */
    bool ladder_none;
    struct metrics *metrics; /* the /metrics registry; every module registers its figures */
    struct loop *loop;
    struct db *db;
    struct publish_auth *auth;
    struct hub_registry *hubs;
    struct hls_server *hls;
    struct thumbs *thumbs;       /* stream thumbnails: an observer and a worker thread */
    struct admission *admission; /* --cpu-budget */
    struct webhook *webhooks;
    struct storage *store;
    struct upload *upload;
    struct recorder *recorder;
    struct http_server *http;
    struct proxy_trust proxies; /* --trusted-proxy, for HTTP and the signaling */
    char *spool_dir;            /* for the API's on_recording_deleted; freed after HTTP stops */
    struct rtmp_server *rtmp;
    struct whip *whip;          /* POST /whip: WebRTC publishers */
    int http_fd, rtmp_fd;       /* bound listeners, -1 once handed to their server */
    int rtc_udp_fd, rtc_tcp_fd; /* the WebRTC port (--rtc), -1 once handed to the transport */
    struct rtc_transport *rtc;
    struct sfu_glue *voice; /* --ws signaling and the voice SFU; NULL with --ws off */
    struct data_lock *data_lock;
    int sigfd;
    int stop_signal;
    long fd_limit;                   /* RLIMIT_NOFILE's soft limit, once raised */
    int live_streams;                /* at the last tick */
    int64_t trim_due_us, trimmed_us; /* see trim_memory */
};

static void on_signal(struct loop *loop, int fd, uint32_t events, void *opaque)
{
    struct app *app = opaque;
    struct signalfd_siginfo si;
    if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
        return;
    app->stop_signal = (int)si.ssi_signo;
    loop_stop(loop);
}

/* Gives freed memory back to the system after streams end. glibc keeps what a stream freed (its
 * parts window, its transcoder's frames and x264 state) in the heap: 40 streams and then one
 * left the process at 2.5 GB. heap_trim (malloc_trim(0)) returns every free page of every arena
 * (in the soak's ASan build, the sanitizer's quarantine and free pages). It walks
 * the heap (milliseconds with a large one, on this thread), so it runs 2 s after an end (the
 * transcode worker is joined and the HTTP threads let go of the last blobs by then) and at most
 * every 10 s. */
static void trim_memory(struct app *app, int dropped)
{
    int64_t now = clock_mono_us();
    int live = hub_registry_count(app->hubs);
    if ((dropped > 0 || live < app->live_streams) && !app->trim_due_us)
        app->trim_due_us = now + 2000000;
    app->live_streams = live;
    if (!app->trim_due_us || now < app->trim_due_us || now - app->trimmed_us < 10000000)
        return;
    heap_trim();
    app->trimmed_us = clock_mono_us();
    app->trim_due_us = 0;
    log_debug("main", NULL, "heap trimmed in %.1f ms", (double)(app->trimmed_us - now) / 1000);
}

static void on_tick(struct loop *loop, void *opaque)
{
    struct app *app = opaque;
    trim_memory(app, hls_server_tick(app->hls));
}

static void on_cpu_sample(struct loop *loop, void *opaque)
{
    (void)loop;
    admission_sample(opaque);
}

static int print_version(void)
{
    printf("kibitka %s (libavformat %s, libmicrohttpd %s)\n", KIBITKA_VERSION,
           AV_STRINGIFY(LIBAVFORMAT_VERSION), MHD_get_version());
    return 0;
}

static int setup_signals(struct app *app)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    /* Blocked in every thread (MHD's and libav's inherit the mask), delivered to the loop. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    app->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return app->sigfd < 0 ? -errno : 0;
}

/* The upload worker's recording.ready, to the webhooks: recorder/ does not include events/. */
static void recording_ready(void *webhooks, const struct db_recording *r,
                            const struct db_chunk *chunks, size_t n)
{
    webhook_emit_recording_ready(webhooks, r, chunks, n);
}

/* The API deleted a recording: what the spool still holds of it goes too (the files of chunks
 * that failed for good, recording.json), else the next start would recover it. api/ does not
 * know the spool's layout; recorder/upload.h does. */
static void forget_recording(void *spool_dir, const char *id)
{
    upload_spool_forget(spool_dir, id);
}

/* The store, the upload worker, crash recovery of the spool, then the recorder (an observer:
 * before the RTMP server claims). A store that refuses us is logged and shown in /metrics; the
 * server still starts and chunks wait in the spool. */
static int start_recordings(struct app *app)
{
    struct config *c = &app->cfg;
    char *url = config_storage_url(c), *spool = config_spool_dir(c), err[512] = "";
    int rc = storage_open(url, &app->store, err, sizeof(err));
    if (rc < 0) {
        log_error("main", NULL, "--storage %s: %s", url, err[0] ? err : strerror(-rc));
        goto out;
    }
    if ((rc = storage_check(app->store, err, sizeof(err))) < 0) {
        log_error("main", NULL,
                  "the store %s is not usable (%s): recordings wait in the spool and are "
                  "retried",
                  storage_describe(app->store), err[0] ? err : strerror(-rc));
        struct upload_metrics um;
        upload_metrics_register(app->metrics, &um);
        if (rc == -EACCES || rc == -ENOENT) /* credentials or bucket: a person must act */
            metrics_add(um.storage_errors_total, 1);
        metrics_set(um.storage_access_denied, rc == -EACCES);
    }
    struct upload_config uc = {
        .db = app->db,
        .store = app->store,
        .put_file = storage_put_file,
        .store_name = storage_describe(app->store),
        .spool_dir = spool,
        .metrics = app->metrics,
        .on_ready = app->webhooks ? recording_ready : NULL,
        .ready_opaque = app->webhooks,
    };
    rc = -1;
    if (!(app->upload = upload_create(&uc)))
        goto out;
    struct recorder_recover_config rr = {app->db, spool, upload_post_cb, app->upload, app->metrics};
    if ((rc = recorder_recover(&rr)) < 0)
        log_error("main", NULL, "cannot read the spool %s: %s", spool, strerror(-rc));
    rc = 0;
    if (!c->no_record) {
        struct recorder_config rc_ = {
            .spool_dir = spool,
            .chunk_seconds = c->record_chunk,
            .spool_max_bytes = c->spool_max_bytes,
            .on_event = upload_post_cb,
            .opaque = app->upload,
            .metrics = app->metrics,
        };
        app->recorder = recorder_create(&rc_, app->hubs);
        rc = app->recorder ? 0 : -1;
        if (app->recorder)
            log_info("main", NULL, "recording to %s (chunks of %g s, spool %s)",
                     storage_describe(app->store), c->record_chunk, spool);
    }
out:
    free(url);
    free(spool);
    return rc;
}

/* Binds --http, --rtmp, --rtc and --ws before anything touches the data directory, so that a
 * port in use (the commonest failure at start) leaves the directory, the database and the spool
 * as they were. The messages have the same words. */
static int bind_listeners(struct app *app)
{
    struct {
        const char *addr, *what;
        int *fd, backlog;
    } l[] = {/* SOMAXCONN (4096): with a short backlog a burst of connections overflows it, and
              * with SYN cookies a silent client's handshake is then lost on our side for good
              * (500 at once: 58 never accepted) */
             {app->cfg.http_addr, "HTTP", &app->http_fd, SOMAXCONN},
             {app->cfg.rtmp_addr, "RTMP", &app->rtmp_fd, SOMAXCONN}};
    for (size_t i = 0; i < sizeof(l) / sizeof(l[0]); i++) {
        struct sockaddr_storage ss;
        int fd = net_parse_addr(l[i].addr, &ss) < 0 ? -EINVAL : net_listen_tcp(&ss, l[i].backlog);
        if (fd < 0) {
            log_error("main", NULL, "cannot listen on %s for %s: %s", l[i].addr, l[i].what,
                      strerror(-fd));
            return -1;
        }
        *l[i].fd = fd;
    }
    if (strcmp(app->cfg.rtc_addr, "off") != 0) {
        int err = rtc_net_open(app->cfg.rtc_addr, true, &app->rtc_udp_fd, &app->rtc_tcp_fd);
        if (err < 0) {
            log_error("main", NULL, "cannot bind %s for WebRTC (UDP and TCP): %s",
                      app->cfg.rtc_addr, strerror(-err));
            return -1;
        }
    }
    for (int i = 0; i < app->cfg.trusted_proxies.n; i++)
        proxy_trust_add(&app->proxies, app->cfg.trusted_proxies.v[i]); /* checked by config */
    return sfu_glue_bind(app->cfg.ws_addr, app->metrics, &app->proxies,
                         (const char *const *)app->cfg.ws_origins.v, app->cfg.ws_origins.n,
                         &app->voice);
}

/* The data directory's lock (core/data_lock.h), held until the process ends: a second server on
 * the same --data would take this one's open spool chunks for a crash's leftovers. */
static int lock_data_dir(struct app *app)
{
    char err[512];
    if (data_lock_acquire(app->cfg.data_dir, &app->data_lock, err, sizeof(err)) < 0) {
        log_error("main", NULL, "%s", err);
        return -1;
    }
    return 0;
}

/* Finds a regular file under dir (depth-first, a few levels: spool/<id>/<seq>.mp4, store
 * <user>/<stream>/<day>/<id>/<seq>.mp4); copies its path to found. */
static bool find_file(const char *dir, int depth, char *found, size_t n)
{
    DIR *d = depth > 0 ? opendir(dir) : NULL;
    struct dirent *e;
    bool hit = false;
    while (d && !hit && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISREG(st.st_mode)) {
            snprintf(found, n, "%s", path);
            hit = true;
        } else if (S_ISDIR(st.st_mode)) {
            hit = find_file(path, depth - 1, found, n);
        }
    }
    if (d)
        closedir(d);
    return hit;
}

/* A lost database (a 0-byte or deleted SQLite file, an emptied PostgreSQL) used to start as a new
 * empty one: every user, stream key and recording row silently gone while the spool and the
 * store still held the recordings. Refused unless --force-new-db says a new database is meant.
 * The store is looked at only when it is a file: directory (listing S3 at every start is not
 * free, and a bucket is often shared). */
static int check_db_not_lost(struct app *app, const char *url)
{
    char why[80] = "", found[PATH_MAX] = "";
    bool empty;
    char *spool = config_spool_dir(&app->cfg), *store = config_storage_url(&app->cfg);
    const char *dir = !strncmp(store, "file:", 5) ? store + 5 : NULL;
    if (dir && !strncmp(dir, "///", 3))
        dir += 2;
    bool files = find_file(spool, 3, found, sizeof(found)) ||
                 (dir && find_file(dir, 8, found, sizeof(found)));
    free(spool);
    free(store);
    /* The files first: most starts have none, and then PostgreSQL is not asked twice. */
    if (!files || db_probe_empty(url, &empty, why, sizeof(why)) < 0 || !empty)
        return 0; /* nothing to lose, or unknown: db_open says what is wrong */
    const char *db = !strncmp(url, "sqlite:", 7) ? url : "of --db (PostgreSQL)"; /* no password */
    if (app->cfg.force_new_db) {
        log_warn("main", NULL,
                 "the database %s %s; --force-new-db: starting a new one beside "
                 "the recordings already on disk (such as %s)",
                 db, why, found);
        return 0;
    }
    log_error("main", NULL,
              "the database %s %s, but the data directory holds recordings (such as %s): "
              "refusing to start a new, empty database over them. Restore the database from a "
              "backup, or start with --force-new-db (KIBITKA_FORCE_NEW_DB=1) to begin with an "
              "empty one; the recordings stay on disk, unknown to the API",
              db, why, found);
    return -1;
}

/* The most descriptors the kernel lets a process have (fs.nr_open); a hard limit of "unlimited"
 * cannot be given to the soft one. */
static rlim_t nr_open(void)
{
    FILE *f = fopen("/proc/sys/fs/nr_open", "r");
    unsigned long long n = 0;
    if (f) {
        if (fscanf(f, "%llu", &n) != 1)
            n = 0;
        fclose(f);
    }
    return n ? (rlim_t)n : 1048576;
}

/* Raises the soft descriptor limit to the hard one. Shells and service managers start processes
 * with a soft limit of 1024 and a much higher hard one; at 1024, 1,100 idle HTTP connections left
 * RTMP accepts and the recorder's chunk files failing with EMFILE. Returns the soft limit now. */
static long raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1024;
    rlim_t was = rl.rlim_cur, want = rl.rlim_max;
    if (want == RLIM_INFINITY || want > nr_open())
        want = nr_open();
    if (want > was) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            log_info("main", NULL, "descriptor limit raised from %llu to %llu (the hard limit)",
                     (unsigned long long)was, (unsigned long long)want);
        else
            log_warn("main", NULL, "cannot raise the descriptor limit from %llu to %llu: %s",
                     (unsigned long long)was, (unsigned long long)want, strerror(errno));
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return rl.rlim_cur == RLIM_INFINITY ? (long)nr_open() : 1024;
    return rl.rlim_cur > (rlim_t)LONG_MAX ? LONG_MAX : (long)rl.rlim_cur;
}

/* HTTP's share of the descriptors (http_limits_max_connections), logged. */
static int http_max_connections(const struct app *app)
{
    const struct config *c = &app->cfg;
    long reserve;
    bool tight;
    int n = http_limits_max_connections(app->fd_limit, c->max_connections, c->http_max_connections,
                                        &reserve, &tight);
    if (tight)
        log_warn("main", NULL,
                 "the descriptor limit (%ld) cannot keep %ld descriptors for --max-connections %d "
                 "RTMP connections, their recordings, the database and uploads, and leave HTTP "
                 "enough: HTTP gets %d connections and RTMP or recordings may fail with 'too many "
                 "open files'. Raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower "
                 "--max-connections",
                 app->fd_limit, reserve, c->max_connections, n);
    else if (c->http_max_connections > n)
        log_warn("main", NULL,
                 "--http-max-connections %d: the descriptor limit (%ld) leaves HTTP %d, after "
                 "%ld kept for RTMP, recordings, the database and uploads",
                 c->http_max_connections, app->fd_limit, n, reserve);
    char per[48] = "no limit per address";
    if (c->http_max_connections_per_address > 0)
        snprintf(per, sizeof(per), "%d from one address", c->http_max_connections_per_address);
    log_info("main", NULL,
             "HTTP: at most %d connections (%s), a whole request within %g s; descriptor limit "
             "%ld, %ld kept for RTMP, recordings, the database and uploads",
             n, per, c->http_request_timeout, app->fd_limit, reserve);
    return n;
}

/* The figures of modules that may not run (no --webhook, no ladder): registered here so that
 * /metrics shows them at 0, as it always has. */
static void register_idle_metrics(struct app *app)
{
    struct webhook_metrics wm;
    webhook_metrics_register(app->metrics, &wm);
    transcode_dropped_frames_metric(app->metrics);
}

static int start(struct app *app)
{
    struct config *c = &app->cfg;
    app->fd_limit = raise_fd_limit();
    app->metrics = metrics_create(); /* before the binds: --ws registers its figures */
    if (bind_listeners(app) < 0 || lock_data_dir(app) < 0)
        return -1;
    register_idle_metrics(app);
    app->loop = loop_create();
    if (app->loop)
        loop_set_metrics(app->loop, app->metrics); /* kibitka_loop_lag_seconds */
    if (!app->loop || setup_signals(app) < 0 ||
        loop_add_fd(app->loop, app->sigfd, EPOLLIN, on_signal, app) < 0) {
        log_error("main", NULL, "cannot set up the event loop: %s", strerror(errno));
        return -1;
    }
    char *url = config_db_url(c);
    if (check_db_not_lost(app, url) < 0) {
        free(url);
        return -1;
    }
    int err = db_open(url, &app->db);
    if (err < 0) {
        log_error("main", NULL, "cannot open the database %s (%s); see --db and --data", url,
                  strerror(-err));
        free(url);
        return -1;
    }
    log_info("main", NULL, "database: %s (%s)", db_backend_name(app->db),
             strncmp(url, "sqlite:", 7) == 0 ? url : "postgres");
    free(url);
    app->auth = publish_auth_create(app->db, app->loop);
    if (!app->auth)
        return -1;
    app->hubs = hub_registry_create();
    hub_registry_set_loop(app->hubs, app->loop); /* the API ends live streams through it */
    struct admission_config ac = {
        .budget_pct = c->cpu_budget,
        .refuse = strcmp(c->over_budget, "refuse") == 0,
        .metrics = app->metrics,
    };
    app->admission = admission_create(&ac);
    if (!app->admission)
        return -1;
    admission_sample(app->admission);
    loop_timer_add(app->loop, 1000, true, on_cpu_sample, app->admission);
    struct hls_config hc = {
        .part_seconds = c->part_seconds,
        .linger_seconds = c->hls_linger,
        .ladder = app->ladder_none ? NULL : &app->ladder,
        .x264_preset = c->x264_preset,
        .admission = app->admission,
        .metrics = app->metrics,
    };
    app->hls = hls_server_create(&hc, app->hubs);
    app->thumbs = thumbs_create(app->hubs, app->metrics); /* an observer: before any claim */
    if (c->webhook_urls.n) { /* an observer: registered before the RTMP server claims */
        struct webhook_config wc = {
            .urls = (const char *const *)c->webhook_urls.v,
            .nurls = c->webhook_urls.n,
            .secret = c->webhook_secret,
            .metrics = app->metrics,
        };
        app->webhooks = webhook_create(&wc, app->hubs);
        if (!app->webhooks)
            return -1;
    }
    if (start_recordings(app) < 0)
        return -1;
    app->spool_dir = config_spool_dir(c);
    if (app->rtc_udp_fd >= 0) {
        struct rtc_transport_config tc = {
            .udp_fd = app->rtc_udp_fd,
            .tcp_fd = app->rtc_tcp_fd,
            .public_ips = (const char *const *)c->public_ips.v,
            .n_public_ips = c->public_ips.n,
            .metrics = app->metrics,
        };
        app->rtc = rtc_transport_create(app->loop, &tc);
        app->rtc_udp_fd = app->rtc_tcp_fd = -1; /* the transport's now, even when it failed */
        if (!app->rtc)
            return -1;
    }
    if (app->voice && sfu_glue_start(app->voice, app->loop, app->rtc, app->db, app->metrics,
                                     app->cfg.voice_slots, app->cfg.voice_rejoin) < 0)
        return -1;
    /* --ice-server: the Link header values of RFC 9725 4.6, made once. */
    char **links = xcalloc((size_t)c->ice_servers.n + 1, sizeof(char *));
    for (int i = 0; i < c->ice_servers.n; i++) {
        char url[256], user[128], pass[128], v[700];
        int n = config_ice_server(c->ice_servers.v[i], url, user, pass);
        if (n == 3)
            snprintf(v, sizeof(v),
                     "<%s>; rel=\"ice-server\"; username=\"%s\"; credential=\"%s\"; "
                     "credential-type=\"password\"",
                     url, user, pass);
        else
            snprintf(v, sizeof(v), "<%s>; rel=\"ice-server\"", url);
        links[i] = xstrdup(v);
    }
    struct whip_config wc = {
        .ice_links = (const char *const *)links,
        .nice_links = c->ice_servers.n,
        .rtc = app->rtc,
        .open_publish = c->open_publish,
        .auth = app->auth,
        .hubs = app->hubs,
        .metrics = app->metrics,
    };
    app->whip = whip_create(app->loop, &wc); /* copies the links */
    for (int i = 0; i < c->ice_servers.n; i++)
        free(links[i]);
    free(links);
    struct http_server_config htc = {
        .listen_fd = app->http_fd,
        .cors_origin = c->cors_origin,
        .threads = c->http_threads,
        .hls = app->hls,
        .hubs = app->hubs,
        .metrics = app->metrics,
        .db = app->db,
        .store = app->store,
        .on_recording_deleted = forget_recording,
        .recording_deleted_opaque = app->spool_dir,
        .link_lifetime_s = c->link_lifetime,
        .max_connections = http_max_connections(app),
        .max_connections_per_address = c->http_max_connections_per_address,
        .request_timeout_s = c->http_request_timeout,
        .whip = whip_glue_http,
        .whip_opaque = app->whip,
        .room_ops = sfu_glue_room_ops(app->voice), /* NULL without voice rooms */
        .room_ops_opaque = app->voice,
        .web_dir = c->web_dir[0] ? c->web_dir : NULL,
        .ws_port = app->voice ? sfu_glue_port(app->voice) : 0,
        .thumbs = app->thumbs,
        .trusted_proxies = &app->proxies,
    };
    app->http = http_server_create(&htc);
    app->http_fd = -1; /* the server's now, even when it failed */
    if (!app->http)
        return -1;
    struct rtmp_server_config rc = {
        .listen_fd = app->rtmp_fd,
        .open_publish = c->open_publish,
        .idle_timeout = c->idle_timeout,
        .max_connections = c->max_connections,
        .max_connections_per_address = c->max_connections_per_address,
        .publish_timeout = c->publish_timeout,
        .hubs = app->hubs,
        .metrics = app->metrics,
        .auth = app->auth,
    };
    app->rtmp = rtmp_server_create(app->loop, &rc);
    app->rtmp_fd = -1;
    if (!app->rtmp)
        return -1;
    loop_timer_add(app->loop, 100, true, on_tick, app);
    return 0;
}

static void stop(struct app *app)
{
    if (app->rtmp) {
        rtmp_server_shutdown(app->rtmp); /* ends every stream: playlists get ENDLIST */
        if (app->http && app->cfg.stop_grace > 0) {
            struct timespec ts = {
                (time_t)app->cfg.stop_grace,
                (long)((app->cfg.stop_grace - (time_t)app->cfg.stop_grace) * 1e9)};
            nanosleep(&ts, NULL); /* HTTP threads keep serving the ended playlists */
        }
    }
    sfu_glue_stop(app->voice); /* closes every signaling socket, ends every voice member */
    if (app->whip) /* ends WHIP publishes; answers what is queued, so no request stays suspended */
        whip_shutdown(app->whip);
    if (app->http)
        http_server_set_ready(app->http, false);
    http_server_destroy(&app->http);
    free(app->spool_dir);
    app->spool_dir = NULL;
    rtmp_server_destroy(&app->rtmp);  /* cancels key checks under way */
    recorder_destroy(&app->recorder); /* every stream ended: its last chunk is on disk */
    bool abandoned = upload_destroy(&app->upload); /* before webhooks: recording.ready */
    if (!abandoned)
        storage_close(&app->store);  /* else the abandoned upload still holds it */
    webhook_destroy(&app->webhooks); /* after every stream ended: its sinks point at it */
    publish_auth_destroy(&app->auth);
    hls_server_destroy(&app->hls);
    thumbs_destroy(&app->thumbs); /* after the hubs ended, before the registry */
    hub_registry_destroy(&app->hubs);
    admission_destroy(&app->admission); /* after every sink that could ask it */
    rtc_transport_destroy(&app->rtc);   /* after whip_shutdown: no session is left */
    loop_destroy(&app->loop);           /* runs what the key worker posted last, freeing it */
    whip_destroy(&app->whip);      /* after the loop: a late wake-up of its queue still finds it */
    sfu_glue_destroy(&app->voice); /* after the loop too: it ran the signaling's last jobs */
    db_close(&app->db);            /* an abandoned upload worker never touches the db again */
    if (!abandoned)
        metrics_destroy(&app->metrics); /* else the abandoned upload still counts */
    if (app->sigfd > 0)
        close(app->sigfd);
    if (app->http_fd >= 0)
        close(app->http_fd);
    if (app->rtmp_fd >= 0)
        close(app->rtmp_fd);
    if (app->rtc_udp_fd >= 0)
        close(app->rtc_udp_fd);
    if (app->rtc_tcp_fd >= 0)
        close(app->rtc_tcp_fd);
    proxy_trust_clear(&app->proxies);   /* HTTP and the signaling are gone */
    data_lock_release(&app->data_lock); /* last: nothing touches the spool any more */
}

/* Parts (~100-200 KB) and segments are allocated and freed all the time. Above glibc's default
 * mmap threshold each one was a fresh mmap, page-faulted in and unmapped again (a fifth of the
 * CPU in perf with 20 streams); kept in the heap, their memory is reused. */
static void tune_malloc(void)
{
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
}

/* --ladder: "none", or a spec ladder_parse takes. */
static int parse_ladder(struct app *app)
{
    char err[160];
    app->ladder_none = strcmp(app->cfg.ladder, "none") == 0;
    if (app->ladder_none)
        return 0;
    if (ladder_parse(app->cfg.ladder, &app->ladder, err, sizeof(err)) < 0) {
        if (config_from_env(&app->cfg, "ladder")) /* err starts with "ladder" */
            fprintf(stderr, "kibitka: KIBITKA_LADDER='%s': %s\n", app->cfg.ladder, err);
        else
            fprintf(stderr, "kibitka: --%s\n", err);
        return -1;
    }
    return 0;
}

static int serve(int argc, char **argv)
{
    static struct app app = {.http_fd = -1, .rtmp_fd = -1, .rtc_udp_fd = -1, .rtc_tcp_fd = -1};
    if (config_wants_help(argc, argv)) {
        config_print_help(stdout);
        return 0;
    }
    tune_malloc();
    config_defaults(&app.cfg);
    if (config_parse(&app.cfg, argc, argv, stderr) < 0 || config_check(&app.cfg, stderr) < 0 ||
        parse_ladder(&app) < 0) {
        config_free(&app.cfg);
        return 2;
    }
    enum log_level lvl = LOG_INFO;
    log_parse_level(app.cfg.log_level, &lvl);
    log_set_level(lvl);
    av_log_set_level(lvl == LOG_DEBUG ? AV_LOG_INFO : AV_LOG_ERROR);

    int rc = 1;
    if (start(&app) == 0) {
        http_server_set_ready(app.http, true);
        char rtc[200] = "";
        if (app.rtc)
            snprintf(rtc, sizeof(rtc), ", webrtc %s (port %d)", app.cfg.rtc_addr,
                     rtc_transport_port(app.rtc));
        if (sfu_glue_port(app.voice))
            snprintf(rtc + strlen(rtc), sizeof(rtc) - strlen(rtc), ", ws %s (port %d)",
                     app.cfg.ws_addr, sfu_glue_port(app.voice));
        log_info("main", NULL, "kibitka %s ready: rtmp %s (port %d), http %s (port %d)%s%s",
                 KIBITKA_VERSION, app.cfg.rtmp_addr, rtmp_server_port(app.rtmp), app.cfg.http_addr,
                 http_server_port(app.http), rtc,
                 app.cfg.open_publish ? ", open publish: any key publishes under its own name"
                                      : ", publishing with stream keys");
        if (loop_run(app.loop) == 0) {
            log_info("main", NULL, "stopping (%s): ending streams, closing connections",
                     strsignal(app.stop_signal));
            rc = 0;
        }
    }
    stop(&app);
    config_free(&app.cfg);
    if (rc == 0)
        log_info("main", NULL, "stopped");
    return rc;
}

static void print_usage(FILE *out)
{
    fprintf(out,
            "kibitka: live video server (RTMP in, LL-HLS out)\n\n"
            "commands:\n"
            "  kibitka [serve] [FLAGS]     run the server (its flags below)\n"
            "  kibitka user add NAME [--admin] --password-stdin\n"
            "                              add a user (the password on stdin)\n"
            "  kibitka user list           list the users and their roles\n"
            "  kibitka stream add --user NAME --name STREAM\n"
            "                              add a stream, print its key\n"
            "      (user and stream take --data DIR and --db URL, like serve; they only use the\n"
            "      database, so they work with the server stopped or running)\n"
            "  kibitka version             print the version\n"
            "  kibitka help [COMMAND]      this text, or COMMAND's\n"
            "  kibitka COMMAND [SUBCOMMAND] --help   the same: what it accepts\n\n");
    config_print_help(out);
}

static bool is_help(const char *arg)
{
    return !strcmp(arg, "--help") || !strcmp(arg, "-h") || !strcmp(arg, "help");
}

/* `kibitka version [--help]`. */
static int version_cmd(int argc, char **argv)
{
    if (argc == 0)
        return print_version();
    if (argc == 1 && is_help(argv[0])) {
        printf("usage: kibitka version\n\nPrints the version of kibitka and of the libraries it "
               "was built with.\n");
        return 0;
    }
    fprintf(stderr, "kibitka: version takes no arguments (see kibitka version --help)\n");
    return 2;
}

/* `kibitka help [COMMAND ...]`: the same text as COMMAND ... --help. */
static int help_cmd(int argc, char **argv)
{
    if (argc == 0 || is_help(argv[0])) {
        print_usage(stdout);
        return 0;
    }
    if (!strcmp(argv[0], "serve")) {
        config_print_help(stdout);
        return 0;
    }
    if (!strcmp(argv[0], "version"))
        return version_cmd(1, (char *[]){"--help"});
    if (!strcmp(argv[0], "user") || !strcmp(argv[0], "stream"))
        return cli_help(argc, argv);
    fprintf(stderr, "kibitka: no command '%s' (commands: serve, user, stream, version)\n", argv[0]);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return serve(0, argv + 1);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version"))
        return version_cmd(argc - 2, argv + 2);
    if (!strcmp(cmd, "help"))
        return help_cmd(argc - 2, argv + 2);
    if (!strcmp(cmd, "serve"))
        return serve(argc - 2, argv + 2);
    if (!strcmp(cmd, "user") || !strcmp(cmd, "stream"))
        return cli_main(argc - 1, argv + 1);
    if (strncmp(cmd, "-", 1) != 0) {
        fprintf(stderr,
                "kibitka: unknown command '%s' (commands: serve, user, stream, version, help; "
                "see kibitka --help)\n",
                cmd);
        return 2;
    }
    /* Flags without a command: serve, but --help here is the whole command's help. */
    if (config_wants_help(argc - 1, argv + 1)) {
        print_usage(stdout);
        return 0;
    }
    return serve(argc - 1, argv + 1);
}
