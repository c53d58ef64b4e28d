/* Failures: refcounted error objects with a domain, a code, a message, an
 * optional cause and payload, and (debug mode) where they were made and
 * which callbacks they passed through. */
#include "base/errors.h"
#include "core/core_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#define PASSED_MAX 64

/* A failure is shared across threads, so chains on several threads note
 * passes at once: the log is published once by compare-and-swap, each pass
 * claims its slot with an atomic counter, and a slot reads as 0 until its
 * writer has stored it. */
typedef struct passed_log {
    atomic_size_t total; /* passes noted; those past PASSED_MAX are only counted */
    atomic_uintptr_t fn[PASSED_MAX];
} passed_log;

struct dfr_failure {
    atomic_uint refs;
    bool immortal;
    int code;
    int64_t index;
    const char *domain;
    const char *message; /* points into the same allocation (or a literal) */
    dfr_failure *cause;
    dfr_value payload;
    dfr__trace *made_at;          /* debug mode */
    _Atomic(passed_log *) passed; /* debug mode, allocated on first pass */
    dfr__dying dying;             /* once the last reference went */
};

#define IMMORTAL(c, msg) \
    { .immortal = true, .code = (c), .index = -1, .domain = DFR_DOMAIN, .message = (msg) }

/* One immortal failure per library code, messages from the one table. */
#define DFR__ERROR_IMMORTAL(name, msg) [-(name)] = IMMORTAL(name, msg),
static dfr_failure static_failures[] = {DFR__ERRORS(DFR__ERROR_IMMORTAL)};
#undef DFR__ERROR_IMMORTAL

dfr_failure *dfr__failure_static(int code)
{
    /* Only the library's own codes come here; anything else is a bug, and
     * an invalid-argument failure is the least surprising answer. */
    if (code >= 0 || code <= -DFR__ECOUNT)
        code = DFR_EINVAL;
    return &static_failures[-code];
}

static dfr_failure *failure_alloc(const char *domain, int code, const char *message, size_t len)
{
    dfr_failure *f = dfr__malloc(sizeof *f + len + 1);
    if (!f)
        return NULL;
    memset(f, 0, sizeof *f);
    atomic_init(&f->refs, 1);
    f->code = code;
    f->index = -1;
    f->domain = domain ? domain : DFR_DOMAIN;
    char *text = (char *)(f + 1);
    if (len)
        memcpy(text, message, len);
    text[len] = '\0';
    f->message = text;
    if (dfr__debug_on()) {
        f->made_at = dfr__malloc(sizeof *f->made_at);
        if (f->made_at)
            dfr__trace_capture(f->made_at, 2);
    }
    return f;
}

dfr_failure *dfr__failure_lib(int code)
{
    if (dfr__debug_on()) {
        const char *msg = dfr_strerror(code);
        dfr_failure *f = failure_alloc(DFR_DOMAIN, code, msg, strlen(msg));
        if (f)
            return f;
    }
    return dfr__failure_static(code);
}

dfr_failure *dfr_failure_new(const char *domain, int code, const char *message)
{
    return failure_alloc(domain, code, message, message ? strlen(message) : 0);
}

dfr_failure *dfr_failure_newf(const char *domain, int code, const char *fmt, ...)
{
    if (!fmt)
        return dfr_failure_new(domain, code, NULL);
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return failure_alloc(domain, code, NULL, 0);
    if ((size_t)n < sizeof small)
        return failure_alloc(domain, code, small, (size_t)n);
    char *big = dfr__malloc((size_t)n + 1);
    if (!big)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    dfr_failure *f = failure_alloc(domain, code, big, (size_t)n);
    dfr__free(big);
    return f;
}

dfr_failure *dfr_failure_wrap(dfr_failure *cause, const char *domain, int code, const char *message)
{
    dfr_failure *f = dfr_failure_new(domain, code, message);
    if (!f) {
        dfr_failure_unref(cause);
        return NULL;
    }
    f->cause = cause;
    return f;
}

dfr_failure *dfr__failure_first(dfr_failure *cause, size_t index)
{
    dfr_failure *f = dfr_failure_wrap(cause, DFR_DOMAIN, DFR_EFIRST, "first error in a deferred list");
    if (!f)
        return dfr__failure_static(DFR_ENOMEM);
    f->index = (int64_t)index;
    return f;
}

dfr_failure *dfr_failure_ref(dfr_failure *f)
{
    if (f && !f->immortal)
        dfr__ref_add(&f->refs);
    return f;
}

/* The dying failure's children: its payload, then its cause (each may nest
 * further: value.c's loop drops them, so neither recurses). */
