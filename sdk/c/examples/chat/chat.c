/*
 * chat - the chat plugin, written with the wasmsock C SDK: multi-room chat with private
 * messages, spoken in JSON over WebSocket. It speaks exactly the protocol of plugins/chat (Go),
 * whose README.md describes it message by message: the same requests, the same replies byte for
 * byte, the same error messages, the same configuration (max_text).
 *
 * Rooms are host groups named "room:<room>", so membership survives a reload or an instance
 * replacement; private messages go to the host-managed group "user:<id>". The plugin keeps, per
 * connection (in a hash table keyed by connection id), the name it uses in messages and the
 * rooms it joined, to announce the user's departure when the connection closes.
 *
 * Requests are read the way Go's encoding/json reads them into the Go plugin's struct: the text
 * must be valid JSON (RFC 8259, nesting at most 10000 deep), field names match in any case, the
 * last of duplicate fields wins, null leaves a field empty, and the first field that is not a
 * string is the one reported. Replies are written as encoding/json writes them with HTML
 * escaping off. Names in error messages are quoted as Go's strconv.Quote quotes them.
 *
 * Build it with "make wasm" at the top of the repository (the rule is in sdk/c/wasm.mk), or:
 *
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 -I sdk/c \
 *         -o sdk/c/examples/chat/chat.wasm sdk/c/examples/chat/chat.c sdk/c/wasmsock.c
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isprint.h"
#include "wasmsock.h"

WASMSOCK_PLUGIN();

/* Limits on what clients send. */
#define MAX_ROOM 64                               /* the longest room name, in bytes */
#define MAX_USER (WASMSOCK_MAX_GROUP_NAME - 5)    /* "user:" + the addressee is a group name */
#define DEFAULT_MAX_TEXT 4096                     /* the longest text, unless configured */
#define MAX_DEPTH 10000                           /* the deepest JSON nesting accepted */
#define KEEP_BUFFER (64 * 1024)                   /* the largest message buffer kept */

/* The longest message text accepted, in bytes; set from the config by on_start. */
static int64_t max_text = DEFAULT_MAX_TEXT;

/* ---- Growable byte buffers ---- */

/* A growable byte buffer. After a failed allocation it stays as it was and oom is set; every
 * later append is dropped, so callers check oom once at the end. */
typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} buf_t;

