/* libdeferred — DeferredList and gatherResults, and the dfr_list value. */
#ifndef DEFERRED_LIST_H
#define DEFERRED_LIST_H

#include "deferred.h"

#ifdef __cplusplus
extern "C" {
#endif

/* DeferredList flags, OR-ed into dfr_deferred_list's `unsigned flags` (an
 * enum type of their own; int-sized, so the parameter's ABI is unchanged). */
typedef enum dfr_list_flags {
    DFR_FIRE_ON_ONE_CALLBACK = 1,
    DFR_FIRE_ON_ONE_ERRBACK = 2,
    DFR_CONSUME_ERRORS = 4
} dfr_list_flags;

/* A deferred that fires once every input has a result, with a list value of
 * n (ok, value) entries in input order.  Takes its own references to the
 * inputs (released once the list fired, or once nothing but the list itself
 * holds the list's deferred: a list and inputs dropped unfired are freed,
 * docs/deferreds.md "Lifetimes").  The list receives each input's
 * result and the input's own chain continues with a clone of it (none for a
 * type without clone; none for a failure with DFR_CONSUME_ERRORS).
 *  - DFR_FIRE_ON_ONE_CALLBACK: fires with the first success as a 2-entry
 *    list (result, dfr_i64(index)).
 *  - DFR_FIRE_ON_ONE_ERRBACK: fails on the first failure with a DFR_EFIRST
 *    failure (cause = that failure, dfr_failure_index = which input).
 * n == 0 fires at once with an empty list, whatever the (known) flags.  Cancelling it
 * before it fired cancels every input, in order, as Twisted does: one that
 * already reported ignores it unless it now waits on a deferred a later
 * callback of its returned, which gets the cancel.  The list then fires as
 * the results arrive (it is not failed by the cancel itself).
 * Unknown flags (for any n), or n > 0 with NULL ds or a NULL input: a DFR_EINVAL failed
 * deferred.  NULL only on OOM. */
DFR_API dfr_deferred *dfr_deferred_list(dfr_deferred *const *ds, size_t n, unsigned flags);

/* gatherResults: a list of plain values (all ok), or the first failure wrapped
 * in DFR_EFIRST.  Cancelling it cancels the inputs, like the list.  Bad input
 * and OOM as for dfr_deferred_list. */
DFR_API dfr_deferred *dfr_gather_results(dfr_deferred *const *ds, size_t n, bool consume_errors);

/* The list inside a list value (borrowed); NULL for other values. */
DFR_API dfr_list *dfr_list_from(const dfr_value *v);
/* Number of entries; 0 for NULL. */
DFR_API size_t dfr_list_len(const dfr_list *l);
/* Whether entry i succeeded; false for NULL or out of range. */
DFR_API bool dfr_list_ok(const dfr_list *l, size_t i);
/* Borrowed entry value; NULL for NULL or out of range. */
DFR_API const dfr_value *dfr_list_get(const dfr_list *l, size_t i);
/* Move entry i out, leaving none behind; none for NULL or out of range. */
DFR_API dfr_value dfr_list_take(dfr_list *l, size_t i);

#ifdef __cplusplus
}
#endif
#endif
