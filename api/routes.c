/* The /api route table: the one list of what the API serves. api.c dispatches by it and
 * openapi.c publishes it, so the document cannot drift from the code. Beside it: the request
 * fields each route accepts, the schemas of the bodies it answers, and its parameters.
 * tests/e2e/openapi.test.mjs checks every answer of a real server against the document. */
#include "api/internal.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct json_field login_fields[] = {
    {"username", JF_STRING, true, "the user's name"},
    {"password", JF_STRING, true, "the user's password"},
};
static const struct json_field me_patch_fields[] = {
    {"old_password", JF_STRING, true, "the current password"},
    {"password", JF_STRING, true, "the new password, at least 8 characters"},
};
static const struct json_field user_create_fields[] = {
    {"name", JF_STRING, true, "[a-z0-9_-]{1,64}"},
    {"password", JF_STRING, true, "at least 8 characters"},
    {"role", JF_STRING, false, "\"user\" (the default) or \"admin\""},
};
static const struct json_field user_patch_fields[] = {
    {"password", JF_STRING, false, "a new password, at least 8 characters"},
    {"role", JF_STRING, false, "\"user\" or \"admin\""},
};
static const struct json_field stream_create_fields[] = {
    {"name", JF_STRING, true, "[a-z0-9_-]{1,64}, unique across all users"},
    {"record", JF_BOOLEAN, false, "record the stream's publishes (default true)"},
};

static const struct json_field stream_patch_fields[] = {
    {"record", JF_BOOLEAN, true, "record the stream's publishes from the next one on"},
};

static const struct json_field recording_patch_fields[] = {
    {"public", JF_BOOLEAN, true,
     "anyone may play it on /watch/<stream> once ready and the stream has ended"},
};

static const struct json_field room_create_fields[] = {
    {"name", JF_STRING, true, "[a-z0-9_-]{1,64}, unique across all users"},
    {"public", JF_BOOLEAN, false,
     "any logged-in user may see and join it with their API token (default false)"},
};
static const struct json_field room_token_fields[] = {
    {"guest", JF_STRING, false,
     "a guest's display name: the token admits a guest (owner or admin only)"},
    {"user", JF_STRING, false,
     "the user the token admits (default: the caller; another user: owner or admin only)"},
    {"display", JF_STRING, false, "the user's display name (default: the user's name)"},
    {"ttl_s", JF_INTEGER, false, "seconds the token is valid, 10 to 86400 (default 600)"},
    {"may_speak", JF_BOOLEAN, false, "false: listen-only (default true)"},
};
static const struct json_field room_mute_fields[] = {
    {"muted", JF_BOOLEAN, true, "true: the participant's audio is not forwarded"},
};

/* ---- the parameters, path and query, by name ---- */

/* P(name, type) opens an entry; designated initializers name the rest */
#define P(n, t) .name = n, .type = t
#define NAME_RE "^[a-z0-9_-]{1,64}$"
#define ID_RE "^[0-9a-f]{32}$"

const struct api_prop api_params[] = {
    {P("name", "string"), .pattern = NAME_RE,
     .description = "a user's, a stream's or a room's name"},
    {P("participant", "string"), .pattern = "^[A-Za-z0-9_-]{1,23}$",
     .description = "a participant's id in the room (GET /api/rooms/{name})"},
    {P("id", "string"), .pattern = ID_RE, .description = "a recording's id"},
    /* what get_chunk (recording_media.c) accepts; the URLs it hands out end in .mp4 */
    {P("seq", "string"), .pattern = "^[1-9][0-9]{0,9}(\\.mp4)?$",
     .description = "a chunk's number from 1, optionally followed by .mp4 (the URLs handed out "
                    "end in .mp4)"},
    {P("user", "string"), .pattern = NAME_RE, .description = "only this user's (admins)"},
    {P("stream", "string"), .pattern = NAME_RE, .description = "only this stream's"},
    {P("from", "string"), .description = "started at or after: unix seconds or an RFC 3339 time "
                                         "(2026-01-02T03:04:05Z)"},
    {P("to", "string"), .description = "started before: unix seconds or an RFC 3339 time"},
    {P("limit", "integer"), .min = 1, .max = 500, .description = "at most this many (default 50)"},
    {P("offset", "integer"), .min = 0, .max = 1000000000, .description = "skip this many first"},
    {P("expires", "integer"), .description = "a signed URL's expiry (unix seconds), as handed out"},
    {P("sig", "string"), .pattern = "^[0-9a-f]{64}$", .description = "a signed URL's signature"},
    {P("end_live", "boolean"),
     .description = "also end the stream's live publish at once (default false: the publisher "
                    "on the old key stays live until it stops)"},
};
const size_t api_nparams = N(api_params);

