# Writes a minimal Janus 1.x configuration to DIR (sourced by sfu_janus.sh): the VideoRoom plugin
# and the plain-HTTP transport only, on 127.0.0.1:PORT; ICE gathers on loopback only.
janus_conf() { # dir, http-port
    local d=$1 port=$2 lib=/usr/lib/x86_64-linux-gnu/janus
    mkdir -p "$d"
    cat >"$d/janus.jcfg" <<JCFG
general: {
    configs_folder = "$d"
    plugins_folder = "$lib/plugins"
    transports_folder = "$lib/transports"
    events_folder = "$lib/events"
    loggers_folder = "$lib/loggers"
    debug_level = 3
    session_timeout = 120
    hide_dependencies = true
}
certificates: {
}
media: {
    rtp_port_range = "30000-39999"
}
nat: {
    full_trickle = false
    ice_lite = true
    ice_enforce_list = "127.0.0.1"
    ignore_mdns = true
}
plugins: {
    disable = "libjanus_audiobridge.so,libjanus_duktape.so,libjanus_echotest.so,libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_streaming.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_voicemail.so"
}
transports: {
    disable = "libjanus_websockets.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so"
}
events: {
    broadcast = false
}
loggers: {
    disable = "libjanus_jsonlog.so"
}
JCFG
    cat >"$d/janus.transport.http.jcfg" <<JCFG
general: {
    json = "compact"
    base_path = "/janus"
    http = true
    port = $port
    ip = "127.0.0.1"
    https = false
}
admin: {
    admin_http = false
}
JCFG
    cat >"$d/janus.plugin.videoroom.jcfg" <<JCFG
general: {
}
JCFG
}
