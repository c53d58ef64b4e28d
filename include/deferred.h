/* libdeferred — Twisted's asynchronous core for C.
 * The one public header; see docs/deferreds.md for the model. */
#ifndef DEFERRED_H
#define DEFERRED_H

#include "deferred/common.h"
#include "deferred/value.h"
#include "deferred/failure.h"
#include "deferred/deferred.h"
#include "deferred/list.h"
#include "deferred/util.h"
#include "deferred/reactor.h"
#include "deferred/thread.h"
#include "deferred/coro.h"
#include "deferred/net.h"
#include "deferred/ffi_forms.h"

#endif
