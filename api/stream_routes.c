/* /api/streams, /api/streams/{name}, /api/streams/{name}/key and the public /api/live.
 *
 * A stream of someone else is answered exactly like a stream that does not exist (404), so a
 * user cannot probe which names are taken except by trying to create one (409, which creation
 * has to say anyway). Live state comes from the hub registry of this node. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

struct live_info {
    bool live;
    int64_t started_wall_us;
    int64_t started_mono_us;
    uint64_t bytes_in;
    struct hub_info media;
};

struct live_find {
    const char *name;
    struct live_info *info;
};

static void find_cb(void *opaque, struct hub *hub)
{
    struct live_find *f = opaque;
    if (strcmp(hub_name(hub), f->name))
        return;
    f->info->live = true;
    f->info->started_wall_us = hub_started_wall_us(hub);
    f->info->started_mono_us = hub_started_mono_us(hub);
    f->info->bytes_in = hub_bytes_in(hub);
    hub_info_get(hub, &f->info->media); /* safe here: foreach holds the registry lock */
}

static void live_lookup(struct api *api, const char *name, struct live_info *info)
{
    memset(info, 0, sizeof(*info));
    if (!api->hubs)
        return;
    struct live_find f = {name, info};
    hub_registry_foreach(api->hubs, find_cb, &f);
}

static json_t *hls_url(const char *name)
{
    char url[HUB_NAME_MAX + 32];
    snprintf(url, sizeof(url), "/hls/%s/index.m3u8", name);
    return json_string(url);
}

/* Codecs and sizes once the source has its codec configuration; null before. */
static json_t *media_json(const struct hub_info *m)
{
    if (!m->started)
        return json_null();
    json_t *o = json_object();
    if (m->video_codec[0])
        json_object_set_new(o, "video",
                            json_pack("{s:s,s:i,s:i,s:f}", "codec", m->video_codec, "width",
                                      m->width, "height", m->height, "frame_rate", m->frame_rate));
    if (m->audio_codec[0])
        json_object_set_new(o, "audio",
                            json_pack("{s:s,s:i,s:i}", "codec", m->audio_codec, "sample_rate",
                                      m->sample_rate, "channels", m->channels));
    return o;
}

static json_t *stream_json(struct api *api, const struct db_stream *st)
{
    struct live_info li;
    live_lookup(api, st->name, &li);
    json_t *o = json_pack("{s:s,s:s?,s:b,s:o,s:o,s:b}", "name", st->name, "owner", st->owner_name,
                          "record", st->record, "created_at", json_time(st->created_at), "hls_url",
                          hls_url(st->name), "live", li.live);
    if (li.live) {
        int64_t secs_us = clock_mono_us() - li.started_mono_us;
        json_object_set_new(o, "started_at", json_time(li.started_wall_us));
        /* The average since the start: the hub counts bytes, not a moving window. */
        json_object_set_new(
            o, "bitrate_bps",
            json_integer(secs_us > 0 ? (json_int_t)(li.bytes_in * 8 * 1000000.0 / (double)secs_us)
                                     : 0));
        json_object_set_new(o, "media", media_json(&li.media));
        if (li.media.protocol[0])
            json_object_set_new(o, "protocol", json_string(li.media.protocol));
        int viewers = api->hls ? hls_viewers(api->hls, st->name) : 0;
        json_object_set_new(o, "viewers", json_integer(viewers > 0 ? viewers : 0));
    }
    return o;
}

/* The stream {name} of the path if the caller may see it (owner or admin), else a 404. */
static bool get_visible(struct api_call *c, struct db_stream *st)
{
    memset(st, 0, sizeof(*st));
    const char *name = router_param(&c->params, "name");
    int err = api_name_valid(name) ? db_stream_get(c->api->db, name, st) : -ENOENT;
    if (err == 0 && c->user.role != DB_ROLE_ADMIN && strcmp(st->owner_id, c->user.id))
        err = -ENOENT;
    if (err < 0) {
        db_stream_clear(st);
        api_fail_db(c, err, "stream");
        return false;
    }
    return true;
}

