/*
 * lobby - the stateful example of the C SDK: it does what plugins/lobby (Go) does, and
 * plugins/lobby/README.md is its protocol; the behaviour suite (sdk/state_suite_test.go) checks
 * that the four languages behave alike.
 *
 * Its state is the host's, so it survives reloads, restarts and several instances:
 *
 *   - a connection's nickname is its attachment (wasmsock_attach), read back into the
 *     instance's memory in on_connect with WASMSOCK_FLAG_RESUMED (wasmsock_attachment);
 *   - the visit counter and the topic are in the shared store (wasmsock_kv_get_alloc,
 *     wasmsock_kv_put, wasmsock_kv_swap, wasmsock_kv_remove): the counter updated with a
 *     compare-and-swap loop, the topic with a TTL;
 *   - reminders, the tick and the countdown are connection timers (wasmsock_timer_after,
 *     wasmsock_timer_every), an announcement a plugin timer (connection 0, also for
 *     wasmsock_timer_cancel_str);
 *   - who is here (the lobby group) and how many connections a user has open (its "user:" group)
 *     are presence (wasmsock_group_size_str, wasmsock_group_size): the host's, cluster-wide,
 *     whichever instance asks.
 *
 * Build it with "make wasm" at the top of the repository (the rule is in sdk/c/wasm.mk).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmsock.h"

WASMSOCK_PLUGIN();

#define LOBBY "lobby"          /* the group every connection joins, for announcements */
#define TOPIC_TTL_MS 60000     /* a topic expires a minute after it was last written */
#define MAX_RETRY 100          /* compare-and-swap attempts before visit gives up */

/* ---- This instance's copy of its connections' nicknames (the attachments are the truth). ---- */

struct nick {
    uint64_t conn;
    char *name; /* from malloc, NUL-terminated */
};
static struct nick *nicks;
static size_t nicks_len, nicks_cap;

static struct nick *find_nick(uint64_t conn) {
    for (size_t i = 0; i < nicks_len; i++) {
        if (nicks[i].conn == conn) {
            return &nicks[i];
        }
    }
    return NULL;
}

static void forget_nick(uint64_t conn) {
    struct nick *n = find_nick(conn);
    if (n != NULL) {
        free(n->name);
        *n = nicks[--nicks_len];
    }
}

/* Remembers len bytes at name as conn's nickname (len 0: forgets it). */
static void set_nick(uint64_t conn, const char *name, size_t len) {
    forget_nick(conn);
    if (len == 0) {
        return;
    }
    if (nicks_len == nicks_cap) {
        size_t cap = nicks_cap == 0 ? 16 : 2 * nicks_cap;
        struct nick *grown = (struct nick *)realloc(nicks, cap * sizeof *nicks);
        if (grown == NULL) {
            return;
        }
        nicks = grown;
        nicks_cap = cap;
    }
    char *copy = (char *)malloc(len + 1);
    if (copy == NULL) {
        return;
    }
    memcpy(copy, name, len);
    copy[len] = 0;
    nicks[nicks_len].conn = conn;
    nicks[nicks_len].name = copy;
    nicks_len++;
}

/* ---- Replies. ---- */

/* Sends "ok" or "error STATUS". */
static void reply_status(uint64_t conn, int32_t st) {
    char out[32];
    if (st < 0) {
        snprintf(out, sizeof out, "error %d", (int)st);
    } else {
        snprintf(out, sizeof out, "ok");
    }
    wasmsock_send_text(conn, out);
}

/* Sends prefix followed by len bytes at data. */
static void reply_with(uint64_t conn, const char *prefix, const void *data, size_t len) {
    size_t p = strlen(prefix);
    char *out = (char *)malloc(p + len + 1);
    if (out == NULL) {
        return;
    }
    memcpy(out, prefix, p);
    memcpy(out + p, data, len);
    wasmsock_send_bytes(conn, WASMSOCK_TEXT, out, p + len);
    free(out);
}

