/* dfr_defer_call: deferToThread for any C function, through libffi.  The
 * cif, the argument type list and the argument values are copied at call
 * time into one block, so callers may reuse theirs at once. */
#include "reactor/reactor_internal.h"

#include <deferred/ffi.h>
#include <string.h>

typedef struct ffi_job {
    ffi_cif cif;
    void (*fn)(void);
    void **args;             /* points into storage below */
    union {                  /* the return value, at least ffi_arg wide */
        ffi_arg i;
        ffi_sarg s;
        double f64;
        float f32;
        void *ptr;
        unsigned char raw[64];
    } ret;
    /* then: ffi_type *types[nargs]; void *args[nargs]; argument bytes */
} ffi_job;

static size_t align_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

static dfr_value ffi_job_run(void *data)
{
    ffi_job *job = data;
    ffi_call(&job->cif, job->fn, &job->ret, job->args);
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
    default:
        return dfr_none(); /* structs, long double: not representable */
    }
}

static bool return_fits(const ffi_type *rt)
{
    return rt->size <= sizeof(((ffi_job *)0)->ret);
}

dfr_deferred *dfr_defer_call(dfr_reactor *r, ffi_cif *cif, void (*fn)(void), void **args)
{
    int owner_rc = r ? dfr__reactor_check(r) : 0; /* wrong thread: a failed deferred */
    if (owner_rc)
        return dfr__reactor_refused(owner_rc);
    if (!r || !cif || !fn || (cif->nargs && (!args || !cif->arg_types)) || !cif->rtype ||
        !return_fits(cif->rtype))
        return NULL;
    unsigned n = cif->nargs;
    size_t size = sizeof(ffi_job);
    size_t types_at = align_up(size, _Alignof(ffi_type *));
    size_t argv_at = types_at + n * sizeof(ffi_type *);
    size_t bytes_at = align_up(argv_at + n * sizeof(void *), 16);
    size_t total = bytes_at;
    for (unsigned i = 0; i < n; i++) {
        if (!cif->arg_types[i] || !args[i])
            return NULL;
        total = align_up(total, 16) + cif->arg_types[i]->size;
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
    size_t at = bytes_at;
    for (unsigned i = 0; i < n; i++) {
        types[i] = cif->arg_types[i];
        at = align_up(at, 16);
        memcpy(block + at, args[i], types[i]->size);
        job->args[i] = block + at;
        at += types[i]->size;
    }
    job->cif.arg_types = types;
    return dfr_defer_to_thread(r, ffi_job_run, job, dfr__free);
}
