/*
 * wasmsock.h - the C SDK for wasmsock plugins (ABI version 1).
 *
 * A plugin is a WebAssembly module that holds the application logic of a WebSocket service run
 * by the wasmsock host. This header declares, with the exact signatures of abi/ABI.md (the
 * contract):
 *
 *   - the host functions, imported from module "wasmsock" (wasmsock_msg_read, wasmsock_send,
 *     wasmsock_broadcast, wasmsock_join, wasmsock_leave, wasmsock_close, wasmsock_conn_get,
 *     wasmsock_log);
 *   - the exports the host calls (on_connect, on_message, on_close, and the optional on_start),
 *     already marked for export: a plugin only defines them;
 *   - the numbers of the ABI (statuses, kinds, flags, log levels, limits) as enums and macros;
 *   - small inline helpers for NUL-terminated strings, and, in wasmsock.c, helpers that read a
 *     payload, read a conn_get value, and format log records.
 *
 * Build a plugin as a WASI reactor, with wasmsock.c beside it:
 *
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 -I sdk/c \
 *         -o plugin.wasm plugin.c sdk/c/wasmsock.c
 *
 * -mexec-model=reactor matters: it makes the module export _initialize (which the host calls
 * once, to set up libc) instead of _start.
 *
 * The smallest plugin, an echo:
 *
 *   #include <stdlib.h>
 *   #include "wasmsock.h"
 *
 *   WASMSOCK_PLUGIN();
 *
 *   int32_t on_connect(uint64_t conn, int32_t flags) { return WASMSOCK_ACCEPT; }
 *
 *   void on_message(uint64_t conn, int32_t kind, int32_t len) {
 *       int32_t n;
 *       uint8_t *data = wasmsock_read_alloc(len, &n);  // from malloc, NUL-terminated
 *       if (data != NULL) wasmsock_send(conn, kind, data, n);
 *       free(data);
 *   }
 *
 *   void on_close(uint64_t conn, int32_t code, int32_t reason_len) {}
 *
 * The host calls one export at a time per instance and host functions never call back into the
 * module, so a plugin needs no locks. Every host function returns a status: >= 0 is success (a
 * count or a length where the function says so), < 0 is one of enum wasmsock_status; treat any
 * negative value as an error, including ones this header does not name.
 */
#ifndef WASMSOCK_H
#define WASMSOCK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header implements; the marker export wasmsock_abi_v1 declares it. */
#define WASMSOCK_ABI_VERSION 1

/* Statuses returned by the host functions (abi/ABI.md, "Status codes"). */
typedef enum wasmsock_status {
    WASMSOCK_OK = 0,                    /* success; >= 0 is a count or a length where defined */
    WASMSOCK_ERR_BAD_POINTER = -1,      /* a (ptr, len) range is outside the module's memory */
    WASMSOCK_ERR_UNKNOWN_CONN = -2,     /* no open connection of this plugin has that id */
    WASMSOCK_ERR_INVALID_CODE = -3,     /* a close code an endpoint may not send */
    WASMSOCK_ERR_NOT_SUPPORTED = -4,    /* the host does not implement the function */
    WASMSOCK_ERR_NOT_FOUND = -5,        /* conn_get: no value for that key */
    WASMSOCK_ERR_INVALID_ARGUMENT = -6, /* bad kind, level, group name, key length, or not UTF-8 */
    WASMSOCK_ERR_CLOSED = -7,           /* the connection is closing */
    WASMSOCK_ERR_FORBIDDEN = -8,        /* the route forbids it (send on a receive-only route) */
    WASMSOCK_ERR_NO_MESSAGE = -9,       /* msg_read in a call that carries no payload */
    WASMSOCK_ERR_TOO_LARGE = -10        /* over the route's max_message_bytes */
} wasmsock_status;

/* Message kinds: the RFC 6455 opcodes of the frames that carry them. */
typedef enum wasmsock_kind {
    WASMSOCK_TEXT = 1,  /* UTF-8 text */
    WASMSOCK_BINARY = 2 /* arbitrary bytes */
} wasmsock_kind;

/* Log levels of wasmsock_log. */
typedef enum wasmsock_level {
    WASMSOCK_LOG_DEBUG = 0,
    WASMSOCK_LOG_INFO = 1,
    WASMSOCK_LOG_WARN = 2,
    WASMSOCK_LOG_ERROR = 3
} wasmsock_level;

/* on_connect flag: the connection was already open; the host is replaying it to this instance
 * (after a reload or an instance replacement). Rebuild state, do not greet again. */
#define WASMSOCK_FLAG_RESUMED 1

/* on_connect results. Besides these, an HTTP status 400-599 refuses the handshake, and a close
 * code 4000-4999 completes it and closes the connection at once with that code. */
#define WASMSOCK_ACCEPT 0

