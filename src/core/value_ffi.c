/* Values read and built through pointers (the FFI forms, ffi_forms.h), and
 * the failure and list entry points in FFI form. */
#include "core/core_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int dfr_value_kind(const dfr_value *v)
{
    if (!v)
        return DFR_KIND_INVALID;
    const dfr_type *t = v->type;
    if (!t)
        return DFR_KIND_NONE;
    if (t == &dfr_type_i64)
        return DFR_KIND_I64;
    if (t == &dfr_type_f64)
        return DFR_KIND_F64;
    if (t == &dfr_type_ptr)
        return DFR_KIND_PTR;
    if (t == &dfr_type_bytes)
        return DFR_KIND_BYTES;
    if (t == &dfr_type_failure)
        return DFR_KIND_FAILURE;
    if (t == &dfr_type_deferred)
        return DFR_KIND_DEFERRED;
    if (t == &dfr_type_list)
        return DFR_KIND_LIST;
    return DFR_KIND_OTHER;
}

const dfr_type *dfr_value_type(const dfr_value *v)
{
    return v ? v->type : NULL;
}

int64_t dfr_value_get_i64(const dfr_value *v)
{
    return v && v->type == &dfr_type_i64 ? v->u.i64 : 0;
}

double dfr_value_get_f64(const dfr_value *v)
{
    return v && v->type == &dfr_type_f64 ? v->u.f64 : 0.0;
}

void *dfr_value_get_ptr(const dfr_value *v)
{
    int k = dfr_value_kind(v);
    return k == DFR_KIND_PTR || k == DFR_KIND_OTHER ? v->u.ptr : NULL;
}

const void *dfr_value_get_bytes(const dfr_value *v, size_t *len)
{
    if (len)
        *len = dfr_bytes_len(v);
    return dfr_bytes_data(v);
}

/* Store x in the slot, dropping what it held (after the store: a drop may
 * run user code that looks at the slot). */
static void put(dfr_value *v, dfr_value x)
{
    dfr_value old = *v;
    *v = x;
    dfr_value_drop(old);
}

void dfr_value_set_none(dfr_value *v)
{
    if (v)
        put(v, dfr_none());
}

void dfr_value_set_i64(dfr_value *v, int64_t x)
{
    if (v)
        put(v, dfr_i64(x));
}

void dfr_value_set_f64(dfr_value *v, double x)
{
    if (v)
        put(v, dfr_f64(x));
}

void dfr_value_set_ptr(dfr_value *v, void *p)
{
    if (v)
        put(v, dfr_ptr(p));
}

int dfr_value_set_obj(dfr_value *v, const dfr_type *type, void *p)
{
    if (!type)
        return DFR_EINVAL;
    dfr_value x = dfr_obj(type, p);
    if (!v) {
        dfr_value_drop(x);
        return DFR_EINVAL;
    }
    put(v, x);
    return DFR_OK;
}

int dfr_value_set_bytes(dfr_value *v, const void *data, size_t len)
{
    if (!v)
        return DFR_EINVAL;
    dfr_value x = dfr_bytes_new(data, len);
    int rc = dfr_is_failure(x) ? dfr_failure_code(x.u.ptr) : DFR_OK;
    put(v, x);
    return rc;
}

int dfr_value_set_string(dfr_value *v, const char *s)
{
    if (!s) {
        if (v)
            put(v, dfr__lib_failure_value(DFR_EINVAL));
        return DFR_EINVAL;
    }
    return dfr_value_set_bytes(v, s, strlen(s));
}

int dfr_value_set_failure(dfr_value *v, dfr_failure *f)
{
    if (!v || !f) {
        dfr_failure_unref(f);
        return DFR_EINVAL;
    }
    put(v, dfr_value_failure(f));
    return DFR_OK;
}

int dfr_value_set_deferred(dfr_value *v, dfr_deferred *d)
{
    if (!v || !d) {
        dfr_deferred_unref(d);
        return DFR_EINVAL;
    }
    put(v, dfr_value_deferred(d));
    return DFR_OK;
}

int dfr_value_set_list(dfr_value *v, dfr_value *items, const bool *ok, size_t n)
{
    dfr_list *l = NULL;
    int rc = DFR_OK;
    if (!v || (n && !items))
        rc = DFR_EINVAL;
    else if (!(l = dfr__list_new(n)))
        rc = DFR_ENOMEM;
    for (size_t i = 0; items && i < n; i++) {
        dfr_value x = items[i];
        items[i] = dfr_none();
        if (l)
            dfr__list_set(l, i, ok ? ok[i] : true, x);
        else
            dfr_value_drop(x);
    }
    if (!v)
        return rc;
    if (rc == DFR_EINVAL)
        put(v, dfr__lib_failure_value(DFR_EINVAL));
    else if (!l)
        put(v, dfr_value_failure(dfr__failure_static(DFR_ENOMEM)));
    else
        put(v, dfr_obj(&dfr_type_list, l));
    return rc;
}

void dfr_value_move(dfr_value *dst, dfr_value *src)
{
    if (!dst || !src || dst == src)
        return;
    dfr_value x = *src;
    *src = dfr_none();
    put(dst, x);
}

void dfr_value_copy(dfr_value *dst, const dfr_value *src)
{
    if (dst)
        put(dst, dfr_value_clone(src));
}

void dfr_list_take_ffi(dfr_list *l, size_t i, dfr_value *out)
{
    if (out)
        put(out, dfr_list_take(l, i));
}

/* ---- failures ---- */

/* Interned failure domains: a failure keeps its domain pointer for life, so
 * a copy lives for the process.  Few distinct domains exist; a list does.
 * The copies are static data made at run time, never freed: they come from
 * the C library's malloc, not the installed allocator (whose users, leak
 * counters included, see every allocation come back). */
typedef struct domain_node {
    struct domain_node *next;
    char name[];
} domain_node;

static domain_node *domains;
static pthread_mutex_t domains_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *intern_domain(const char *domain)
{
    const char *found = NULL;
    pthread_mutex_lock(&domains_lock);
    for (domain_node *n = domains; n && !found; n = n->next)
        if (strcmp(n->name, domain) == 0)
            found = n->name;
    if (!found) {
        size_t len = strlen(domain) + 1;
        domain_node *n = malloc(sizeof *n + len);
        if (n) {
            memcpy(n->name, domain, len);
            n->next = domains;
            domains = n;
            found = n->name;
        }
    }
    pthread_mutex_unlock(&domains_lock);
    return found;
}

dfr_failure *dfr_failure_new_ffi(const char *domain, int code, const char *message)
{
    if (domain) {
        domain = intern_domain(domain);
        if (!domain)
            return NULL;
    }
    return dfr_failure_new(domain, code, message);
}

int dfr_failure_set_payload_ffi(dfr_failure *f, dfr_value *payload)
{
    if (!payload)
        return DFR_EINVAL;
    dfr_value x = *payload;
    *payload = dfr_none();
    return dfr_failure_set_payload(f, x);
}