void api_streams_list(struct api_call *c)
{
    const char *who = c->req->arg ? c->req->arg(c->req->arg_ctx, "user") : NULL;
    struct db_user other = {0};
    const char *owner_id = c->user.id;
    if (c->user.role == DB_ROLE_ADMIN)
        owner_id = NULL;
    if (who && strcmp(who, c->user.name)) {
        if (c->user.role != DB_ROLE_ADMIN) {
            api_fail(c, 403, "forbidden", "only admins may list other users' streams");
            return;
        }
        int err = api_name_valid(who) ? db_user_get(c->api->db, who, &other) : -ENOENT;
        if (err < 0) {
            api_fail_db(c, err, "user");
            return;
        }
        owner_id = other.id;
    } else if (who) {
        owner_id = c->user.id;
    }
    struct db_stream *list;
    size_t n;
    int err = db_stream_list(c->api->db, owner_id, &list, &n);
    db_user_clear(&other);
    if (err < 0) {
        api_fail_db(c, err, "stream");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, stream_json(c->api, &list[i]));
    db_stream_list_free(&list, n);
    api_ok(c, 200, json_pack("{s:o}", "streams", arr));
}

void api_streams_create(struct api_call *c)
{
    const char *name = json_body_str(c->body, "name");
    if (!api_name_valid(name)) {
        api_fail(c, 400, "invalid_field", "field 'name' must match [a-z0-9_-]{1,64}");
        return;
    }
    char key[SECRET_TEXT_MAX], hash[SECRET_HASH_LEN + 1];
    if (secret_new("sk_", key, hash) < 0) {
        api_fail(c, 500, "internal", "cannot make a stream key");
        return;
    }
    struct db_stream st = {.name = (char *)name,
                           .owner_id = c->user.id,
                           .key_hash = hash,
                           /* recorded unless the body says otherwise (issue 6) */
                           .record = !json_is_false(json_object_get(c->body, "record"))};
    int err = db_stream_create(c->api->db, &st);
    if (err < 0) {
        api_fail_db(c, err, "stream");
        return;
    }
    st.owner_name = c->user.name;
    json_t *o = stream_json(c->api, &st);
    json_object_set_new(o, "key", json_string(key));
    api_ok(c, 201, o);
    log_info("api", name, "stream created by '%s'", c->user.name);
    free(st.id);
}

void api_stream_get(struct api_call *c)
{
    struct db_stream st;
    if (!get_visible(c, &st))
        return;
    api_ok(c, 200, stream_json(c->api, &st));
    db_stream_clear(&st);
}

void api_stream_patch(struct api_call *c)
{
    struct db_stream st;
    if (!get_visible(c, &st))
        return;
    bool record = json_is_true(json_object_get(c->body, "record"));
    int err = db_stream_set_record(c->api->db, st.name, record);
    if (err < 0) {
        api_fail_db(c, err, "stream");
    } else {
        st.record = record;
        api_ok(c, 200, stream_json(c->api, &st));
        log_info("api", st.name, "recording turned %s by '%s' (from the next publish)",
                 record ? "on" : "off", c->user.name);
    }
    db_stream_clear(&st);
}

/* Ends the stream's publish if it is live on this node (the kill switch): the network thread
 * does it soon after (hub_registry_stop), as a normal stop with its webhook and recording end. */
void api_end_live(struct api_call *c, const char *stream_id, const char *user_id, const char *why)
{
    if (!c->api->hubs)
        return;
    int n = hub_registry_stop(c->api->hubs, stream_id, user_id, why);
    if (n > 0)
        log_info("api", NULL, "ending %d live publish(es): %s (by '%s')", n, why, c->user.name);
}

void api_stream_delete(struct api_call *c)
{
    struct db_stream st;
    if (!get_visible(c, &st))
        return;
    int err = db_stream_delete(c->api->db, st.name);
    if (err < 0) {
        api_fail_db(c, err, "stream");
    } else {
        api_ok(c, 204, NULL);
        api_end_live(c, st.id, NULL, "the stream was deleted");
    }
    db_stream_clear(&st);
}

/* ?end_live=true|false; false when absent. False after a 400 naming it. */
static bool end_live_param(struct api_call *c, bool *out)
{
    const char *v = c->req->arg ? c->req->arg(c->req->arg_ctx, "end_live") : NULL;
    *out = v && !strcmp(v, "true");
    if (!v || *out || !strcmp(v, "false"))
        return true;
    api_fail(c, 400, "invalid_parameter", "query parameter 'end_live' must be true or false");
    return false;
}