/* ---- the response bodies ---- */

#define TIME .format = "date-time"
#define URL .format = "uri-reference"

static const struct api_prop user_props[] = {
    {P("name", "string"), .pattern = NAME_RE},
    {P("role", "string"), .enums = "user,admin"},
    {P("created_at", "string"), TIME},
};
static const struct api_prop login_props[] = {
    {P("token", "string"), .pattern = "^tk_", .description = "send as Authorization: Bearer"},
    {P("expires_at", "string"), TIME},
    {P("user", "User")},
};
static const struct api_prop users_props[] = {{P("users", "User"), .flags = API_ARRAY}};
static const struct api_prop video_props[] = {
    {P("codec", "string"), .description = "\"h264 High 3.1\""},
    {P("width", "integer")},
    {P("height", "integer")},
    {P("frame_rate", "number")},
};
static const struct api_prop audio_props[] = {
    {P("codec", "string"), .description = "\"aac LC\""},
    {P("sample_rate", "integer")},
    {P("channels", "integer")},
};
static const struct api_prop media_props[] = {
    {P("video", "MediaVideo"), .flags = API_OPTIONAL},
    {P("audio", "MediaAudio"), .flags = API_OPTIONAL},
};
#define LIVE_ONLY .flags = API_OPTIONAL, .description = "only while live"
static const struct api_prop stream_props[] = {
    {P("name", "string"), .pattern = NAME_RE},
    {P("owner", "string"), .flags = API_NULLABLE, .description = "the owner's name"},
    {P("record", "boolean"), .description = "its publishes are recorded"},
    {P("created_at", "string"), TIME},
    {P("hls_url", "string"), URL},
    {P("live", "boolean")},
    {P("started_at", "string"), LIVE_ONLY, TIME},
    {P("bitrate_bps", "integer"), LIVE_ONLY},
    {P("media", "Media"), .flags = API_OPTIONAL | API_NULLABLE,
     .description = "only while live; null until the source's codecs are known"},
    {P("viewers", "integer"), LIVE_ONLY},
    {P("protocol", "string"), .flags = API_OPTIONAL, .enums = "rtmp,whip",
     .description = "only while live: how it is published"},
};
static const struct api_prop key_props[] = {
    {P("key", "string"), .pattern = "^sk_", .description = "the stream key, shown only this once"},
};
static const struct api_prop streams_props[] = {{P("streams", "Stream"), .flags = API_ARRAY}};
static const struct api_prop live_props[] = {
    {P("name", "string"), .pattern = NAME_RE},
    {P("owner", "string"), .flags = API_NULLABLE, .description = "null when published openly"},
    {P("started_at", "string"), TIME},
    {P("hls_url", "string"), URL},
    {P("protocol", "string"), .flags = API_OPTIONAL, .enums = "rtmp,whip",
     .description = "how it is published"},
    {P("viewers", "integer"),
     .description = "distinct addresses that fetched its playlists in the last 30 s"},
    {P("bytes_in", "integer"),
     .description = "bytes received from the publisher so far (a client's rate over its own "
                    "interval)"},
    {P("bitrate_bps", "integer"), .description = "the average since the start"},
    {P("transcode_lag_seconds", "number"),
     .description = "how far its transcode worker is behind the source (0 without a ladder)"},
};
static const struct api_prop lives_props[] = {{P("live", "LiveStream"), .flags = API_ARRAY}};
static const struct api_prop config_props[] = {
    {P("ws_port", "integer"), .flags = API_NULLABLE,
     .description =
         "the voice signaling WebSocket's port (--ws) on this host; null: no voice rooms"},
    {P("ws_path", "string"), .description = "its path: /rtc"},
    {P("proxied", "boolean"),
     .description = "the request came through a reverse proxy (X-Forwarded-Proto): connect to "
                    "ws_path on the page's own origin"},
};
static const struct api_prop recording_props[] = {
    {P("id", "string"), .pattern = ID_RE},
    {P("stream", "string")},
    {P("user", "string"), .description = "the owner's name; \"_open\" when published openly"},
    {P("state", "string"), .enums = "recording,finished,ready,failed"},
    {P("started_at", "string"), TIME},
    {P("ended_at", "string"), .flags = API_NULLABLE, TIME},
    {P("duration_seconds", "number")},
    {P("bytes", "integer")},
    {P("chunks", "integer")},
    {P("chunks_uploaded", "integer")},
    {P("incomplete", "boolean"),
     .description = "media is missing (recording paused: the disk or the spool was full); see "
                    "gaps"},
    {P("gap_seconds", "number"), .description = "the media missing, in all"},
    {P("public", "boolean"),
     .description = "anyone may play it (GET /api/streams/{name}/recording offers the last "
                    "public ready one)"},
    {P("url", "string"), URL},
};
static const struct api_prop public_recording_props[] = {
    {P("stream", "string")},
    {P("started_at", "string"), TIME},
    {P("ended_at", "string"), .flags = API_NULLABLE, TIME},
    {P("duration_seconds", "number")},
    {P("playlist_url", "string"), URL,
     .description = "the VOD playlist, signed: plays without a token until the link expires"},
};
static const struct api_prop chunk_props[] = {
    {P("seq", "integer"), .min = 1},
    {P("object_key", "string"), .flags = API_NULLABLE},
    {P("bytes", "integer")},
    {P("duration_seconds", "number")},
    {P("state", "string"), .enums = "recording,pending,uploading,uploaded,failed"},
    {P("started_at", "string"), .flags = API_NULLABLE, TIME},
    {P("ended_at", "string"), .flags = API_NULLABLE, TIME},
    {P("uploaded_at", "string"), .flags = API_NULLABLE, TIME},
    {P("gap_before_seconds", "number"),
     .description = "media missing just before this chunk (0: it follows on)"},
    {P("url", "string"), .flags = API_OPTIONAL, URL, .description = "signed; once uploaded"},
};
static const struct api_prop gap_props[] = {
    {P("before_chunk", "integer"), .flags = API_NULLABLE,
     .description = "the chunk the gap precedes; null: at the end of the recording"},
    {P("seconds", "number")},
};
static const struct api_prop detail_props[] = {
    {P("chunk_list", "Chunk"), .flags = API_ARRAY},
    {P("gaps", "Gap"), .flags = API_ARRAY,
     .description = "where media is missing; the VOD playlist has an EXT-X-DISCONTINUITY there"},
    {P("playlist_url", "string"), URL, .description = "signed"},
};
static const struct api_prop recordings_props[] = {
    {P("recordings", "Recording"), .flags = API_ARRAY},
    {P("total", "integer"), .description = "how many match, over every page"},
    {P("limit", "integer")},
    {P("offset", "integer")},
    {P("next_offset", "integer"), .flags = API_NULLABLE, .description = "null on the last page"},
};
static const struct api_prop room_props[] = {
    {P("name", "string"), .pattern = NAME_RE},
    {P("owner", "string"), .flags = API_NULLABLE, .description = "the owner's name"},
    {P("public", "boolean"), .description = "any logged-in user may see and join it"},
    {P("created_at", "string"), TIME},
};
static const struct api_prop rooms_props[] = {{P("rooms", "Room"), .flags = API_ARRAY}};
static const struct api_prop public_member_props[] = {
    {P("display", "string"), .description = "the name shown; text, never markup"},
    {P("speaking", "boolean")},
};
static const struct api_prop public_room_props[] = {
    {P("name", "string"), .pattern = NAME_RE},
    {P("members", "PublicMember"), .flags = API_ARRAY,
     .description = "who is in it now (this node's SFU)"},
};
static const struct api_prop public_rooms_props[] = {
    {P("rooms", "PublicRoom"), .flags = API_ARRAY}};