/* Limits, in bytes. */
#define WASMSOCK_MAX_CLOSE_REASON 123 /* a close reason; longer ones are cut by the host */
#define WASMSOCK_MAX_GROUP_NAME 128   /* a group name */
#define WASMSOCK_MAX_CONN_GET_KEY 256 /* a conn_get key */

/* Marks a declaration as an import from the wasmsock host, or as an export of the module. */
#define WASMSOCK_IMPORT(name) __attribute__((import_module("wasmsock"), import_name(name)))
#define WASMSOCK_EXPORT(name) __attribute__((export_name(name)))

/*
 * The marker export every plugin must have: write WASMSOCK_PLUGIN(); once, at file scope, in
 * one source file of the module.
 */
#define WASMSOCK_PLUGIN()                                           \
    WASMSOCK_EXPORT("wasmsock_abi_v1") void wasmsock_abi_v1(void); \
    void wasmsock_abi_v1(void) {}                                   \
    typedef int wasmsock_plugin_marker_defined_

/* ---- Exports: the plugin defines these; the declarations export them. ---- */

/* A connection asks to open (flags & WASMSOCK_FLAG_RESUMED == 0), or is replayed to this
 * instance (flags & WASMSOCK_FLAG_RESUMED, result ignored). Returns WASMSOCK_ACCEPT, an HTTP
 * status 400-599, or a close code 4000-4999. Required. */
WASMSOCK_EXPORT("on_connect") int32_t on_connect(uint64_t conn, int32_t flags);

/* A message of len bytes and kind WASMSOCK_TEXT or WASMSOCK_BINARY arrived; read it with
 * wasmsock_msg_read (or wasmsock_read_all) during this call. Required. */
WASMSOCK_EXPORT("on_message") void on_message(uint64_t conn, int32_t kind, int32_t len);

/* The connection has closed, with this close code; the reason (reason_len <= 123 bytes) is the
 * payload. Called once for every accepted connection; ignore ids you do not know. Required. */
WASMSOCK_EXPORT("on_close") void on_close(uint64_t conn, int32_t code, int32_t reason_len);

/* Called once per instance, before any connection; the payload is the plugin's config table as
 * a JSON object. Return 0 to start, anything else to refuse. Optional: leave it undefined and
 * the module does not export it. */
WASMSOCK_EXPORT("on_start") int32_t on_start(int32_t config_len);

/* ---- Host functions (abi/ABI.md, "Host functions"). ---- */

/* Copies the next bytes of the current event's payload to [dst, dst + cap); returns the count,
 * 0 at the end. */
WASMSOCK_IMPORT("msg_read") int32_t wasmsock_msg_read(uint8_t *dst, int32_t cap);

/* Enqueues a message to conn; returns 0. */
WASMSOCK_IMPORT("send")
int32_t wasmsock_send(uint64_t conn, int32_t kind, const uint8_t *ptr, int32_t len);

/* Enqueues a message to every member of a group, in the namespace of the connection whose event
 * is being handled, except except_conn (0: nobody); returns how many it reached. */
WASMSOCK_IMPORT("broadcast")
int32_t wasmsock_broadcast(const uint8_t *group_ptr, int32_t group_len, int32_t kind,
                           const uint8_t *ptr, int32_t len, uint64_t except_conn);

/* Adds conn to a group of its namespace (not a "user:" group: the host manages those). */
WASMSOCK_IMPORT("join")
int32_t wasmsock_join(uint64_t conn, const uint8_t *group_ptr, int32_t group_len);

/* Removes conn from a group; not being in it is not an error. */
WASMSOCK_IMPORT("leave")
int32_t wasmsock_leave(uint64_t conn, const uint8_t *group_ptr, int32_t group_len);

/* Starts the closing handshake with a close code (1000-1003, 1007-1014, 3000-4999) and a
 * UTF-8 reason, cut to 123 bytes by the host. */
WASMSOCK_IMPORT("close")
int32_t wasmsock_close(uint64_t conn, int32_t code, const uint8_t *reason_ptr, int32_t reason_len);

/* Writes min(n, cap) bytes of the value of key about conn to dst and returns its full length
 * n. Keys: id, route, path, query, query.NAME, header.NAME, remote_addr, subprotocol, user,
 * namespace. Values are not NUL-terminated (wasmsock_get is). */
WASMSOCK_IMPORT("conn_get")
int32_t wasmsock_conn_get(uint64_t conn, const uint8_t *key_ptr, int32_t key_len, uint8_t *dst,
                          int32_t cap);

/* Writes a record to the host's log at level (WASMSOCK_LOG_DEBUG to WASMSOCK_LOG_ERROR). */
WASMSOCK_IMPORT("log") int32_t wasmsock_log(int32_t level, const uint8_t *ptr, int32_t len);

/* ---- Helpers (wasmsock.c). ---- */

/* Describes a status as the Go SDK does: "ok", "unknown connection", "connection closed", ...
 * and "unknown status" for a negative value the ABI does not define. */
