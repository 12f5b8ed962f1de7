/*
 * echo - the echo plugin, written with the wasmsock C SDK: every message goes back to the
 * client that sent it, with the same kind (text as text, binary as binary). It does what
 * plugins/echo (Go) does.
 *
 * Build it with "make wasm" at the top of the repository (the rule is in sdk/c/wasm.mk), or:
 *
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 -I sdk/c \
 *         -o sdk/c/examples/echo/echo.wasm sdk/c/examples/echo/echo.c sdk/c/wasmsock.c
 */
#include <stdlib.h>

#include "wasmsock.h"

WASMSOCK_PLUGIN();

/* The largest buffer kept between messages; one grown for a larger message is freed after it. */
#define KEEP_BUFFER (64 * 1024)

/* The message buffer, reused: the host calls one export at a time. */
static uint8_t *buf;
static size_t buf_cap;

int32_t on_connect(uint64_t conn, int32_t flags) {
    (void)conn;
    (void)flags;
    return WASMSOCK_ACCEPT;
}

void on_message(uint64_t conn, int32_t kind, int32_t len) {
    size_t size = len > 0 ? (size_t)len : 0;
    if (size > buf_cap) {
        free(buf);
        buf = (uint8_t *)malloc(size);
        buf_cap = buf != NULL ? size : 0;
        if (buf == NULL) {
            /* The plugin's memory_limit is too small for this message. */
            wasmsock_close_str(conn, 1009, "message too big for the plugin's memory");
            return;
        }
    }
    int32_t n = wasmsock_read_all(buf, (int32_t)size);
    if (n >= 0) {
        /* Sending fails only when the connection is going away, or its route does not allow
         * sending; an echo has nothing better to do then than to drop the message. */
        wasmsock_send(conn, kind, buf, n);
    }
    if (buf_cap > KEEP_BUFFER) {
        free(buf);
        buf = NULL;
        buf_cap = 0;
    }
}

void on_close(uint64_t conn, int32_t code, int32_t reason_len) {
    (void)conn;
    (void)code;
    (void)reason_len;
}
