/*
 * wasmsock.c - helpers of the C SDK for wasmsock plugins; see wasmsock.h.
 *
 * Compile it into every plugin, next to the plugin's own sources. The linker drops whatever the
 * plugin does not use (wasmsock_logf and its printf machinery, for example).
 */
#include "wasmsock.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int32_t wasmsock_read_all(void *dst, int32_t len) {
    uint8_t *p = (uint8_t *)dst;
    int32_t off = 0;
    if (len < 0) {
        len = 0;
    }
    while (off < len) {
        int32_t n = wasmsock_msg_read(p + off, len - off);
        if (n < 0) {
            return n;
        }
        if (n == 0) {
            break; /* the host has no more */
        }
        off += n < len - off ? n : len - off;
    }
    return off;
}

uint8_t *wasmsock_read_alloc(int32_t len, int32_t *n) {
    size_t size = (len > 0 ? (size_t)len : 0) + 1;
    uint8_t *buf = (uint8_t *)malloc(size);
    if (buf == NULL) {
        *n = WASMSOCK_ERR_TOO_LARGE;
        return NULL;
    }
    int32_t got = wasmsock_read_all(buf, len);
    *n = got;
    if (got < 0) {
        free(buf);
        return NULL;
    }
    buf[got] = 0;
    return buf;
}

int32_t wasmsock_get(uint64_t conn, const char *key, char *dst, size_t cap) {
    int32_t room = cap > 0 ? (int32_t)(cap - 1 > INT32_MAX ? INT32_MAX : cap - 1) : 0;
    int32_t n = wasmsock_conn_get(conn, (const uint8_t *)key, (int32_t)strlen(key),
                                  (uint8_t *)dst, room);
    if (cap > 0) {
        /* The host wrote min(n, room) bytes; terminate after them. */
        dst[n < 0 ? 0 : (n < room ? n : room)] = 0;
    }
    return n;
}

char *wasmsock_get_alloc(uint64_t conn, const char *key, int32_t *len) {
    const uint8_t *k = (const uint8_t *)key;
    int32_t klen = (int32_t)strlen(key);
    int32_t cap = 64;
    /* The full length comes back even when the value does not fit, so the second call has a
     * buffer of the right size. Values never change, but a bounded loop guards against a host
     * whose answer does. */
    for (int attempt = 0; attempt < 4; attempt++) {
        char *buf = (char *)malloc((size_t)cap + 1);
        if (buf == NULL) {
            *len = WASMSOCK_ERR_TOO_LARGE;
            return NULL;
        }
        int32_t n = wasmsock_conn_get(conn, k, klen, (uint8_t *)buf, cap);
        if (n < 0) {
            free(buf);
            *len = n;
            return NULL;
        }
        if (n <= cap) {
            buf[n] = 0;
            *len = n;
            return buf;
        }
        free(buf);
        if (n == INT32_MAX) {
            break;
        }
        cap = n;
    }
    *len = WASMSOCK_ERR_TOO_LARGE;
    return NULL;
}

int32_t wasmsock_send_to_user(const char *user, int32_t kind, const void *data, size_t len,
                              uint64_t except_conn) {
    char group[WASMSOCK_MAX_GROUP_NAME + 1];
    size_t ulen = strlen(user);
    if (ulen > WASMSOCK_MAX_GROUP_NAME - 5) {
        return WASMSOCK_ERR_INVALID_ARGUMENT; /* "user:" + user would not be a group name */
    }
    memcpy(group, "user:", 5);
    memcpy(group + 5, user, ulen);
    return wasmsock_broadcast((const uint8_t *)group, (int32_t)(5 + ulen), kind,
                              (const uint8_t *)data, (int32_t)len, except_conn);
}

void wasmsock_logf(int32_t level, const char *format, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(buf, sizeof buf, format, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n >= sizeof buf) {
        n = (int)sizeof buf - 1;
    }
    wasmsock_log(level, (const uint8_t *)buf, n);
}

int32_t wasmsock_attachment(uint64_t conn, char dst[WASMSOCK_MAX_ATTACHMENT + 1]) {
    int32_t n = wasmsock_attach_get(conn, (uint8_t *)dst, WASMSOCK_MAX_ATTACHMENT);
    if (n < 0) {
        dst[0] = 0;
        return n;
    }
    if (n > WASMSOCK_MAX_ATTACHMENT) {
        n = WASMSOCK_MAX_ATTACHMENT; /* a host that breaks the limit: keep what fits */
    }
    dst[n] = 0;
    return n;
}

uint8_t *wasmsock_members_alloc(const uint8_t *group, int32_t group_len, int32_t *len) {
    int32_t cap = 1024;
    /* The full length comes back when it does not fit; the group may grow between two calls,
     * so ask a few times. */
    for (int attempt = 0; attempt < 8; attempt++) {
        uint8_t *buf = (uint8_t *)malloc((size_t)cap);
        if (buf == NULL) {
            *len = WASMSOCK_ERR_TOO_LARGE;
            return NULL;
        }
        int32_t n = wasmsock_group_members(group, group_len, buf, cap);
        if (n < 0) {
            free(buf);
            *len = n;
            return NULL;
        }
        if (n <= cap) {
            *len = n;
            return buf;
        }
        free(buf);
        cap = n;
    }
    *len = WASMSOCK_ERR_TOO_LARGE;
    return NULL;
}

uint8_t *wasmsock_kv_get_alloc(const char *key, int32_t *len) {
    int32_t cap = 256;
    int32_t key_len = (int32_t)strlen(key);
    /* The value may grow between two calls: ask a few times. */
    for (int attempt = 0; attempt < 4; attempt++) {
        uint8_t *buf = (uint8_t *)malloc((size_t)cap + 1);
        if (buf == NULL) {
            *len = WASMSOCK_ERR_TOO_LARGE;
            return NULL;
        }
        int32_t n = wasmsock_kv_get((const uint8_t *)key, key_len, buf, cap);
        if (n < 0) {
            free(buf);
            *len = n;
            return NULL;
        }
        if (n <= cap) {
            buf[n] = 0;
            *len = n;
            return buf;
        }
        free(buf);
        cap = n;
    }
    *len = WASMSOCK_ERR_TOO_LARGE;
    return NULL;
}

int wasmsock_member_next(const uint8_t **p, const uint8_t *end, uint64_t *conn, const char **user,
                         size_t *user_len) {
    const uint8_t *q = *p;
    if (end - q < 9 || end - q < 9 + (ptrdiff_t)q[8]) {
        return 0;
    }
    uint64_t id = 0;
    for (int i = 7; i >= 0; i--) {
        id = id << 8 | q[i];
    }
    *conn = id;
    *user_len = q[8];
    *user = (const char *)(q + 9);
    *p = q + 9 + q[8];
    return 1;
}
