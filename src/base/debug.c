/* Debug mode: where deferreds and failures were made, as call stacks of
 * return addresses, symbolized only when a report is printed. */
#include "base/base_internal.h"

#include <dlfcn.h>
#include <execinfo.h>

atomic_bool dfr__debug;
static dfr__hooks debug_off_hooks;

void dfr__on_debug_off(dfr__hook *h)
{
    dfr__hooks_add(&debug_off_hooks, h);
}

void dfr_set_debug(bool on)
{
    atomic_store(&dfr__debug, on);
    /* What debug mode kept goes with it, e.g. the freed delayed-call handles
     * kept poisoned (a late use is undefined again then): never with
     * dfr_trim, which runs on any thread's exit while other threads may still
     * touch their dead handles. */
    if (!on)
        dfr__hooks_run(&debug_off_hooks);
}

bool dfr_debug_enabled(void)
{
    return dfr__debug_on();
}

void dfr__trace_capture(dfr__trace *t, int skip)
{
    void *pc[DFR_TRACE_FRAMES + 4];
    int n = backtrace(pc, DFR_TRACE_FRAMES + 4);
    int first = skip + 1; /* this function's own frame */
    t->frames = 0;
    for (int i = first; i < n && t->frames < DFR_TRACE_FRAMES; i++)
        t->pc[t->frames++] = pc[i];
}

void dfr__print_symbol(FILE *out, const void *addr)
{
    Dl_info info;
    if (dladdr(addr, &info) && info.dli_sname) {
        fprintf(out, "%s+0x%lx (%s)", info.dli_sname,
                (unsigned long)((const char *)addr - (const char *)info.dli_saddr),
                info.dli_fname ? info.dli_fname : "?");
    } else if (dladdr(addr, &info) && info.dli_fname) {
        fprintf(out, "%s+0x%lx", info.dli_fname,
                (unsigned long)((const char *)addr - (const char *)info.dli_fbase));
    } else {
        fprintf(out, "%p", addr);
    }
}

void dfr__trace_print(FILE *out, const dfr__trace *t, const char *indent)
{
    for (int i = 0; i < t->frames; i++) {
        fprintf(out, "%s#%d ", indent, i);
        dfr__print_symbol(out, t->pc[i]);
        fputc('\n', out);
    }
}
