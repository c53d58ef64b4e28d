/* dfr_reactor_defer_call: deferToThread for any C function, through libffi.  The
 * cif, the argument type list and the argument values are copied at call
 * time into one block, so callers may reuse theirs at once. */
#include "reactor/reactor_internal.h"

#include <deferred/ffi.h>
#include <stdint.h>
#include <string.h>

/* More arguments than any C ABI passes; a guard against a garbage cif. */
#define ARGS_MAX 1024

typedef struct ffi_job {
    ffi_cif cif;
    void (*fn)(void);
    void **args;  /* points into the block below */
    void *rvalue; /* &ret, or a buffer in the block for a larger struct */
    union {       /* the return value, at least ffi_arg wide */
        ffi_arg i;
        ffi_sarg s;
        double f64;
        float f32;
        void *ptr;
        unsigned char raw[64];
    } ret;
    /* then: ffi_type *types[nargs]; void *args[nargs]; [return buffer];
     * argument bytes */
} ffi_job;

static bool align_up(size_t *n, size_t a)
{
    if (*n > SIZE_MAX - (a - 1))
        return false;
    *n = (*n + a - 1) / a * a;
    return true;
}

static bool add_size(size_t *n, size_t more)
{
    if (*n > SIZE_MAX - more)
        return false;
    *n += more;
    return true;
}

static dfr_value ffi_job_run(void *data)
{
    ffi_job *job = data;
    ffi_call(&job->cif, job->fn, job->rvalue, job->args);
    const ffi_type *rt = job->cif.rtype;
    switch (rt->type) {
    case FFI_TYPE_VOID: return dfr_none();
    case FFI_TYPE_FLOAT: return dfr_f64(job->ret.f32);
    case FFI_TYPE_DOUBLE: return dfr_f64(job->ret.f64);
    case FFI_TYPE_POINTER: return dfr_ptr(job->ret.ptr);
    case FFI_TYPE_UINT8:
    case FFI_TYPE_UINT16:
    case FFI_TYPE_UINT32:
    case FFI_TYPE_UINT64:
        return dfr_i64((int64_t)(uint64_t)job->ret.i);
    case FFI_TYPE_SINT8:
    case FFI_TYPE_SINT16:
    case FFI_TYPE_SINT32:
    case FFI_TYPE_SINT64:
    case FFI_TYPE_INT:
        return dfr_i64((int64_t)job->ret.s);
    case FFI_TYPE_STRUCT:
        /* Its bytes, any size (a DFR_ENOMEM failure when they do not fit). */
        return dfr_bytes_new(job->rvalue, rt->size);
    default:
        return dfr_none(); /* long double, complex: not representable */
    }
}

/* A type libffi can call with: a known code, and a size for everything but
 * void (ffi_prep_cif sets a struct's size; an unprepared one has none). */
static bool type_ok(const ffi_type *t, bool is_return)
{
    if (!t || t->type > FFI_TYPE_LAST)
        return false;
    if (t->type == FFI_TYPE_VOID)
        return is_return;
    return t->size > 0;
}

dfr_deferred *dfr_reactor_defer_call(dfr_reactor *r, ffi_cif *cif, void (*fn)(void), void **args)
{
    int rc = dfr__reactor_check(r); /* wrong thread, reactor going */
    if (rc)
        return dfr__reactor_refused(rc);
    /* Bad input (a size that overflows included) is refused the same way. */
    if (!cif || !fn || !type_ok(cif->rtype, true) || cif->nargs > ARGS_MAX ||
        (cif->nargs && (!args || !cif->arg_types)))
        return dfr__reactor_refused(DFR_EINVAL);
    unsigned n = cif->nargs;
    const ffi_type *rt = cif->rtype;
    size_t types_at = sizeof(ffi_job);
    if (!align_up(&types_at, _Alignof(ffi_type *)))
        return dfr__reactor_refused(DFR_EINVAL);
    size_t argv_at = types_at + n * sizeof(ffi_type *);
    size_t ret_at = argv_at + n * sizeof(void *);
    size_t ret_size = rt->size > sizeof(((ffi_job *)0)->ret) ? rt->size : 0;
    if (!align_up(&ret_at, 16))
        return dfr__reactor_refused(DFR_EINVAL);
    size_t total = ret_at;
    if (!add_size(&total, ret_size))
        return dfr__reactor_refused(DFR_EINVAL);
    for (unsigned i = 0; i < n; i++) {
        if (!type_ok(cif->arg_types[i], false) || !args[i])
            return dfr__reactor_refused(DFR_EINVAL);
        if (!align_up(&total, 16) || !add_size(&total, cif->arg_types[i]->size))
            return dfr__reactor_refused(DFR_EINVAL);
    }
    char *block = dfr__malloc(total);
    if (!block)
        return NULL;
    ffi_job *job = (ffi_job *)block;
    memset(job, 0, sizeof *job);
    job->cif = *cif;
    job->fn = fn;
    ffi_type **types = (ffi_type **)(block + types_at);
    job->args = (void **)(block + argv_at);
    job->rvalue = ret_size ? (void *)(block + ret_at) : (void *)&job->ret;
    size_t at = ret_at + ret_size;
    for (unsigned i = 0; i < n; i++) {
        types[i] = cif->arg_types[i];
        align_up(&at, 16);
        memcpy(block + at, args[i], types[i]->size);
        job->args[i] = block + at;
        at += types[i]->size;
    }
    job->cif.arg_types = types;
    return dfr_reactor_defer_to_thread(r, ffi_job_run, job, dfr__free);
}