/* Sends prefix and n (a group's size), or "error STATUS" when n is a negative status. */
static void reply_size(uint64_t conn, const char *prefix, int32_t n) {
    if (n < 0) {
        reply_status(conn, n);
        return;
    }
    char out[32];
    snprintf(out, sizeof out, "%s%d", prefix, (int)n);
    wasmsock_send_text(conn, out);
}

/* ---- Commands. ---- */

/* Parses 1 to 9 decimal digits (len bytes at s) into *n. */
static int number(const char *s, size_t len, int32_t *n) {
    if (len == 0 || len > 9) {
        return 0;
    }
    int32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        v = v * 10 + (s[i] - '0');
    }
    *n = v;
    return 1;
}

/* Adds one to the shared counter "visits" and returns the new count, or a negative status.
 * Several instances may do it at once: the compare-and-swap stores only over the value read,
 * else reads again. */
static int64_t visit(void) {
    for (int attempt = 0; attempt < MAX_RETRY; attempt++) {
        int32_t old_len;
        uint8_t *old = wasmsock_kv_get_alloc("visits", &old_len);
        if (old == NULL && old_len != WASMSOCK_ERR_NOT_FOUND) {
            return old_len;
        }
        /* None, or not a number: 0. */
        int64_t n = old != NULL ? strtoll((const char *)old, NULL, 10) : 0;
        if (n < 0) {
            n = 0;
        }
        char next[24];
        int next_len = snprintf(next, sizeof next, "%lld", (long long)(n + 1));
        /* No old value: expect_len -1, only if the key is still absent. */
        int32_t st = wasmsock_kv_swap("visits", old, old != NULL ? old_len : -1, next,
                                      (size_t)next_len, 0);
        free(old);
        if (st == WASMSOCK_ERR_MISMATCH || st == WASMSOCK_ERR_NOT_FOUND) {
            continue; /* another instance was faster */
        }
        return st < 0 ? st : n + 1;
    }
    return WASMSOCK_ERR_MISMATCH;
}

/* Arms conn's one-shot timer named by len bytes at name. */
static int32_t remind(uint64_t conn, int32_t ms, const char *name, size_t len) {
    return wasmsock_timer_set(conn, (const uint8_t *)name, (int32_t)len, ms, 0);
}

static void countdown(uint64_t conn, int32_t n) {
    char name[32];
    for (int32_t k = 1; k <= n; k++) {
        snprintf(name, sizeof name, "count/%d", (int)k);
        int32_t st = wasmsock_timer_after(conn, name, k * 1000);
        if (st < 0) {
            for (int32_t j = 1; j < k; j++) { /* all or nothing */
                snprintf(name, sizeof name, "count/%d", (int)j);
                wasmsock_timer_cancel_str(conn, name);
            }
            reply_status(conn, st);
            return;
        }
    }
    reply_status(conn, 0);
}