const char *wasmsock_status_text(int32_t status);

/* Reads the current event's payload of len bytes into dst, which must have room for len bytes,
 * calling msg_read until it is all there. Returns the number of bytes read (fewer than len
 * only if the host had fewer), or a negative status. */
int32_t wasmsock_read_all(void *dst, int32_t len);

/* Like wasmsock_read_all, into a buffer from malloc of len + 1 bytes, NUL-terminated (so text
 * can be used as a C string, up to its first NUL). *n gets the number of bytes read, or the
 * negative status. Returns NULL when reading fails or memory runs out (*n is then
 * WASMSOCK_ERR_TOO_LARGE); free the result. */
uint8_t *wasmsock_read_alloc(int32_t len, int32_t *n);

/* Copies the value of key about conn into dst as a NUL-terminated string, as snprintf does:
 * writes at most cap - 1 bytes and a NUL (nothing when cap is 0) and returns the value's full
 * length, so a result >= cap means it was cut. Returns a negative status (and sets dst to "")
 * when there is no value: WASMSOCK_ERR_NOT_FOUND, WASMSOCK_ERR_UNKNOWN_CONN, ... */
int32_t wasmsock_get(uint64_t conn, const char *key, char *dst, size_t cap);

/* Returns the value of key about conn in a NUL-terminated buffer from malloc (free it), asking
 * the host again with a buffer of the right size when the value is long. *len gets its length
 * or the negative status; NULL when there is no value or memory runs out. */
char *wasmsock_get_alloc(uint64_t conn, const char *key, int32_t *len);

/* Broadcasts to the host-managed group "user:<user>": every connection of that user in the
 * namespace being handled, except except_conn. Returns the count or a negative status. */
int32_t wasmsock_send_to_user(const char *user, int32_t kind, const void *data, size_t len,
                              uint64_t except_conn);

/* Formats a log record as printf does and writes it at level. Long records are cut at 4 KiB. */
void wasmsock_logf(int32_t level, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

#define wasmsock_debugf(...) wasmsock_logf(WASMSOCK_LOG_DEBUG, __VA_ARGS__)
#define wasmsock_infof(...) wasmsock_logf(WASMSOCK_LOG_INFO, __VA_ARGS__)
#define wasmsock_warnf(...) wasmsock_logf(WASMSOCK_LOG_WARN, __VA_ARGS__)
#define wasmsock_errorf(...) wasmsock_logf(WASMSOCK_LOG_ERROR, __VA_ARGS__)

/* ---- Inline helpers for NUL-terminated strings and common checks. ---- */

/* Reports whether flags (of on_connect) say the connection is replayed. */
static inline int wasmsock_is_resumed(int32_t flags) {
    return (flags & WASMSOCK_FLAG_RESUMED) != 0;
}

/* Reports whether an endpoint may send code in a close frame (RFC 6455 §7.4). */
static inline int wasmsock_valid_close_code(int32_t code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/* Sends len bytes at data as a message of kind. */
static inline int32_t wasmsock_send_bytes(uint64_t conn, int32_t kind, const void *data,
                                          size_t len) {
    return wasmsock_send(conn, kind, (const uint8_t *)data, (int32_t)len);
}

/* Sends a NUL-terminated string as a text message. */
static inline int32_t wasmsock_send_text(uint64_t conn, const char *text) {
    return wasmsock_send(conn, WASMSOCK_TEXT, (const uint8_t *)text, (int32_t)strlen(text));
}

/* Closes conn with a code and a NUL-terminated reason. */
static inline int32_t wasmsock_close_str(uint64_t conn, int32_t code, const char *reason) {
    return wasmsock_close(conn, code, (const uint8_t *)reason, (int32_t)strlen(reason));
}

/* Adds conn to a group named by a NUL-terminated string. */
static inline int32_t wasmsock_join_str(uint64_t conn, const char *group) {
    return wasmsock_join(conn, (const uint8_t *)group, (int32_t)strlen(group));
}

/* Removes conn from a group named by a NUL-terminated string. */
static inline int32_t wasmsock_leave_str(uint64_t conn, const char *group) {
    return wasmsock_leave(conn, (const uint8_t *)group, (int32_t)strlen(group));
}

/* Broadcasts len bytes at data to a group named by a NUL-terminated string. */
static inline int32_t wasmsock_broadcast_str(const char *group, int32_t kind, const void *data,
                                             size_t len, uint64_t except_conn) {
    return wasmsock_broadcast((const uint8_t *)group, (int32_t)strlen(group), kind,
                              (const uint8_t *)data, (int32_t)len, except_conn);
}

/* Writes a NUL-terminated string to the host's log at level. */
static inline int32_t wasmsock_log_str(int32_t level, const char *msg) {
    return wasmsock_log(level, (const uint8_t *)msg, (int32_t)strlen(msg));
}

#ifdef __cplusplus
}
#endif

#endif /* WASMSOCK_H */
