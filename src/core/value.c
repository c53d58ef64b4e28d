/* Values: the built-in types, drop/clone, and owned bytes.  This file also
 * emits the exported twins of the header's inline helpers. */
#define DFR_EMIT_INLINE_SYMBOLS 1
/* The header defines them; here they become exported definitions. */
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#include "internal.h"

#include <string.h>

struct dfr_bytes {
    atomic_uint refs;
    size_t len;
    unsigned char data[];
};

static dfr_value copy_clone(const dfr_value *v)
{
    return *v;
}

static void bytes_drop(void *p)
{
    dfr_bytes *b = p;
    if (b && dfr__release_last(&b->refs))
        dfr__free(b);
}

static dfr_value bytes_clone(const dfr_value *v)
{
    dfr_bytes *b = v->u.ptr;
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return *v;
}

static void failure_drop(void *p)
{
    dfr_failure_unref(p);
}

static dfr_value failure_clone(const dfr_value *v)
{
    dfr_failure_ref(v->u.ptr);
    return *v;
}

static void deferred_drop(void *p)
{
    dfr_deferred_unref(p);
}

static dfr_value deferred_clone(const dfr_value *v)
{
    dfr_deferred_ref(v->u.ptr);
    return *v;
}

static void list_drop(void *p)
{
    dfr__list_unref(p);
}

static dfr_value list_clone(const dfr_value *v)
{
    dfr__list_ref(v->u.ptr);
    return *v;
}

const dfr_type dfr_type_i64 = {sizeof(dfr_type), "i64", NULL, copy_clone};
const dfr_type dfr_type_f64 = {sizeof(dfr_type), "f64", NULL, copy_clone};
const dfr_type dfr_type_ptr = {sizeof(dfr_type), "ptr", NULL, copy_clone};
const dfr_type dfr_type_bytes = {sizeof(dfr_type), "bytes", bytes_drop, bytes_clone};
const dfr_type dfr_type_failure = {sizeof(dfr_type), "failure", failure_drop, failure_clone};
const dfr_type dfr_type_deferred = {sizeof(dfr_type), "deferred", deferred_drop, deferred_clone};
const dfr_type dfr_type_list = {sizeof(dfr_type), "list", list_drop, list_clone};

void dfr_value_drop(dfr_value v)
{
    if (v.type && v.type->drop)
        v.type->drop(v.u.ptr);
}

dfr_value dfr_value_clone(const dfr_value *v)
{
    if (!v || !v->type || !v->type->clone)
        return dfr_none();
    return v->type->clone(v);
}

dfr_value dfr_bytes_new(const void *data, size_t len)
{
    if (!data && len)
        return dfr__lib_failure_value(DFR_EINVAL);
    if (len > SIZE_MAX - sizeof(dfr_bytes))
        return dfr__lib_failure_value(DFR_ENOMEM);
    dfr_bytes *b = dfr__malloc(sizeof(dfr_bytes) + len);
    if (!b)
        return dfr_value_failure(dfr__failure_static(DFR_ENOMEM));
    atomic_init(&b->refs, 1);
    b->len = len;
    if (len)
        memcpy(b->data, data, len);
    return dfr_obj(&dfr_type_bytes, b);
}

const void *dfr_bytes_data(const dfr_value *v)
{
    if (!v || v->type != &dfr_type_bytes)
        return NULL;
    return ((const dfr_bytes *)v->u.ptr)->data;
}

size_t dfr_bytes_len(const dfr_value *v)
{
    if (!v || v->type != &dfr_type_bytes)
        return 0;
    return ((const dfr_bytes *)v->u.ptr)->len;
}

dfr_failure *dfr_failure_from(const dfr_value *v)
{
    return v && v->type == &dfr_type_failure ? v->u.ptr : NULL;
}

dfr_deferred *dfr_deferred_from(const dfr_value *v)
{
    return v && v->type == &dfr_type_deferred ? v->u.ptr : NULL;
}