/* Carries out the command of len bytes at text and replies. */
static void command(uint64_t conn, char *text, size_t len) {
    char *space = memchr(text, ' ', len);
    size_t verb_len = space != NULL ? (size_t)(space - text) : len;
    char *arg = space != NULL ? space + 1 : text + len;
    size_t arg_len = len - (size_t)(arg - text);
    text[verb_len] = 0; /* the verb as a C string (the argument keeps its length) */
    const char *verb = text;
    int32_t ms;

    if (strcmp(verb, "nick") == 0) {
        int32_t st = wasmsock_attach(conn, arg, arg_len);
        if (st == 0) {
            set_nick(conn, arg, arg_len);
        }
        reply_status(conn, st);
    } else if (strcmp(verb, "whoami") == 0) {
        struct nick *n = find_nick(conn);
        const char *name = n != NULL ? n->name : "nobody";
        reply_with(conn, "you are ", name, strlen(name));
    } else if (strcmp(verb, "visit") == 0) {
        int64_t n = visit();
        char out[40];
        if (n < 0) {
            snprintf(out, sizeof out, "error %d", (int)n);
        } else {
            snprintf(out, sizeof out, "visits %lld", (long long)n);
        }
        wasmsock_send_text(conn, out);
    } else if (strcmp(verb, "topic") == 0) {
        int32_t n;
        uint8_t *topic = wasmsock_kv_get_alloc("topic", &n);
        if (topic != NULL) {
            reply_with(conn, "topic ", topic, (size_t)n);
            free(topic);
        } else if (n == WASMSOCK_ERR_NOT_FOUND) {
            wasmsock_send_text(conn, "no topic");
        } else {
            reply_status(conn, n);
        }
    } else if (strcmp(verb, "set-topic") == 0) {
        reply_status(conn, wasmsock_kv_put("topic", arg, arg_len, TOPIC_TTL_MS));
    } else if (strcmp(verb, "new-topic") == 0) {
        reply_status(conn, wasmsock_kv_swap("topic", NULL, -1, arg, arg_len, TOPIC_TTL_MS));
    } else if (strcmp(verb, "edit-topic") == 0) {
        char *nl = memchr(arg, '\n', arg_len);
        if (nl == NULL) {
            wasmsock_send_text(conn, "error usage");
            return;
        }
        size_t old_len = (size_t)(nl - arg);
        reply_status(conn, wasmsock_kv_swap("topic", arg, (int32_t)old_len, nl + 1,
                                            arg_len - old_len - 1, TOPIC_TTL_MS));
    } else if (strcmp(verb, "clear-topic") == 0) {
        reply_status(conn, wasmsock_kv_remove("topic"));
    } else if (strcmp(verb, "remind") == 0) {
        char *sp = memchr(arg, ' ', arg_len);
        size_t ms_len = sp != NULL ? (size_t)(sp - arg) : arg_len;
        const char *name = sp != NULL ? sp + 1 : arg + arg_len;
        if (!number(arg, ms_len, &ms)) {
            wasmsock_send_text(conn, "error usage");
            return;
        }
        reply_status(conn, remind(conn, ms, name, arg_len - (size_t)(name - arg)));
    } else if (strcmp(verb, "tick") == 0) {
        if (!number(arg, arg_len, &ms)) {
            wasmsock_send_text(conn, "error usage");
        } else if (ms == 0) {
            reply_status(conn, wasmsock_timer_cancel_str(conn, "tick"));
        } else {
            reply_status(conn, wasmsock_timer_every(conn, "tick", ms));
        }
    } else if (strcmp(verb, "cancel") == 0) {
        reply_status(conn, wasmsock_timer_cancel(conn, (const uint8_t *)arg, (int32_t)arg_len));
    } else if (strcmp(verb, "countdown") == 0) {
        int32_t n;
        if (!number(arg, arg_len, &n) || n == 0) {
            wasmsock_send_text(conn, "error usage");
            return;
        }
        countdown(conn, n);
    } else if (strcmp(verb, "announce") == 0) {
        char ns[8];
        if (wasmsock_get(conn, "namespace", ns, sizeof ns) != 0) {
            wasmsock_send_text(conn, "error namespace"); /* plugin timers act in the default one */
            return;
        }
        char *sp = memchr(arg, ' ', arg_len);
        size_t ms_len = sp != NULL ? (size_t)(sp - arg) : arg_len;
        const char *msg = sp != NULL ? sp + 1 : arg + arg_len;
        if (!number(arg, ms_len, &ms)) {
            wasmsock_send_text(conn, "error usage");
            return;
        }
        /* The text waits in the shared store: whichever instance (or module, after a reload)
         * gets the plugin timer reads it there. */
        int32_t st = wasmsock_kv_put("announce", msg, arg_len - (size_t)(msg - arg), 0);
        if (st == 0) {
            st = wasmsock_timer_after(0, "announce", ms);
        }
        reply_status(conn, st);
    } else if (strcmp(verb, "here") == 0) {
        reply_size(conn, "here ", wasmsock_group_size_str(LOBBY));
    } else if (strcmp(verb, "online") == 0) {
        if (arg_len == 0) {
            wasmsock_send_text(conn, "error usage");
            return;
        }
        /* The group is "user:" and the argument, written over the end of the verb, which is
         * done with ("online " is longer than the prefix); the host checks the whole name. */
        _Static_assert(sizeof WASMSOCK_USER_GROUP_PREFIX <= sizeof "online ",
                       "the prefix fits before the argument");
        size_t prefix_len = strlen(WASMSOCK_USER_GROUP_PREFIX);
        uint8_t *group = (uint8_t *)arg - prefix_len;
        memcpy(group, WASMSOCK_USER_GROUP_PREFIX, prefix_len);
        reply_size(conn, "online ", wasmsock_group_size(group, (int32_t)(prefix_len + arg_len)));
    } else if (strcmp(verb, "unannounce") == 0) {
        char ns[8];
        if (wasmsock_get(conn, "namespace", ns, sizeof ns) != 0) {
            wasmsock_send_text(conn, "error namespace");
            return;
        }
        int32_t st = wasmsock_timer_cancel_str(0, "announce");
        if (st == 0) {
            st = wasmsock_kv_remove("announce");
        }
        reply_status(conn, st);
    } else {
        wasmsock_send_text(conn, "error unknown");
    }
}