static const struct api_prop participant_props[] = {
    {P("id", "string"), .description = "this connection's id in the room"},
    {P("user", "string"), .flags = API_NULLABLE, .description = "the user's name; null: a guest"},
    {P("display", "string"), .description = "the name shown; text, never markup"},
    {P("speaking", "boolean")},
    {P("muted", "boolean"), .description = "by themselves or by a moderator"},
    {P("joined_at", "string"), .flags = API_NULLABLE, TIME},
    {P("packets_in", "integer"), .description = "audio packets received from them"},
    {P("packets_forwarded", "integer"), .description = "copies of their packets sent to others"},
    {P("packets_lost", "integer"), .description = "of theirs, lost on the way in"},
    {P("jitter_ms", "number"), .description = "of their incoming audio"},
    {P("rtt_ms", "number"), .flags = API_NULLABLE, .description = "null until measured"},
    {P("slots_in_use", "integer"), .description = "speakers they are receiving now"},
};
static const struct api_prop room_detail_props[] = {
    {P("participants", "Participant"), .flags = API_ARRAY,
     .description = "who is in it now (live state of this node's SFU)"},
};
static const struct api_prop room_token_props[] = {
    {P("token", "string"), .pattern = "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{43}$",
     .description = "send as the token of the WebSocket join message (--ws, path /rtc)"},
    {P("room", "string"), .pattern = NAME_RE},
    {P("user", "string"), .flags = API_NULLABLE, .description = "null: a guest"},
    {P("display", "string")},
    {P("may_speak", "boolean"), .description = "false: listen-only"},
    {P("expires_at", "string"), TIME, .description = "joins after this are refused"},
};
static const struct api_prop server_props[] = {
    {P("version", "string")},
    {P("started_at", "string"), TIME},
    {P("uptime_seconds", "integer")},
    {P("live_streams", "integer")},
    {P("upload_queue_chunks", "integer"), .description = "closed chunks waiting for the store"},
    {P("upload_oldest_pending_seconds", "integer"),
     .description = "age of the oldest chunk waiting for the store (0 when none)"},
    {P("upload_failures_total", "integer"), .description = "failed upload attempts (retried)"},
    {P("uploads_total", "integer"), .description = "chunks the store confirmed"},
    {P("spool_bytes", "integer"), .description = "bytes of chunks in the local spool"},
    {P("storage_errors_total", "integer"),
     .description = "uploads refused for credentials or a missing bucket"},
    {P("storage_access_denied", "boolean"),
     .description = "the store refuses the credentials now (see the log)"},
    {P("recorder_disk_full", "boolean"),
     .description = "the recorder found the disk full (recording paused)"},
    {P("recordings_active", "integer")},
    {P("webhook_deliveries_total", "integer"), .description = "deliveries answered 2xx"},
    {P("webhook_failures_total", "integer"),
     .description = "deliveries refused (4xx) or given up after retries"},
    {P("webhook_dropped_total", "integer"),
     .description = "events dropped unsent (queue full, or the server stopping)"},
};
static const struct api_prop openapi_props[] = {
    {P("openapi", "string"), .enums = "3.0.3"},
    {P("info", "object")},
    {P("paths", "object")},
    {P("components", "object")},
};
static const struct api_prop error_detail_props[] = {
    {P("code", "string"),
     .enums = "bad_json,invalid_body,unknown_field,missing_field,invalid_field,"
              "invalid_parameter,unauthorized,invalid_credentials,forbidden,link_expired,"
              "link_invalid,not_found,not_uploaded,method_not_allowed,conflict,"
              "payload_too_large,range_not_satisfiable,rate_limited,internal,storage_error,"
              "unavailable"},
    {P("message", "string"), .description = "for people; may change"},
};
static const struct api_prop error_props[] = {{P("error", "ErrorDetail")}};