static int failure_take(dfr__dying *d, dfr_value *child)
{
    dfr_failure *f = (dfr_failure *)((char *)d - offsetof(dfr_failure, dying));
    if (f->payload.type && f->cause) {
        *child = f->payload;
        f->payload = dfr_none();
        return DFR__TAKE_MORE;
    }
    *child = f->payload.type ? f->payload : f->cause ? dfr_value_failure(f->cause) : dfr_none();
    dfr__free(f);
    return child->type ? DFR__TAKE_LAST : DFR__TAKE_DONE;
}

dfr__dying *dfr__failure_release(dfr_failure *f)
{
    if (!f || f->immortal || !dfr__release_last(&f->refs))
        return NULL;
    dfr__free(f->made_at);
    dfr__free(atomic_load_explicit(&f->passed, memory_order_relaxed));
    f->dying.take = failure_take;
    return &f->dying;
}

void dfr_failure_unref(dfr_failure *f)
{
    dfr__drop_dying(dfr__failure_release(f));
}

const char *dfr_failure_domain(const dfr_failure *f)
{
    return f ? f->domain : NULL;
}

int dfr_failure_code(const dfr_failure *f)
{
    return f ? f->code : 0;
}

const char *dfr_failure_message(const dfr_failure *f)
{
    return f ? f->message : "";
}

const dfr_failure *dfr_failure_cause(const dfr_failure *f)
{
    return f ? f->cause : NULL;
}

int64_t dfr_failure_index(const dfr_failure *f)
{
    return f ? f->index : -1;
}

bool dfr_failure_check(const dfr_failure *f, const char *domain, int code)
{
    if (!f)
        return false;
    if (!domain)
        domain = DFR_DOMAIN;
    if (f->domain != domain && strcmp(f->domain, domain) != 0)
        return false;
    return code == DFR_ANY || code == f->code;
}

int dfr_failure_set_payload(dfr_failure *f, dfr_value payload)
{
    if (!f || f->immortal) {
        dfr_value_drop(payload);
        return DFR_EINVAL;
    }
    dfr_value old = f->payload;
    f->payload = payload;
    dfr_value_drop(old);
    return 0;
}

const dfr_value *dfr_failure_payload(const dfr_failure *f)
{
    return f && f->payload.type ? &f->payload : NULL;
}

void dfr__failure_note_passed(dfr_failure *f, const void *fn)
{
    if (!f || f->immortal || !fn)
        return;
    passed_log *log = atomic_load_explicit(&f->passed, memory_order_acquire);
    if (!log) {
        passed_log *fresh = dfr__calloc(1, sizeof *fresh);
        if (!fresh)
            return;
        /* Another thread may publish its log first: use that one. */
        if (atomic_compare_exchange_strong_explicit(&f->passed, &log, fresh, memory_order_acq_rel,
                                                    memory_order_acquire))
            log = fresh;
        else
            dfr__free(fresh);
    }
    size_t slot = atomic_fetch_add_explicit(&log->total, 1, memory_order_relaxed);
    if (slot < PASSED_MAX)
        atomic_store_explicit(&log->fn[slot], (uintptr_t)fn, memory_order_release);
}

static void describe_one(FILE *out, const dfr_failure *f)
{
    fprintf(out, "%s error %d", f->domain, f->code);
    /* The code's name, unless the message already is that name. */
    if (strcmp(f->domain, DFR_DOMAIN) == 0 && strcmp(f->message, dfr_strerror(f->code)) != 0)
        fprintf(out, " (%s)", dfr_strerror(f->code));
    if (f->index >= 0)
        fprintf(out, " [input #%lld]", (long long)f->index);
    fprintf(out, ": %s\n", f->message);
    if (f->made_at) {
        fputs("  made at:\n", out);
        dfr__trace_print(out, f->made_at, "    ");
    }
    const passed_log *log = atomic_load_explicit(&f->passed, memory_order_acquire);
    size_t total = log ? atomic_load_explicit(&log->total, memory_order_relaxed) : 0;
    if (total) {
        size_t n = total < PASSED_MAX ? total : PASSED_MAX;
        fputs("  passed through:\n", out);
        for (size_t i = 0; i < n; i++) {
            /* 0: a pass on another thread that claimed the slot but has not
             * stored it yet. */
            uintptr_t fn = atomic_load_explicit(&log->fn[i], memory_order_acquire);
            if (!fn)
                continue;
            fputs("    ", out);
            dfr__print_symbol(out, (const void *)fn);
            fputc('\n', out);
        }
        if (total > n)
            fprintf(out, "    ... and %zu more\n", total - n);
    }
}

char *dfr_failure_describe(const dfr_failure *f)
{
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out)
        return NULL;
    fputs("Failure: ", out);
    describe_one(out, f);
    for (const dfr_failure *c = f->cause; c; c = c->cause) {
        fputs("Caused by: ", out);
        describe_one(out, c);
    }
    if (fclose(out) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