/* ---- Exports. ---- */

int32_t on_connect(uint64_t conn, int32_t flags) {
    if (wasmsock_is_resumed(flags)) {
        /* A new module or instance takes the connection over: the host kept its attachment. */
        char nick[WASMSOCK_MAX_ATTACHMENT + 1];
        int32_t n = wasmsock_attachment(conn, nick);
        if (n > 0) {
            set_nick(conn, nick, (size_t)n);
        }
        return WASMSOCK_ACCEPT; /* group membership is host state too: no join again */
    }
    int32_t st = wasmsock_join_str(conn, LOBBY);
    if (st < 0) {
        wasmsock_errorf("conn %llu: join %s: %s", (unsigned long long)conn, LOBBY,
                        wasmsock_status_text(st));
    }
    return WASMSOCK_ACCEPT;
}

void on_message(uint64_t conn, int32_t kind, int32_t len) {
    (void)kind;
    int32_t n;
    char *text = (char *)wasmsock_read_alloc(len, &n);
    if (text == NULL) {
        return;
    }
    command(conn, text, (size_t)n);
    free(text);
}

void on_close(uint64_t conn, int32_t code, int32_t reason_len) {
    (void)code;
    (void)reason_len;
    forget_nick(conn);
}

void on_timer(uint64_t conn, int32_t name_len) {
    char name[WASMSOCK_MAX_TIMER_NAME + 1];
    int32_t n = wasmsock_read_all(name, name_len < WASMSOCK_MAX_TIMER_NAME ? name_len : WASMSOCK_MAX_TIMER_NAME);
    if (n < 0) {
        return;
    }
    name[n] = 0;
    if (conn == 0) {
        if (strcmp(name, "announce") != 0) {
            wasmsock_warnf("unknown plugin timer \"%s\"", name);
            return;
        }
        int32_t len;
        uint8_t *msg = wasmsock_kv_get_alloc("announce", &len);
        if (msg == NULL) {
            return;
        }
        wasmsock_kv_remove("announce");
        char *line = (char *)malloc(9 + (size_t)len);
        if (line != NULL) {
            memcpy(line, "announce ", 9);
            memcpy(line + 9, msg, (size_t)len);
            wasmsock_broadcast_str(LOBBY, WASMSOCK_TEXT, line, 9 + (size_t)len, 0);
            free(line);
        }
        free(msg);
    } else if (strcmp(name, "tick") == 0) {
        int32_t len;
        uint8_t *v = wasmsock_kv_get_alloc("visits", &len);
        if (v != NULL) {
            reply_with(conn, "tick ", v, (size_t)len);
            free(v);
        } else {
            wasmsock_send_text(conn, "tick 0");
        }
    } else {
        reply_with(conn, "reminder ", name, (size_t)n);
    }
}