#define PROPS(p) p, N(p)

const struct api_schema api_schemas[] = {
    {"User", NULL, PROPS(user_props), "a user"},
    {"Login", NULL, PROPS(login_props), "a new session"},
    {"UserList", NULL, PROPS(users_props), "every user"},
    {"MediaVideo", NULL, PROPS(video_props), "the source's video"},
    {"MediaAudio", NULL, PROPS(audio_props), "the source's audio"},
    {"Media", NULL, PROPS(media_props), "the source's codecs and sizes"},
    {"Stream", NULL, PROPS(stream_props), "a stream and its live state"},
    {"StreamWithKey", "Stream", PROPS(key_props), "a stream and its new key"},
    {"StreamList", NULL, PROPS(streams_props), "streams"},
    {"LiveStream", NULL, PROPS(live_props), "a stream being published"},
    {"LiveList", NULL, PROPS(lives_props), "the streams being published"},
    {"Config", NULL, PROPS(config_props), "what the pages need to know about this server"},
    {"Recording", NULL, PROPS(recording_props), "a recording"},
    {"Chunk", NULL, PROPS(chunk_props), "a recording's chunk"},
    {"Gap", NULL, PROPS(gap_props), "media missing from a recording"},
    {"RecordingDetail", "Recording", PROPS(detail_props), "a recording and its chunks"},
    {"PublicRecording", NULL, PROPS(public_recording_props),
     "a stream's last public recording, for anyone"},
    {"RecordingList", NULL, PROPS(recordings_props), "a page of recordings"},
    {"Room", NULL, PROPS(room_props), "a voice room"},
    {"RoomList", NULL, PROPS(rooms_props), "voice rooms"},
    {"PublicMember", NULL, PROPS(public_member_props),
     "someone in a public voice room, as anyone may see them"},
    {"PublicRoom", NULL, PROPS(public_room_props), "a public voice room and who is in it"},
    {"PublicRoomList", NULL, PROPS(public_rooms_props), "the public voice rooms"},
    {"Participant", NULL, PROPS(participant_props), "someone in a voice room now"},
    {"RoomDetail", "Room", PROPS(room_detail_props), "a voice room and who is in it"},
    {"RoomToken", NULL, PROPS(room_token_props), "a join token for a voice room"},
    {"ServerStatus", NULL, PROPS(server_props),
     "the server's health: uploads, storage, webhooks (the figures /metrics also has)"},
    {"OpenAPI", NULL, PROPS(openapi_props), "this document"},
    {"ErrorDetail", NULL, PROPS(error_detail_props), "what went wrong"},
    {"Error", NULL, PROPS(error_props), "the body of every error"},
};
const size_t api_nschemas = N(api_schemas);