/* The publisher on the old key stays live unless ?end_live=true: rotating a leaked key should
 * not cut a show short, but an admin may want exactly that. */
void api_stream_rotate_key(struct api_call *c)
{
    struct db_stream st;
    bool end_live;
    if (!end_live_param(c, &end_live) || !get_visible(c, &st))
        return;
    char key[SECRET_TEXT_MAX], hash[SECRET_HASH_LEN + 1];
    int err = secret_new("sk_", key, hash);
    if (err == 0)
        err = db_stream_set_key(c->api->db, st.name, hash);
    if (err < 0) {
        api_fail_db(c, err, "stream");
    } else {
        if (end_live)
            api_end_live(c, st.id, NULL, "the stream key was rotated with end_live");
        json_t *o = stream_json(c->api, &st);
        json_object_set_new(o, "key", json_string(key));
        api_ok(c, 200, o);
        log_info("api", st.name, "stream key rotated by '%s'%s", c->user.name,
                 end_live ? " (live publish ended)" : "");
    }
    db_stream_clear(&st);
}

/* /api/live: names are copied under the registry lock, owners looked up after it. */
struct live_list {
    size_t n, cap;
    struct live_entry {
        char name[HUB_NAME_MAX + 1];
        int64_t started_wall_us, started_mono_us;
        uint64_t bytes_in;
        char protocol[8];
    } * items;
};

static void list_cb(void *opaque, struct hub *hub)
{
    struct live_list *l = opaque;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->items = xrealloc(l->items, l->cap * sizeof(*l->items));
    }
    snprintf(l->items[l->n].name, sizeof(l->items[0].name), "%s", hub_name(hub));
    l->items[l->n].started_wall_us = hub_started_wall_us(hub);
    l->items[l->n].started_mono_us = hub_started_mono_us(hub);
    l->items[l->n].bytes_in = hub_bytes_in(hub);
    struct hub_info info;
    hub_info_get(hub, &info); /* safe here: foreach holds the registry lock */
    snprintf(l->items[l->n].protocol, sizeof(l->items[0].protocol), "%s", info.protocol);
    l->n++;
}

void api_live_list(struct api_call *c)
{
    struct live_list l = {0};
    if (c->api->hubs)
        hub_registry_foreach(c->api->hubs, list_cb, &l);
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++) {
        struct db_stream st = {0};
        if (c->api->db)
            db_stream_get(c->api->db, l.items[i].name, &st); /* none: published openly */
        json_t *o = json_pack("{s:s,s:s?,s:o,s:o}", "name", l.items[i].name, "owner",
                              st.owner_name, "started_at", json_time(l.items[i].started_wall_us),
                              "hls_url", hls_url(l.items[i].name));
        if (l.items[i].protocol[0])
            json_object_set_new(o, "protocol", json_string(l.items[i].protocol));
        int viewers = c->api->hls ? hls_viewers(c->api->hls, l.items[i].name) : 0;
        json_object_set_new(o, "viewers", json_integer(viewers > 0 ? viewers : 0));
        /* For charts: the bytes so far (a client's rate over its own interval) and the average
         * since the start, as GET /api/streams/{name} gives it; the ladder's lag. */
        int64_t secs_us = clock_mono_us() - l.items[i].started_mono_us;
        json_object_set_new(o, "bytes_in", json_integer((json_int_t)l.items[i].bytes_in));
        double bps = secs_us > 0 ? (double)l.items[i].bytes_in * 8 * 1e6 / (double)secs_us : 0;
        json_object_set_new(o, "bitrate_bps", json_integer((json_int_t)bps));
        double lag = 0;
        if (c->api->hls)
            hls_transcode_lag(c->api->hls, l.items[i].name, &lag);
        json_object_set_new(o, "transcode_lag_seconds", json_real(lag));
        json_array_append_new(arr, o);
        db_stream_clear(&st);
    }
    free(l.items);
    api_ok(c, 200, json_pack("{s:o}", "live", arr));
}
