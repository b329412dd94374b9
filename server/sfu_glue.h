/* The voice rooms wired together: the signaling server (sfu/signal.h, --ws), the forwarding core
 * (sfu/sfu.h), the join check (sfu/room_access.h) and the API's rooms routes (api_room_ops). */
#ifndef KIBITKA_SERVER_SFU_GLUE_H
#define KIBITKA_SERVER_SFU_GLUE_H

struct api_room_ops;
struct db;
struct loop;
struct metrics;
struct proxy_trust;
struct rtc_transport;
struct sfu;
struct sfu_glue;

/* Binds ws_addr ("ADDR:PORT"; "off": *out stays NULL and 0), at start before the data directory
 * is touched. trusted_proxies: --trusted-proxy, origins: --ws-origin (signal.h; not owned; they
 * must outlive the glue). 0, or -1 after logging why. */
int sfu_glue_bind(const char *ws_addr, struct metrics *metrics,
                  const struct proxy_trust *trusted_proxies, const char *const *origins,
                  int norigins, struct sfu_glue **out);
/* The SFU, for the API's moderation and live state (sfu_kick, sfu_room_snapshot_json ...);
 * NULL with --ws or --rtc off. */
struct sfu *sfu_glue_sfu(const struct sfu_glue *g);
/* The API's live rooms (snapshot, kick, mute, close) over this SFU, opaque g; NULL when there is
 * no SFU. Safe until sfu_glue_destroy: after sfu_glue_stop they see no SFU. */
const struct api_room_ops *sfu_glue_room_ops(struct sfu_glue *g);
/* The port --ws bound, 0 when off. */
int sfu_glue_port(const struct sfu_glue *g);
/* Creates the SFU on rtc and starts serving the signaling. rtc NULL (--rtc off): voice rooms
 * are off and --ws is closed again, with a log line. 0 or -1. */
int sfu_glue_start(struct sfu_glue *g, struct loop *loop, struct rtc_transport *rtc, struct db *db,
                   struct metrics *metrics, int slots, int rejoin_s);
/* Closes every socket and ends the SFU: on the loop's thread once it stopped running, before
 * rtc_transport_destroy and loop_destroy. */
void sfu_glue_stop(struct sfu_glue *g);
/* After loop_destroy (which ran the signaling's last posted jobs). NULL-safe, clears *pg. */
void sfu_glue_destroy(struct sfu_glue **pg);

#endif