/* ---- the routes ---- */

#define BODY(f) .body = f, .nbody = N(f)
#define GET(p) .r = {"GET", p}
#define POST(p) .r = {"POST", p}
#define PATCH(p) .r = {"PATCH", p}
#define DELETE(p) .r = {"DELETE", p}

const struct api_route api_routes[] = {
    {POST("/api/auth/login"), api_auth_login, API_PUBLIC, 200,
     "Log in; returns a bearer token valid for 7 days", BODY(login_fields), .result = "Login",
     .statuses = "401 429"},
    {POST("/api/auth/logout"), api_auth_logout, API_USER, 204, "Revoke the presented token"},
    {GET("/api/me"), api_me_get, API_USER, 200, "The caller", .result = "User"},
    {PATCH("/api/me"), api_me_patch, API_USER, 200, "Change the caller's password",
     BODY(me_patch_fields), .result = "User", .statuses = "403 429"},
    {GET("/api/users"), api_users_list, API_ADMIN, 200, "Every user (admins)",
     .result = "UserList"},
    {POST("/api/users"), api_users_create, API_ADMIN, 201, "Create a user (admins)",
     BODY(user_create_fields), .result = "User", .statuses = "409"},
    {GET("/api/users/{name}"), api_user_get, API_ADMIN, 200, "One user (admins)", .result = "User",
     .statuses = "404"},
    {PATCH("/api/users/{name}"), api_user_patch, API_ADMIN, 200,
     "Change a user's password or role (admins)", BODY(user_patch_fields), .result = "User",
     .statuses = "404 409"},
    {DELETE("/api/users/{name}"), api_user_delete, API_ADMIN, 204,
     "Delete a user with their sessions and streams (admins); their live publishes end at once",
     .statuses = "404 409"},
    {GET("/api/streams"), api_streams_list, API_USER, 200,
     "The caller's streams; admins see all, or one user's with ?user=", .query = "user",
     .result = "StreamList", .statuses = "403 404"},
    {POST("/api/streams"), api_streams_create, API_USER, 201,
     "Create a stream; the response holds its key, shown only this once",
     BODY(stream_create_fields), .result = "StreamWithKey", .statuses = "409"},
    {GET("/api/streams/{name}"), api_stream_get, API_USER, 200,
     "One stream with its live state (owner or admin)", .result = "Stream", .statuses = "404"},
    {PATCH("/api/streams/{name}"), api_stream_patch, API_USER, 200,
     "Turn the stream's recording on or off, from its next publish (owner or admin)",
     BODY(stream_patch_fields), .result = "Stream", .statuses = "404"},
    {DELETE("/api/streams/{name}"), api_stream_delete, API_USER, 204,
     "Delete a stream (owner or admin); its live publish ends at once", .statuses = "404"},
    {POST("/api/streams/{name}/key"), api_stream_rotate_key, API_USER, 200,
     "Replace the stream key; the old one stops working at once for new publishes, and with "
     "end_live=true the live publish on it ends too",
     .query = "end_live", .result = "StreamWithKey", .statuses = "404"},
    {GET("/api/recordings"), api_recordings_list, API_USER, 200,
     "Recordings, newest first: the caller's, or every one for admins; filters stream, user, "
     "from and to (started at, unix seconds or RFC 3339), pages of limit (default 50, at most "
     "500) from offset, with the total",
     .query = "stream,user,from,to,limit,offset", .result = "RecordingList", .statuses = "403"},
    {GET("/api/recordings/{id}"), api_recording_get, API_USER, 200,
     "One recording with its chunks, and signed playlist and chunk URLs (owner or admin)",
     .result = "RecordingDetail", .statuses = "404"},
    {PATCH("/api/recordings/{id}"), api_recording_patch, API_USER, 200,
     "Make a recording public or private (owner or admin): its stream's page offers the last "
     "public ready one to anyone once the stream has ended",
     BODY(recording_patch_fields), .result = "Recording", .statuses = "404"},
    {DELETE("/api/recordings/{id}"), api_recording_delete, API_USER, 204,
     "Delete a recording's objects from the store, then its rows; 409 while it is recorded or "
     "uploaded",
     .statuses = "404 409 502"},
    {GET("/api/recordings/{id}/index.m3u8"), api_recording_playlist, API_SIGNED, 200,
     "An HLS playlist over the uploaded chunks (VOD once the recording is ready); a bearer "
     "token or a signed URL (playlist_url)",
     .query = "expires,sig", .result = "application/vnd.apple.mpegurl", .statuses = "404"},
    {GET("/api/recordings/{id}/chunks/{seq}"), api_recording_chunk, API_SIGNED, 200,
     "An uploaded chunk (fMP4): the file (one Range honoured), or a 302 to a presigned S3 URL "
     "valid 300 s; 404 not_uploaded before it is in the store; a bearer token or a signed URL",
     .query = "expires,sig", .result = "video/mp4", .statuses = "206 302 404 416"},
    {GET("/api/rooms"), api_rooms_list, API_USER, 200,
     "Voice rooms: the caller's own and the public ones; admins see all", .result = "RoomList"},
    {POST("/api/rooms"), api_rooms_create, API_USER, 201,
     "Create a voice room, owned by the caller", BODY(room_create_fields), .result = "Room",
     .statuses = "409"},
    {GET("/api/rooms/{name}"), api_room_get, API_USER, 200,
     "One voice room with who is in it now (public rooms: anyone; private: owner or admin)",
     .result = "RoomDetail", .statuses = "404"},
    {DELETE("/api/rooms/{name}"), api_room_delete, API_USER, 204,
     "Delete a voice room (owner or admin); everyone in it is disconnected", .statuses = "403 404"},
    {POST("/api/rooms/{name}/token"), api_room_token, API_USER, 201,
     "A short-lived join token: for the caller (anyone, in a public room), or for another user "
     "or a guest (owner or admin)",
     BODY(room_token_fields), .result = "RoomToken", .statuses = "403 404"},
    {POST("/api/rooms/{name}/participants/{participant}/kick"), api_room_kick, API_USER, 204,
     "Disconnect a participant (owner or admin); 503 when voice rooms are not running",
     .statuses = "403 404"},
    {POST("/api/rooms/{name}/participants/{participant}/mute"), api_room_mute, API_USER, 204,
     "Server-mute or unmute a participant (owner or admin); 503 when voice rooms are not running",
     BODY(room_mute_fields), .statuses = "403 404"},
    {GET("/api/streams/{name}/recording"), api_stream_last_recording, API_PUBLIC, 200,
     "The stream's last public ready recording with a signed VOD playlist URL (public, for "
     "/watch/<stream> once the stream has ended); 404 when it has none",
     .result = "PublicRecording", .statuses = "404"},
    {GET("/api/public/rooms"), api_rooms_public, API_PUBLIC, 200,
     "The public voice rooms with the display names of who is in them and who speaks (public, "
     "for the home page; no user names or ids)",
     .result = "PublicRoomList"},
    {GET("/api/live"), api_live_list, API_PUBLIC, 200, "What is live now (public)",
     .result = "LiveList"},
    {GET("/api/streams/{name}/thumbnail.jpg"), api_stream_thumbnail, API_PUBLIC, 200,
     "A JPEG (at most 320 px wide) of the live stream's latest keyframe, made at most every "
     "10 s (public, like /api/live and the stream's HLS); 404 when it is not live or has had no "
     "keyframe yet; 503 with Retry-After when the thumbnail worker is busy or stopping",
     .result = "image/jpeg", .statuses = "404 503"},
    {GET("/api/server"), api_server_status, API_ADMIN, 200,
     "The server's health (admins): upload queue, storage errors, webhook deliveries, live "
     "streams, uptime and version",
     .result = "ServerStatus"},
    {GET("/api/config"), api_config, API_PUBLIC, 200,
     "Where the voice signaling WebSocket is (public; the /voice page asks)", .result = "Config"},
    {GET("/api/openapi.json"), api_openapi, API_PUBLIC, 200, "This document", .result = "OpenAPI"},
};

const size_t api_nroutes = N(api_routes);
