/*
 * relay - the bus example of the C SDK: it does what testdata/plugins/relay (Go) does, and the
 * behaviour suite (sdk/bus_suite_test.go) checks that they behave alike.
 *
 * Text commands, one per message (DATA is the rest of the message, spaces included):
 *
 *   pub SUBJECT DATA   publish DATA to SUBJECT; reply "ok" or "error STATUS"
 *   sub SUBJECT        subscribe; reply "sub ID" or "error STATUS"
 *   unsub ID           unsubscribe; reply "ok" or "error STATUS"
 *   req SUBJECT DATA   request with a 1000 ms timeout; reply "req ID" or "error STATUS"
 *
 * Any other message gets "error unknown". Every bus event goes to the connection that made the
 * subscription or the request, as "event ID KIND SUBJECT DATA" (KIND 1 message, 2 reply,
 * 3 error).
 *
 * Build it with "make wasm" at the top of the repository (the rule is in sdk/c/wasm.mk).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmsock.h"

WASMSOCK_PLUGIN();

/* Which connection made each subscription and request: a small table, enough for an example. */
#define MAX_OWNERS 256
static struct {
    int32_t id;
    uint64_t conn;
} owners[MAX_OWNERS];

static void own(int32_t id, uint64_t conn) {
    for (int i = 0; i < MAX_OWNERS; i++) {
        if (owners[i].id == 0) {
            owners[i].id = id;
            owners[i].conn = conn;
            return;
        }
    }
}

static uint64_t owner(int32_t id, int forget) {
    for (int i = 0; i < MAX_OWNERS; i++) {
        if (owners[i].id == id) {
            uint64_t c = owners[i].conn;
            if (forget) {
                owners[i].id = 0;
            }
            return c;
        }
    }
    return 0;
}

int32_t on_connect(uint64_t conn, int32_t flags) {
    (void)conn;
    (void)flags;
    return WASMSOCK_ACCEPT;
}

/* reply sends "ok_prefix[ID]" or "error STATUS". */
static void reply(uint64_t conn, int32_t st, const char *ok, int with_id) {
    char out[64];
    if (st < 0) {
        snprintf(out, sizeof out, "error %d", (int)st);
    } else if (with_id) {
        snprintf(out, sizeof out, "%s %d", ok, (int)st);
    } else {
        snprintf(out, sizeof out, "%s", ok);
    }
    wasmsock_send_text(conn, out);
}

void on_message(uint64_t conn, int32_t kind, int32_t len) {
    (void)kind;
    int32_t n;
    char *text = (char *)wasmsock_read_alloc(len, &n);
    if (text == NULL) {
        return;
    }
    /* verb, rest; rest is subject, data. */
    char *rest = strchr(text, ' ');
    if (rest != NULL) {
        *rest++ = 0;
    } else {
        rest = text + n;
    }
    char *subject = rest;
    char *data = strchr(rest, ' ');
    size_t subject_len = data != NULL ? (size_t)(data - rest) : strlen(rest);
    const char *payload = data != NULL ? data + 1 : "";
    char subj[WASMSOCK_MAX_SUBJECT + 2];
    if (subject_len > WASMSOCK_MAX_SUBJECT + 1) {
        subject_len = WASMSOCK_MAX_SUBJECT + 1; /* the host refuses it: too long */
    }
    memcpy(subj, subject, subject_len);
    subj[subject_len] = 0;
    if (strcmp(text, "pub") == 0) {
        reply(conn, wasmsock_publish_str(subj, payload, strlen(payload)), "ok", 0);
    } else if (strcmp(text, "sub") == 0) {
        int32_t id = wasmsock_subscribe_str(rest, NULL);
        if (id > 0) {
            own(id, conn);
        }
        reply(conn, id, "sub", 1);
    } else if (strcmp(text, "unsub") == 0) {
        int32_t id = (int32_t)atoi(rest);
        int32_t st = wasmsock_unsubscribe(id);
        if (st == 0) {
            owner(id, 1);
        }
        reply(conn, st, "ok", 0);
    } else if (strcmp(text, "req") == 0) {
        int32_t id = wasmsock_request_str(subj, payload, strlen(payload), 1000);
        if (id > 0) {
            own(id, conn);
        }
        reply(conn, id, "req", 1);
    } else {
        wasmsock_send_text(conn, "error unknown");
    }
    free(text);
}

void on_close(uint64_t conn, int32_t code, int32_t reason_len) {
    (void)conn;
    (void)code;
    (void)reason_len;
}

void on_event(int32_t id, int32_t kind, int32_t subject_len, int32_t data_len) {
    uint64_t conn = owner(id, kind != WASMSOCK_EVENT_MESSAGE);
    if (conn == 0) {
        return;
    }
    int32_t n;
    uint8_t *buf = wasmsock_read_alloc(subject_len + data_len, &n);
    if (buf == NULL || n < subject_len) {
        free(buf);
        return;
    }
    char head[64];
    int h = snprintf(head, sizeof head, "event %d %d ", (int)id, (int)kind);
    size_t size = (size_t)h + (size_t)n + 1;
    char *out = (char *)malloc(size);
    if (out != NULL) {
        memcpy(out, head, (size_t)h);
        memcpy(out + h, buf, (size_t)subject_len);
        out[h + subject_len] = ' ';
        memcpy(out + h + subject_len + 1, buf + subject_len, (size_t)(n - subject_len));
        wasmsock_send_bytes(conn, WASMSOCK_TEXT, out, size);
        free(out);
    }
    free(buf);
}