static bool buf_reserve(buf_t *b, size_t more) {
    if (b->oom) {
        return false;
    }
    if (more > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return false;
    }
    size_t need = b->len + more;
    if (need <= b->cap) {
        return true;
    }
    size_t cap = b->cap > 0 ? b->cap : 64;
    while (cap < need) {
        cap *= 2;
    }
    char *p = (char *)realloc(b->p, cap);
    if (p == NULL) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void buf_put(buf_t *b, const void *s, size_t n) {
    if (n > 0 && buf_reserve(b, n)) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

static void buf_puts(buf_t *b, const char *s) {
    buf_put(b, s, strlen(s));
}

static void buf_putc(buf_t *b, char c) {
    buf_put(b, &c, 1);
}

static void buf_printf(buf_t *b, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void buf_printf(buf_t *b, const char *format, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(tmp, sizeof tmp, format, ap);
    va_end(ap);
    if (n > 0) {
        buf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
    }
}

static void buf_free(buf_t *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

/* ---- UTF-8 ---- */

/* Decodes the character at s[0..n), n > 0, as Go's utf8.DecodeRune does: returns it and sets
 * *width, or returns U+FFFD with width 1 for a byte that does not start a valid sequence. */
static uint32_t utf8_decode(const uint8_t *s, size_t n, size_t *width) {
    uint8_t c = s[0];
    uint32_t r, min;
    size_t w;
    if (c < 0x80) {
        *width = 1;
        return c;
    } else if (c >= 0xC2 && c <= 0xDF) {
        w = 2, r = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        w = 3, r = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        w = 4, r = c & 0x07, min = 0x10000;
    } else {
        goto bad;
    }
    if (n < w) {
        goto bad;
    }
    for (size_t i = 1; i < w; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            goto bad;
        }
        r = (r << 6) | (s[i] & 0x3F);
    }
    if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) {
        goto bad;
    }
    *width = w;
    return r;
bad:
    *width = 1;
    return 0xFFFD;
}

/* Appends the UTF-8 encoding of r (a valid character) to b. */
static void utf8_put(buf_t *b, uint32_t r) {
    char s[4];
    size_t n;
    if (r < 0x80) {
        s[0] = (char)r, n = 1;
    } else if (r < 0x800) {
        s[0] = (char)(0xC0 | r >> 6), s[1] = (char)(0x80 | (r & 0x3F)), n = 2;
    } else if (r < 0x10000) {
        s[0] = (char)(0xE0 | r >> 12), s[1] = (char)(0x80 | ((r >> 6) & 0x3F));
        s[2] = (char)(0x80 | (r & 0x3F)), n = 3;
    } else {
        s[0] = (char)(0xF0 | r >> 18), s[1] = (char)(0x80 | ((r >> 12) & 0x3F));
        s[2] = (char)(0x80 | ((r >> 6) & 0x3F)), s[3] = (char)(0x80 | (r & 0x3F)), n = 4;
    }
    buf_put(b, s, n);
}

/* Reports whether s holds a control character (U+0000-U+001F, U+007F-U+009F), which a group
 * name may not contain. */
static bool has_control(const char *s, size_t n) {
    const uint8_t *u = (const uint8_t *)s;
    for (size_t i = 0, w; i < n; i += w) {
        uint32_t r = utf8_decode(u + i, n - i, &w);
        if (r < 0x20 || (r >= 0x7F && r <= 0x9F)) {
            return true;
        }
    }
    return false;
}

/* ---- Quoting as Go's strconv.Quote ---- */

/* Reports whether Go's strconv.IsPrint says r is printable. */
static bool is_print(uint32_t r) {
    size_t lo = 0, hi = sizeof chat_print_ranges / sizeof chat_print_ranges[0];
    while (lo < hi) { /* the first range that ends at or after r */
        size_t mid = lo + (hi - lo) / 2;
        if (chat_print_ranges[mid][1] < r) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < sizeof chat_print_ranges / sizeof chat_print_ranges[0] &&
           chat_print_ranges[lo][0] <= r;
}

/* Appends s quoted as Go's strconv.Quote quotes it. */
static void go_quote(buf_t *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const uint8_t *u = (const uint8_t *)s;
    buf_putc(b, '"');
    for (size_t i = 0, w; i < n; i += w) {
        uint32_t r = utf8_decode(u + i, n - i, &w);
        if (r == 0xFFFD && w == 1) { /* a byte that is not UTF-8 */
            char e[4] = {'\\', 'x', hex[u[i] >> 4], hex[u[i] & 15]};
            buf_put(b, e, 4);
        } else if (r == '"' || r == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)r);
        } else if (is_print(r)) {
            buf_put(b, s + i, w);
        } else if (r == '\a') {
            buf_puts(b, "\\a");
        } else if (r == '\b') {
            buf_puts(b, "\\b");
        } else if (r == '\f') {
            buf_puts(b, "\\f");
        } else if (r == '\n') {
            buf_puts(b, "\\n");
        } else if (r == '\r') {
            buf_puts(b, "\\r");
        } else if (r == '\t') {
            buf_puts(b, "\\t");
        } else if (r == '\v') {
            buf_puts(b, "\\v");
        } else if (r < ' ' || r == 0x7F) {
            char e[4] = {'\\', 'x', hex[r >> 4], hex[r & 15]};
            buf_put(b, e, 4);
        } else if (r < 0x10000) {
            char e[6] = {'\\', 'u', hex[r >> 12], hex[(r >> 8) & 15], hex[(r >> 4) & 15], hex[r & 15]};
            buf_put(b, e, 6);
        } else {
            char e[10] = {'\\', 'U'};
            for (int k = 0; k < 8; k++) {
                e[2 + k] = hex[(r >> (28 - 4 * k)) & 15];
            }
            buf_put(b, e, 10);
        }
    }
    buf_putc(b, '"');
}

/* ---- Reading JSON ---- */

#define BAD SIZE_MAX /* what the scanners return for invalid JSON */

static bool is_space(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(uint8_t c) {
    return c >= '0' && c <= '9';
}

static int hex_value(uint8_t c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static size_t skip_space(const uint8_t *s, size_t n, size_t i) {
    while (i < n && is_space(s[i])) {
        i++;
    }
    return i;
}

/* Checks the string token at s[i] == '"'; returns the offset after it, or BAD. */
static size_t scan_string(const uint8_t *s, size_t n, size_t i) {
    for (i++; i < n;) {
        uint8_t c = s[i];
        if (c == '"') {
            return i + 1;
        }
        if (c < 0x20) {
            return BAD;
        }
        if (c != '\\') {
            i++;
            continue;
        }
        if (i + 1 >= n) {
            return BAD;
        }
        switch (s[i + 1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            i += 2;
            break;
        case 'u':
            if (n - i < 6) {
                return BAD;
            }
            for (size_t k = 2; k < 6; k++) {
                if (hex_value(s[i + k]) < 0) {
                    return BAD;
                }
            }
            i += 6;
            break;
        default:
            return BAD;
        }
    }
    return BAD;
}

static size_t scan_digits(const uint8_t *s, size_t n, size_t i) {
    if (i >= n || !is_digit(s[i])) {
        return BAD;
    }
    while (i < n && is_digit(s[i])) {
        i++;
    }
    return i;
}

/* Checks the number at s[i]; returns the offset after it, or BAD. */
static size_t scan_number(const uint8_t *s, size_t n, size_t i) {
    if (s[i] == '-') {
        i++;
    }
    if (i < n && s[i] == '0') {
        i++;
    } else if ((i = scan_digits(s, n, i)) == BAD) {
        return BAD;
    }
    if (i < n && s[i] == '.' && (i = scan_digits(s, n, i + 1)) == BAD) {
        return BAD;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        i = scan_digits(s, n, i);
    }
    return i;
}

static size_t scan_literal(const uint8_t *s, size_t n, size_t i, const char *lit) {
    size_t k = strlen(lit);
    if (n - i < k || memcmp(s + i, lit, k) != 0) {
        return BAD;
    }
    return i + k;
}

/* Checks an object key and the ':' after it, from s[i] on; returns the offset after the ':'. */
static size_t scan_key(const uint8_t *s, size_t n, size_t i) {
    i = skip_space(s, n, i);
    if (i >= n || s[i] != '"' || (i = scan_string(s, n, i)) == BAD) {
        return BAD;
    }
    i = skip_space(s, n, i);
    return i < n && s[i] == ':' ? i + 1 : BAD;
}

/* Reports whether s[0..n) is one JSON value with optional whitespace around it, and sets
 * [*start, *end) to the value. Iterative, so deep nesting costs no stack. */
static bool json_valid(const uint8_t *s, size_t n, size_t *start, size_t *end) {
    static uint8_t is_object[(MAX_DEPTH + 7) / 8]; /* one bit per open container */
    size_t depth = 0;
    size_t i = *start = skip_space(s, n, 0);
    for (;;) {
        /* A value starts at s[i], after whitespace. */
        i = skip_space(s, n, i);
        if (i >= n) {
            return false;
        }
        uint8_t c = s[i];
        if (c == '{' || c == '[') {
            if (depth >= MAX_DEPTH) {
                return false;
            }
            bool obj = c == '{';
            size_t j = skip_space(s, n, i + 1);
            if (j < n && s[j] == (obj ? '}' : ']')) {
                i = j + 1; /* empty */
            } else {
                if (obj) {
                    is_object[depth / 8] |= (uint8_t)(1u << (depth % 8));
                } else {
                    is_object[depth / 8] &= (uint8_t) ~(1u << (depth % 8));
                }
                depth++;
                i = obj ? scan_key(s, n, j) : j;
                if (i == BAD) {
                    return false;
                }
                continue;
            }
        } else if (c == '"') {
            i = scan_string(s, n, i);
        } else if (c == 't') {
            i = scan_literal(s, n, i, "true");
        } else if (c == 'f') {
            i = scan_literal(s, n, i, "false");
        } else if (c == 'n') {
            i = scan_literal(s, n, i, "null");
        } else if (c == '-' || is_digit(c)) {
            i = scan_number(s, n, i);
        } else {
            return false;
        }
        if (i == BAD) {
            return false;
        }
        /* A value ended at i: close containers until one expects another value. */
        for (;;) {
            if (depth == 0) {
                *end = i;
                return skip_space(s, n, i) == n;
            }
            bool obj = (is_object[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;
            i = skip_space(s, n, i);
            if (i >= n) {
                return false;
            }
            if (s[i] == ',') {
                i = obj ? scan_key(s, n, i + 1) : i + 1;
                if (i == BAD) {
                    return false;
                }
                break;
            }
            if (s[i] != (obj ? '}' : ']')) {
                return false;
            }
            depth--;
            i++;
        }
    }
}

/* The offset after the valid string token at s[i] == '"'. */
static size_t string_end(const uint8_t *s, size_t i) {
    for (i++;; i++) {
        if (s[i] == '"') {
            return i + 1;
        }
        if (s[i] == '\\') {
            i++;
        }
    }
}

/* The offset after the valid value at s[i]. */
static size_t value_end(const uint8_t *s, size_t n, size_t i) {
    if (s[i] == '"') {
        return string_end(s, i);
    }
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        for (;;) {
            uint8_t c = s[i];
            if (c == '"') {
                i = string_end(s, i);
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if ((c == '}' || c == ']') && --depth == 0) {
                return i + 1;
            }
            i++;
        }
    }
    while (i < n && (is_digit(s[i]) || (s[i] >= 'a' && s[i] <= 'z') || s[i] == '-' ||
                     s[i] == '+' || s[i] == '.' || s[i] == 'E')) {
        i++;
    }
    return i;
}

/* Walks the entries of a valid object: *pos starts just after its '{'. Sets the key token
 * [*key, *key_end) (quotes included) and the value [*val, *val_end); false after the last. */
static bool next_entry(const uint8_t *s, size_t n, size_t *pos, size_t *key, size_t *key_end,
                       size_t *val, size_t *val_end) {
    size_t i = skip_space(s, n, *pos);
    if (i >= n || s[i] != '"') {
        return false;
    }
    *key = i;
    *key_end = string_end(s, i);
    i = skip_space(s, n, *key_end) + 1; /* after the ':' */
    *val = skip_space(s, n, i);
    *val_end = value_end(s, n, *val);
    i = skip_space(s, n, *val_end);
    *pos = s[i] == ',' ? i + 1 : n;
    return true;
}

static int32_t hex4(const uint8_t *s) {
    int32_t v = 0;
    for (int k = 0; k < 4; k++) {
        v = v * 16 + hex_value(s[k]);
    }
    return v;
}

/* Appends the decoded string token s[0..n) (quotes included) to out, as Go's encoding/json
 * decodes it: escapes, surrogate pairs combined, U+FFFD for a lone surrogate or a byte that is
 * not UTF-8. */
static void json_unquote(const uint8_t *s, size_t n, buf_t *out) {
    size_t i = 1, end = n - 1;
    while (i < end) {
        uint8_t c = s[i];
        if (c != '\\') {
            size_t w;
            uint32_t r = utf8_decode(s + i, end - i, &w);
            if (r == 0xFFFD && w == 1) {
                utf8_put(out, r);
            } else {
                buf_put(out, s + i, w);
            }
            i += w;
            continue;
        }
        char e = (char)s[i + 1];
        i += 2;
        switch (e) {
        case 'b':
            buf_putc(out, '\b');
            break;
        case 'f':
            buf_putc(out, '\f');
            break;
        case 'n':
            buf_putc(out, '\n');
            break;
        case 'r':
            buf_putc(out, '\r');
            break;
        case 't':
            buf_putc(out, '\t');
            break;
        case 'u': {
            uint32_t r = (uint32_t)hex4(s + i);
            i += 4;
            if (r >= 0xD800 && r < 0xE000) {
                /* A surrogate: valid only as a high one followed by an escaped low one. */
                if (r < 0xDC00 && end - i >= 6 && s[i] == '\\' && s[i + 1] == 'u' &&
                    hex_value(s[i + 2]) >= 0 && hex_value(s[i + 3]) >= 0 &&
                    hex_value(s[i + 4]) >= 0 && hex_value(s[i + 5]) >= 0) {
                    uint32_t lo = (uint32_t)hex4(s + i + 2);
                    if (lo >= 0xDC00 && lo < 0xE000) {
                        utf8_put(out, 0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00));
                        i += 6;
                        break;
                    }
                }
                r = 0xFFFD;
            }
            utf8_put(out, r);
            break;
        }
        default: /* '"', '\\', '/' */
            buf_putc(out, e);
        }
    }
}

/* Reports whether the key token s[0..n) (quotes included) names field (lower-case ASCII) the way
 * Go's encoding/json matches struct fields: ASCII letters in any case, and the two non-ASCII
 * characters that fold to ASCII letters, U+017F (long s) and U+212A (Kelvin sign). */
static bool key_matches(const uint8_t *s, size_t n, const char *field) {
    buf_t key = {0};
    json_unquote(s, n, &key);
    bool ok = !key.oom;
    const uint8_t *k = (const uint8_t *)key.p;
    size_t i = 0;
    for (const char *f = field; ok && *f != 0; f++) {
        if (i >= key.len) {
            ok = false;
            break;
        }
        size_t w;
        uint32_t r = utf8_decode(k + i, key.len - i, &w);
        i += w;
        if (r == 0x17F) {
            r = 's';
        } else if (r == 0x212A) {
            r = 'k';
        } else if (r >= 'A' && r <= 'Z') {
            r += 'a' - 'A';
        }
        ok = r == (uint8_t)*f;
    }
    ok = ok && i == key.len;
    buf_free(&key);
    return ok;
}

/* ---- Writing JSON ---- */

/* Appends s[0..n) as a JSON string, escaped as Go's encoding/json escapes with HTML escaping
 * off. */
static void json_quote(buf_t *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const uint8_t *u = (const uint8_t *)s;
    buf_putc(b, '"');
    size_t plain = 0, i = 0;
    while (i < n) {
        const char *esc = NULL;
        char tmp[6];
        size_t w = 1;
        uint8_t c = u[i];
        if (c < 0x80) {
            switch (c) {
            case '"':
                esc = "\\\"";
                break;
            case '\\':
                esc = "\\\\";
                break;
            case '\b':
                esc = "\\b";
                break;
            case '\f':
                esc = "\\f";
                break;
            case '\n':
                esc = "\\n";
                break;
            case '\r':
                esc = "\\r";
                break;
            case '\t':
                esc = "\\t";
                break;
            default:
                if (c >= 0x20) {
                    i++;
                    continue;
                }
                memcpy(tmp, "\\u00", 4);
                tmp[4] = hex[c >> 4];
                tmp[5] = hex[c & 15];
            }
        } else {
            uint32_t r = utf8_decode(u + i, n - i, &w);
            if (r == 0xFFFD && w == 1) {
                esc = "\\ufffd";
            } else if (r == 0x2028 || r == 0x2029) {
                esc = r == 0x2028 ? "\\u2028" : "\\u2029";
            } else {
                i += w;
                continue;
            }
        }
        buf_put(b, s + plain, i - plain);
        if (esc != NULL) {
            buf_puts(b, esc);
        } else {
            buf_put(b, tmp, 6);
        }
        i += w;
        plain = i;
    }
    buf_put(b, s + plain, n - plain);
    buf_putc(b, '"');
}

/* A string with its length (it may hold NUL bytes). */
typedef struct {
    const char *p;
    size_t len;
} str_t;

static str_t str_of(const buf_t *b) {
    str_t s = {b->p != NULL ? b->p : "", b->len};
    return s;
}

static str_t cstr(const char *s) {
    str_t r = {s, strlen(s)};
    return r;
}

/* A message to a client; empty fields are left out (Go's omitempty). */
typedef struct {
    str_t action, room, user, from, to, text;
} event_t;

static void put_field(buf_t *b, const char *name, str_t v, bool always) {
    if (v.len == 0 && !always) {
        return;
    }
    if (b->len > 1) {
        buf_putc(b, ',');
    }
    buf_putc(b, '"');
    buf_puts(b, name);
    buf_puts(b, "\":");
    json_quote(b, v.p, v.len);
}

static void encode_event(buf_t *b, const event_t *ev) {
    buf_putc(b, '{');
    put_field(b, "action", ev->action, true);
    put_field(b, "room", ev->room, false);
    put_field(b, "user", ev->user, false);
    put_field(b, "from", ev->from, false);
    put_field(b, "to", ev->to, false);
    put_field(b, "text", ev->text, false);
    buf_putc(b, '}');
}

/* ---- Sessions ---- */

/* An owned string. */
typedef struct {
    char *p;
    size_t len;
} room_t;

/* What the plugin knows about one open connection. */
typedef struct {
    uint64_t conn;
    /* The sender name used in messages: the host's user id, or "anon-<conn id>". */
    char *name;
    size_t name_len;
    /* The rooms the connection joined through this instance, sorted by bytes. */
    room_t *rooms;
    size_t nrooms, cap_rooms;
    /* Set when the session was rebuilt after a reload or restart (a RESUMED connect, or a
     * message from a connection this instance has not seen connect). The host kept the
     * connection's groups but this instance lost its list of rooms, so a room missing from
     * rooms may still be one the connection is in. */
    bool restored;
} session_t;

/* The sessions, in an open-addressing hash table (linear probing, no tombstones): a power of
 * two slots, at most half of them used. */
static session_t **table;
static size_t table_cap, table_len;

static size_t hash_conn(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (size_t)x;
}

static size_t slot_of(uint64_t conn) {
    size_t mask = table_cap - 1, i = hash_conn(conn) & mask;
    while (table[i] != NULL && table[i]->conn != conn) {
        i = (i + 1) & mask;
    }
    return i;
}

static session_t *session_find(uint64_t conn) {
    if (table_cap == 0) {
        return NULL;
    }
    return table[slot_of(conn)];
}

static void session_free(session_t *s) {
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->nrooms; i++) {
        free(s->rooms[i].p);
    }
    free(s->rooms);
    free(s->name);
    free(s);
}

/* Puts s in the table, replacing (and freeing) any session with the same id. */
static bool session_put(session_t *s) {
    if ((table_len + 1) * 2 > table_cap) {
        size_t old_cap = table_cap, cap = table_cap > 0 ? table_cap * 2 : 16;
        session_t **old = table, **t = (session_t **)calloc(cap, sizeof *t);
        if (t == NULL) {
            return false;
        }
        table = t;
        table_cap = cap;
        for (size_t i = 0; i < old_cap; i++) {
            if (old[i] != NULL) {
                table[slot_of(old[i]->conn)] = old[i];
            }
        }
        free(old);
    }
    size_t i = slot_of(s->conn);
    if (table[i] != NULL) {
        session_free(table[i]);
    } else {
        table_len++;
    }
    table[i] = s;
    return true;
}

/* Takes the session of conn out of the table and returns it (NULL if there is none). */
static session_t *session_take(uint64_t conn) {
    if (table_cap == 0) {
        return NULL;
    }
    size_t mask = table_cap - 1, i = slot_of(conn);
    session_t *s = table[i];
    if (s == NULL) {
        return NULL;
    }
    table[i] = NULL;
    table_len--;
    /* Move back the entries after the hole that could not have been found past it. */
    for (size_t j = (i + 1) & mask; table[j] != NULL; j = (j + 1) & mask) {
        size_t home = hash_conn(table[j]->conn) & mask;
        bool stays = i < j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            table[i] = table[j];
            table[j] = NULL;
            i = j;
        }
    }
    return s;
}

/* Makes the session of conn (NULL when memory runs out). */
static session_t *session_new(uint64_t conn, bool restored) {
    session_t *s = (session_t *)calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    s->conn = conn;
    s->restored = restored;
    int32_t n;
    s->name = wasmsock_get_alloc(conn, "user", &n);
    if (s->name != NULL && n > 0) {
        s->name_len = (size_t)n;
    } else {
        free(s->name);
        char anon[32];
        int k = snprintf(anon, sizeof anon, "anon-%llu", (unsigned long long)conn);
        s->name = (char *)malloc((size_t)k + 1);
        if (s->name == NULL) {
            free(s);
            return NULL;
        }
        memcpy(s->name, anon, (size_t)k + 1);
        s->name_len = (size_t)k;
    }
    return s;
}

/* Returns the session of conn, rebuilding one if this instance has none (which should not
 * happen: the host replays every connection before its messages). */
static session_t *session_of(uint64_t conn) {
    session_t *s = session_find(conn);
    if (s == NULL && (s = session_new(conn, true)) != NULL && !session_put(s)) {
        session_free(s);
        s = NULL;
    }
    return s;
}

static str_t name_of(const session_t *s) {
    str_t r = {s->name, s->name_len};
    return r;
}

/* Compares two strings by their bytes, as Go compares strings. */
static int compare(const char *a, size_t alen, const char *b, size_t blen) {
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0) {
        return c;
    }
    return alen < blen ? -1 : alen > blen;
}

/* Finds room in s->rooms: returns true if it is there; *at is where it is or would go. */
static bool room_find(const session_t *s, str_t room, size_t *at) {
    size_t lo = 0, hi = s->nrooms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = compare(s->rooms[mid].p, s->rooms[mid].len, room.p, room.len);
        if (c == 0) {
            *at = mid;
            return true;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *at = lo;
    return false;
}

static bool room_has(const session_t *s, str_t room) {
    size_t at;
    return room_find(s, room, &at);
}

static void room_add(session_t *s, str_t room) {
    size_t at;
    if (room_find(s, room, &at)) {
        return;
    }
    if (s->nrooms == s->cap_rooms) {
        size_t cap = s->cap_rooms > 0 ? s->cap_rooms * 2 : 4;
        room_t *r = (room_t *)realloc(s->rooms, cap * sizeof *r);
        if (r == NULL) {
            return;
        }
        s->rooms = r;
        s->cap_rooms = cap;
    }
    char *p = (char *)malloc(room.len + 1);
    if (p == NULL) {
        return;
    }
    memcpy(p, room.p, room.len);
    p[room.len] = 0;
    memmove(s->rooms + at + 1, s->rooms + at, (s->nrooms - at) * sizeof *s->rooms);
    s->rooms[at].p = p;
    s->rooms[at].len = room.len;
    s->nrooms++;
}

static void room_remove(session_t *s, str_t room) {
    size_t at;
    if (!room_find(s, room, &at)) {
        return;
    }
    free(s->rooms[at].p);
    memmove(s->rooms + at, s->rooms + at + 1, (s->nrooms - at - 1) * sizeof *s->rooms);
    s->nrooms--;
}

/* ---- Talking to clients ---- */

/* Sends a message to conn. A failure means conn is going away; it is only logged. */
static void send_buf(uint64_t conn, const buf_t *b) {
    if (b->oom) {
        wasmsock_warnf("chat: send to %llu: out of memory", (unsigned long long)conn);
        return;
    }
    int32_t st = wasmsock_send_bytes(conn, WASMSOCK_TEXT, b->p, b->len);
    if (st < 0) {
        wasmsock_debugf("chat: send to %llu: wasmsock: %s", (unsigned long long)conn,
                        wasmsock_status_text(st));
    }
}

static void send_event(uint64_t conn, const event_t *ev) {
    buf_t b = {0};
    encode_event(&b, ev);
    send_buf(conn, &b);
    buf_free(&b);
}

/* Sends an error reply to conn; action is empty when the request had none. */
static void send_error(uint64_t conn, str_t action, str_t msg) {
    buf_t b = {0};
    buf_puts(&b, "{\"type\":\"error\",\"payload\":{\"message\":");
    json_quote(&b, msg.p, msg.len);
    if (action.len > 0) {
        buf_puts(&b, ",\"action\":");
        json_quote(&b, action.p, action.len);
    }
    buf_puts(&b, "}}");
    send_buf(conn, &b);
    buf_free(&b);
}

/* Puts "<prefix><name>" in b, for a group name. */
static void group_name(buf_t *b, const char *prefix, str_t name) {
    b->len = 0;
    buf_puts(b, prefix);
    buf_put(b, name.p, name.len);
}

/* Sends an event to the members of a room, except conn (the connection being handled, whose
 * namespace the room is looked up in). */
static void broadcast_event(str_t room, const event_t *ev, uint64_t except) {
    buf_t group = {0}, msg = {0};
    group_name(&group, "room:", room);
    encode_event(&msg, ev);
    int32_t st = group.oom || msg.oom
                     ? WASMSOCK_ERR_TOO_LARGE
                     : wasmsock_broadcast((const uint8_t *)group.p, (int32_t)group.len,
                                          WASMSOCK_TEXT, (const uint8_t *)msg.p,
                                          (int32_t)msg.len, except);
    if (st < 0) {
        wasmsock_warnf("chat: broadcast to room %.*s: wasmsock: %s", (int)room.len, room.p,
                       wasmsock_status_text(st));
    }
    buf_free(&group);
    buf_free(&msg);
}

/* ---- Requests ---- */

/* A message from a client: action, room, user, text (decoded). */
enum { F_ACTION, F_ROOM, F_USER, F_TEXT, NFIELDS };
static const char *const field_names[NFIELDS] = {"action", "room", "user", "text"};

typedef struct {
    buf_t f[NFIELDS];
} request_t;

/* Sets err to the client's error message for a host call that failed. */
static void host_error(buf_t *err, const char *what, int32_t st) {
    wasmsock_warnf("chat: %s: wasmsock: %s", what, wasmsock_status_text(st));
    if (st == WASMSOCK_ERR_NOT_SUPPORTED) {
        buf_printf(err, "%s failed: the host does not support groups", what);
    } else {
        buf_printf(err, "%s failed: wasmsock: %s", what, wasmsock_status_text(st));
    }
}

/* Parses a request into req and checks that it names an action; sets err otherwise. The action
 * is filled in whenever it could be read, also when there is an error. */
static void decode(const uint8_t *s, size_t n, request_t *req, buf_t *err) {
    size_t start, end;
    if (!json_valid(s, n, &start, &end)) {
        buf_puts(err, "message is not valid JSON");
        return;
    }
    if (s[start] == 'n') {
        buf_puts(err, "missing action"); /* null: nothing to decode */
        return;
    }
    if (s[start] != '{') {
        buf_puts(err, "message must be a JSON object");
        return;
    }
    int wrong_type = -1;
    size_t pos = start + 1, key, key_end, val, val_end;
    while (next_entry(s, end, &pos, &key, &key_end, &val, &val_end)) {
        int f = 0;
        while (f < NFIELDS && !key_matches(s + key, key_end - key, field_names[f])) {
            f++;
        }
        if (f == NFIELDS) {
            continue; /* unknown fields are ignored */
        }
        if (s[val] == '"') {
            req->f[f].len = 0;
            json_unquote(s + val, val_end - val, &req->f[f]);
        } else if (s[val] != 'n' && wrong_type < 0) { /* null leaves the field as it is */
            wrong_type = f;
        }
    }
    if (wrong_type >= 0) {
        buf_puts(err, "field ");
        go_quote(err, field_names[wrong_type], strlen(field_names[wrong_type]));
        buf_puts(err, " must be a string");
    } else if (req->f[F_ACTION].len == 0) {
        buf_puts(err, "missing action");
    }
}

static bool check_room(str_t room, buf_t *err) {
    if (room.len == 0) {
        buf_puts(err, "missing room");
    } else if (room.len > MAX_ROOM) {
        buf_printf(err, "room name longer than %d bytes", MAX_ROOM);
    } else if (has_control(room.p, room.len)) {
        buf_puts(err, "room name contains control characters");
    } else {
        return true;
    }
    return false;
}

static bool check_user(str_t user, buf_t *err) {
    if (user.len == 0) {
        buf_puts(err, "missing user");
    } else if (user.len > MAX_USER) {
        buf_printf(err, "user name longer than %d bytes", MAX_USER);
    } else if (has_control(user.p, user.len)) {
        buf_puts(err, "user name contains control characters");
    } else {
        return true;
    }
    return false;
}

static bool check_text(str_t text, buf_t *err) {
    if (text.len == 0) {
        buf_puts(err, "missing text");
    } else if ((uint64_t)text.len > (uint64_t)max_text) {
        buf_printf(err, "text longer than %lld bytes", (long long)max_text);
    } else {
        return true;
    }
    return false;
}

/* Joins the room's group; sets err when the host refuses. */
static bool join_group(uint64_t conn, str_t room, buf_t *err) {
    buf_t group = {0};
    group_name(&group, "room:", room);
    int32_t st = group.oom ? WASMSOCK_ERR_TOO_LARGE
                           : wasmsock_join(conn, (const uint8_t *)group.p, (int32_t)group.len);
    buf_free(&group);
    if (st < 0) {
        host_error(err, "join", st);
        return false;
    }
    return true;
}

/* join: adds conn to a room, answers "joined" and tells the other members. Joining a room
 * again answers "joined" again but announces nothing. */
static void do_join(uint64_t conn, session_t *s, const request_t *req, buf_t *err) {
    str_t room = str_of(&req->f[F_ROOM]);
    if (!check_room(room, err)) {
        return;
    }
    event_t joined = {.action = cstr("joined"), .room = room, .user = name_of(s)};
    if (room_has(s, room)) {
        send_event(conn, &joined);
        return;
    }
    if (!join_group(conn, room, err)) {
        return;
    }
    room_add(s, room);
    send_event(conn, &joined);
    event_t ev = {.action = cstr("user_joined"), .room = room, .user = name_of(s)};
    broadcast_event(room, &ev, conn);
}

/* leave: removes conn from a room, answers "left" and tells the remaining members. */
static void do_leave(uint64_t conn, session_t *s, const request_t *req, buf_t *err) {
    str_t room = str_of(&req->f[F_ROOM]);
    if (!check_room(room, err)) {
        return;
    }
    if (!room_has(s, room) && !s->restored) {
        buf_puts(err, "not in room ");
        go_quote(err, room.p, room.len);
        return;
    }
    buf_t group = {0};
    group_name(&group, "room:", room);
    int32_t st = group.oom ? WASMSOCK_ERR_TOO_LARGE
                           : wasmsock_leave(conn, (const uint8_t *)group.p, (int32_t)group.len);
    buf_free(&group);
    if (st < 0) {
        host_error(err, "leave", st);
        return;
    }
    room_remove(s, room);
    event_t left = {.action = cstr("left"), .room = room};
    send_event(conn, &left);
    event_t ev = {.action = cstr("user_left"), .room = room, .user = name_of(s)};
    broadcast_event(room, &ev, conn);
}

/* send_message: relays a message to the other members of a room the sender is in. */
static void do_send_message(uint64_t conn, session_t *s, const request_t *req, buf_t *err) {
    str_t room = str_of(&req->f[F_ROOM]), text = str_of(&req->f[F_TEXT]);
    if (!check_room(room, err) || !check_text(text, err)) {
        return;
    }
    if (!room_has(s, room)) {
        if (!s->restored) {
            buf_puts(err, "not in room ");
            go_quote(err, room.p, room.len);
            buf_puts(err, ": join it first");
            return;
        }
        /* After a reload or restart the host still has the connection in the room's group,
         * but this instance forgot it. Joining again is harmless and restores the list. */
        if (!join_group(conn, room, err)) {
            return;
        }
        room_add(s, room);
    }
    event_t ev = {.action = cstr("receive_message"), .room = room, .from = name_of(s), .text = text};
    broadcast_event(room, &ev, conn);
}

/* send_to_user: sends a private message to every connection of a user (in the sender's
 * namespace), except the sending connection itself. */
static void do_send_to_user(uint64_t conn, session_t *s, const request_t *req, buf_t *err) {
    str_t user = str_of(&req->f[F_USER]), text = str_of(&req->f[F_TEXT]);
    if (!check_user(user, err) || !check_text(text, err)) {
        return;
    }
    buf_t group = {0}, msg = {0};
    group_name(&group, "user:", user);
    event_t ev = {.action = cstr("receive_message"), .from = name_of(s), .to = user, .text = text};
    encode_event(&msg, &ev);
    /* The except argument is the sender: the host looks the group up in its namespace. */
    int32_t st = group.oom || msg.oom
                     ? WASMSOCK_ERR_TOO_LARGE
                     : wasmsock_broadcast((const uint8_t *)group.p, (int32_t)group.len,
                                          WASMSOCK_TEXT, (const uint8_t *)msg.p,
                                          (int32_t)msg.len, conn);
    buf_free(&group);
    buf_free(&msg);
    if (st < 0) {
        host_error(err, "send to user", st);
        return;
    }
    wasmsock_debugf("chat: private message to %.*s reached %d connections", (int)user.len, user.p,
                    (int)st);
}


static int compare_str(const void *a, const void *b) {
    const str_t *x = (const str_t *)a, *y = (const str_t *)b;
    return compare(x->p, x->len, y->p, y->len);
}

/* Answers with the names of the users in a room (presence: the host knows the members of a
 * group, whichever instance serves them). Anyone may ask, member of the room or not. A user with
 * two connections in the room is named once; an anonymous connection goes by "anon-<id>". */
static void do_who(uint64_t conn, const request_t *req, buf_t *err) {
    str_t room = str_of(&req->f[F_ROOM]);
    if (!check_room(room, err)) {
        return;
    }
    buf_t group = {0};
    group_name(&group, "room:", room);
    int32_t len;
    uint8_t *list = wasmsock_members_alloc((const uint8_t *)group.p, (int32_t)group.len, &len);
    buf_free(&group);
    if (list == NULL) {
        host_error(err, "who", len);
        return;
    }
    /* Each anonymous member's name is made in anon; names points into list and anon. */
    size_t count = 0, cap = 0;
    str_t *names = NULL;
    buf_t anon = {0};
    size_t *anon_at = NULL;
    const uint8_t *p = list, *end = list + len;
    uint64_t id;
    const char *user;
    size_t ulen;
    while (wasmsock_member_next(&p, end, &id, &user, &ulen)) {
        if (ulen == 0 && id == 0) {
            continue; /* an anonymous connection of another plugin: no name to give */
        }
        if (count == cap) {
            cap = cap ? 2 * cap : 16;
            str_t *nn = (str_t *)realloc(names, cap * sizeof *nn);
            size_t *na = (size_t *)realloc(anon_at, cap * sizeof *na);
            if (nn == NULL || na == NULL) {
                free(nn != NULL ? nn : names);
                free(na != NULL ? na : anon_at);
                free(list);
                buf_free(&anon);
                buf_puts(err, "who failed: out of memory");
                return;
            }
            names = nn;
            anon_at = na;
        }
        anon_at[count] = (size_t)-1;
        if (ulen > 0) {
            names[count].p = user;
            names[count].len = ulen;
        } else {
            anon_at[count] = anon.len;
            size_t before = anon.len;
            buf_printf(&anon, "anon-%llu", (unsigned long long)id);
            names[count].len = anon.len - before;
        }
        count++;
    }
    for (size_t i = 0; i < count; i++) { /* anon may have moved while it grew */
        if (anon_at[i] != (size_t)-1) {
            names[i].p = anon.p + anon_at[i];
        }
    }
    if (count > 0) {
        qsort(names, count, sizeof *names, compare_str);
    }
    buf_t b = {0};
    buf_puts(&b, "{\"action\":\"members\",\"room\":");
    json_quote(&b, room.p, room.len);
    buf_puts(&b, ",\"users\":[");
    for (size_t i = 0, n = 0; i < count; i++) {
        if (i > 0 && compare_str(&names[i], &names[i - 1]) == 0) {
            continue; /* each user once */
        }
        if (n++ > 0) {
            buf_putc(&b, ',');
        }
        json_quote(&b, names[i].p, names[i].len);
    }
    buf_puts(&b, "]}");
    if (anon.oom) {
        buf_puts(err, "who failed: out of memory");
    } else {
        send_buf(conn, &b);
    }
    buf_free(&b);
    buf_free(&anon);
    free(names);
    free(anon_at);
    free(list);
}

/* Carries out one request from conn; sets err when it cannot. */
static void handle(uint64_t conn, const request_t *req, buf_t *err) {
    session_t *s = session_of(conn);
    if (s == NULL) {
        buf_puts(err, "out of memory");
        return;
    }
    str_t action = str_of(&req->f[F_ACTION]);
    if (compare(action.p, action.len, "join", 4) == 0) {
        do_join(conn, s, req, err);
    } else if (compare(action.p, action.len, "leave", 5) == 0) {
        do_leave(conn, s, req, err);
    } else if (compare(action.p, action.len, "send_message", 12) == 0) {
        do_send_message(conn, s, req, err);
    } else if (compare(action.p, action.len, "send_to_user", 12) == 0) {
        do_send_to_user(conn, s, req, err);
    } else if (compare(action.p, action.len, "who", 3) == 0) {
        do_who(conn, req, err);
    } else {
        buf_puts(err, "unknown action ");
        go_quote(err, action.p, action.len);
    }
}

/* ---- Exports ---- */

/* The message buffer, reused between messages. */
static uint8_t *msg_buf;
static size_t msg_cap;

/* Reads the config. Unknown keys and a max_text below 1 refuse the start, so a typo in
 * host.toml is reported instead of ignored. */
int32_t on_start(int32_t config_len) {
    int32_t n;
    uint8_t *cfg = wasmsock_read_alloc(config_len, &n);
    if (cfg == NULL) {
        wasmsock_errorf("chat: reading the config: wasmsock: %s", wasmsock_status_text(n));
        return 1;
    }
    size_t len = (size_t)n, start, end;
    const char *bad = NULL;
    bool have = false;
    int64_t value = 0;
    if (skip_space(cfg, len, 0) == len) {
        /* empty: the defaults */
    } else if (!json_valid(cfg, len, &start, &end)) {
        bad = "the config is not valid JSON";
    } else if (cfg[start] == '{') {
        size_t pos = start + 1, key, key_end, val, val_end;
        while (bad == NULL && next_entry(cfg, end, &pos, &key, &key_end, &val, &val_end)) {
            if (!key_matches(cfg + key, key_end - key, "max_text")) {
                bad = "unknown field (only max_text is known)";
            } else if (cfg[val] == 'n') {
                have = false; /* null: the default */
            } else {
                /* An integer literal that fits in 64 bits, as Go reads an int. */
                bool neg = cfg[val] == '-';
                uint64_t v = 0;
                size_t i = val + neg;
                bool ok = i < val_end;
                for (; ok && i < val_end; i++) {
                    uint8_t c = cfg[i];
                    if (!is_digit(c) || v > (UINT64_MAX - 9) / 10) {
                        ok = false;
                        break;
                    }
                    v = v * 10 + (uint64_t)(c - '0');
                }
                ok = ok && (neg ? v <= (uint64_t)INT64_MAX + 1 : v <= (uint64_t)INT64_MAX);
                if (!ok) {
                    bad = "max_text must be an integer";
                } else {
                    have = true;
                    value = neg ? (int64_t)(0 - v) : (int64_t)v;
                }
            }
        }
        if (bad == NULL && have && value < 1) {
            bad = "max_text must be at least 1";
        }
    } else if (cfg[start] != 'n') {
        bad = "the config must be a JSON object";
    }
    free(cfg);
    if (bad != NULL) {
        wasmsock_errorf("chat: bad config: %s", bad);
        return 1;
    }
    if (have) {
        max_text = value;
    }
    return 0;
}

/* Sets up the session of a connection and, for a new one, tells the client the name it goes
 * by. A RESUMED connection was greeted by an earlier instance: it only gets its session back
 * (without its rooms, see session_t.restored). */
int32_t on_connect(uint64_t conn, int32_t flags) {
    bool resumed = wasmsock_is_resumed(flags);
    session_t *s = session_new(conn, resumed);
    if (s == NULL || !session_put(s)) {
        session_free(s);
        wasmsock_errorf("chat: conn %llu: out of memory", (unsigned long long)conn);
        return resumed ? WASMSOCK_ACCEPT : 503;
    }
    if (!resumed) {
        event_t ev = {.action = cstr("welcome"), .user = name_of(s)};
        send_event(conn, &ev);
    }
    return WASMSOCK_ACCEPT;
}

/* Decodes a request, carries it out, and answers an error to the sender when it fails. The
 * connection stays open whatever the client sends. */
void on_message(uint64_t conn, int32_t kind, int32_t len) {
    if (kind != WASMSOCK_TEXT) {
        send_error(conn, cstr(""), cstr("binary messages are not supported: send JSON text"));
        return;
    }
    size_t size = len > 0 ? (size_t)len : 0;
    if (size > msg_cap) {
        free(msg_buf);
        msg_buf = (uint8_t *)malloc(size);
        msg_cap = msg_buf != NULL ? size : 0;
    }
    int32_t n = msg_buf != NULL || size == 0 ? wasmsock_read_all(msg_buf, (int32_t)size)
                                             : WASMSOCK_ERR_TOO_LARGE;
    if (n < 0) {
        wasmsock_errorf("chat: message dropped: reading it: wasmsock: %s", wasmsock_status_text(n));
    } else {
        request_t req = {0};
        buf_t err = {0};
        decode(msg_buf != NULL ? msg_buf : (const uint8_t *)"", (size_t)n, &req, &err);
        if (err.len == 0 && !err.oom) {
            handle(conn, &req, &err);
        }
        if (err.len > 0 || err.oom) {
            send_error(conn, str_of(&req.f[F_ACTION]), err.oom ? cstr("out of memory") : str_of(&err));
        }
        for (int f = 0; f < NFIELDS; f++) {
            buf_free(&req.f[f]);
        }
        buf_free(&err);
    }
    if (msg_cap > KEEP_BUFFER) {
        free(msg_buf);
        msg_buf = NULL;
        msg_cap = 0;
    }
}

/* Tells the other members of each room the connection was in that its user left. The host
 * drops the connection's group memberships itself. An unknown connection (after a fault, a
 * replacement instance may see the close of one it never saw connect) is ignored. */
void on_close(uint64_t conn, int32_t code, int32_t reason_len) {
    (void)code;
    (void)reason_len;
    session_t *s = session_take(conn);
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->nrooms; i++) {
        str_t room = {s->rooms[i].p, s->rooms[i].len};
        event_t ev = {.action = cstr("user_left"), .room = room, .user = name_of(s)};
        broadcast_event(room, &ev, conn);
    }
    session_free(s);
}
