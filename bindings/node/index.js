'use strict';
// Twisted's Deferreds for Node.js over libdeferred (the C engine runs every
// chain).  The reactor runs on Node's own event loop: see docs/node.md.
const path = require('node:path');
const native = require(path.join(__dirname, 'build', 'deferred.node'));

const NOWRAP = Symbol('deferred.nowrap');

// Functions C may call live here, C holds their index k (no Node-API
// reference per callback) and calls them through `dispatch` below.  FN[k]
// is a callback (or the only function), FN2[k] the errback of a pair (for a
// timer: its DelayedCall).  A callback's k is reusable once dispatch ran
// it; C hands back the others (native.drain) once it dropped them.
// `freeK` are reusable.
const FN = [];
const FN2 = [];
const freeK = [];
let nextK = 0;
// Shared with C, set up first so that they are constants (cheaper to read in
// optimized code than variables): mbox the mailbox (MB_* in src/addon.c),
// num a number crossing either way (g_num).  The functions C calls are
// hoisted declarations, or wrappers reaching what is defined further down.
const [mbox, freedBuf, queueBuf, num] = native.setup((h) => makeDeferred(h), function (message, domain, code, errno, cause) {
  return new DeferredError(message, domain, code, errno, cause);
}, dispatch, onUnhandled);
const QUEUE_MAX = 16384; // (k, which) pairs queueBuf holds: src/addon.c
// The new Deferred whose queued callbacks queueBuf holds (qn pairs), if any:
// one at a time, so a Deferred needs no queue of its own (see Deferred).
let qOwner = null;
let qn = 0;
let qFlushing = false;
const MB_RET = 0, MB_HANDLE = 1, MB_FREED = 2, MB_OBSERVE = 3, MB_DETACHED = 4, MB_NEW = 5;
const MB_K = 6, MB_A0 = 7, MB_A1 = 8, MB_A2 = 9, MB_ARG = 10; // see src/addon.c
// #v of a Deferred that has not needed a C deferred yet (see Deferred).
const LAZY = Symbol('deferred.lazy');
const RET_THREW = 1, RET_DEFERRED = 2, RET_PASS = 3, RET_NUM = 4, RET_UNDEFINED = 5;
// The result C handed back with MB_DETACHED set (2: a number, in num[0]).
function detachedValue(r) {
  const m = mbox[MB_DETACHED];
  mbox[MB_DETACHED] = 0;
  return m === 2 ? num[0] : r;
}

function drain() {
  for (;;) {
    const n = native.drain();
    for (let i = 0; i < n; i++) {
      const k = freedBuf[i];
      dcGone(FN2[k]);
      FN[k] = undefined;
      FN2[k] = undefined;
      freeK.push(k);
    }
    if (n < freedBuf.length) return;
  }
}

function slotK(f, g) {
  if (freeK.length === 0 && mbox[MB_FREED] > 0) drain();
  let k;
  if (freeK.length > 0) k = freeK.pop();
  else if (nextK < 2 ** 29) k = nextK++; // C gets k << 3 | mode
  else throw new RangeError('too many JS functions held by C chains');
  FN[k] = f;
  FN2[k] = g;
  return k;
}

// At the end of the job the queue's owner gets its C deferred (qOwner).
function endOfJob() {
  qFlushing = false;
  if (qOwner !== null) flushQueue();
}

/** A failure from the C library (or made by it): an Error with domain, code, errno, cause. */
class DeferredError extends Error {
  constructor(message, domain, code, errno, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.domain = domain;
    this.code = code;
    this.errno = errno;
  }
}
Object.defineProperty(DeferredError.prototype, 'name', { value: 'DeferredError' });

const ST = ['pending', 'succeeded', 'failed'];

// A failure never carries undefined: an errback that returns nothing could
// not be told from one passing it on (`return err`), so addErrback(() => {})
// could never handle it, or addBoth((r) => r) would swallow it.
function noError(message) { return new DeferredError(message, 'js', 'EFAIL', 1); }
function thrown(e) { return e === undefined ? noError('undefined was thrown') : e; }

function checkFn(f, what) {
  if (typeof f !== 'function') throw new TypeError(`${what} must be a function`);
}

// addCallbacks' callbackArgs / errbackArgs: an array, or nothing.
function argList(a, what) {
  if (a == null) return [];
  if (!Array.isArray(a)) throw new TypeError(`${what} must be an array`);
  return a;
}

function bindArgs(f, args) {
  return args.length ? (r) => f(r, ...args) : f;
}
// f with the arguments after the first of `a` (an arguments object).
function bindRest(f, a) {
  return bindArgs(f, Array.prototype.slice.call(a, 1));
}

let makeDeferred, handleOf, isDeferred, adoptDeferred, failDeferred;

// Deferreds JS made in the current job: they get their finalizer (a
// Node-API one, src/addon.c "handles") at the end of the job, in one call,
// if they still hold a C deferred then.  Most are detached by then.
let young = [];
function flushYoung() {
  const objs = [], hs = [];
  for (const d of young) {
    const h = liveHandle(d);
    if (h !== 0) { objs.push(d); hs.push(h); }
  }
  young = [];
  if (objs.length > 0) native.attach(objs, hs);
}
let youngDue = false; // a flushYoung job is queued
function flushYoungJob() { youngDue = false; flushYoung(); }
function isYoung(d) {
  young.push(d);
  if (!youngDue) { youngDue = true; queueMicrotask(flushYoungJob); }
  else if (young.length >= 4096) flushYoung();
}
let liveHandle, hx, queued, flushQueue;
// New Deferreds being fired (callback() made their C deferred), innermost
// last: one's #h is -(its depth) meanwhile, and C makes its handle only if
// JS uses it during the run (native.firing(depth), see #h): most are
// detached at the end of the call and never need one.
let fireDepth = 0;

class Deferred {
  // The C deferred's handle (src/addon.c, "handles"): private, so it cannot
  // be forged or moved to another object.  Negative while callback() runs
  // the chain of the C deferred it made (-depth, see fireDepth): #handle()
  // then asks C for the handle.  0 once detached: the C deferred
  // was released and #v is its result (a success nothing else refers to;
  // see settle() in src/addon.c); any use that needs C makes a new one with
  // that result (#resume).  0 with #v === LAZY: new and not fired yet, with
  // no C deferred: callbacks added meanwhile wait in the shared queueBuf
  // (their FN slots; this Deferred is qOwner) and the first call that needs
  // C makes its C deferred with them, in one call (handle 0 tells C so).
  // Nothing but this object can see it until then, so queueing them is
  // invisible.  Another new Deferred queueing, a full buffer, or the end of
  // the job makes the owner's C deferred (flushQueue).
  #h = 0;
  #v = undefined;
  #p = null; // detached: a Promise resolved with #v, made by the first then()
  static {
    makeDeferred = (h) => {
      const d = new Deferred(NOWRAP);
      d.#h = h;
      return d;
    };
    isDeferred = (x) => x !== null && typeof x === 'object' && #h in x;
    handleOf = (x) => {
      if (!isDeferred(x)) throw new TypeError('expected a Deferred');
      return x.#h > 0 ? x.#h : x.#h < 0 ? x.#firingHandle() : x.#v === LAZY ? x.#create() : x.#resume();
    };
    liveHandle = (x) => (x.#h > 0 ? x.#h : 0);
    // The handle for a call that accepts 0 (make the C deferred now).
    hx = (x) => {
      if (!isDeferred(x)) throw new TypeError('expected a Deferred');
      return x.#h > 0 || (x.#h === 0 && x.#v === LAZY) ? x.#h : x.#h < 0 ? x.#firingHandle() : x.#resume();
    };
    // How many queued callbacks of x C takes now (from queueBuf).
    queued = (x) => {
      if (qOwner !== x) return 0;
      const n = qn;
      qOwner = null;
      qn = 0;
      return n;
    };
    flushQueue = () => qOwner.#create();
    // succeed(value): detached at once when it can be.
    adoptDeferred = (value) => {
      const d = new Deferred(NOWRAP);
      const r = native.succeed(value);
      if (mbox[MB_DETACHED] !== 0) d.#v = detachedValue(r); else { d.#h = r; isYoung(d); }
      return d;
    };
    failDeferred = (error) => {
      const d = new Deferred(NOWRAP);
      d.#h = native.fail(error);
      isYoung(d);
      return d;
    };
  }

  /** @param {(d: Deferred) => void} [canceller] */
  constructor(canceller) {
    if (canceller === NOWRAP) return;
    if (canceller === undefined || canceller === null) {
      this.#v = LAZY;
      return;
    }
    if (typeof canceller !== 'function') throw new TypeError('canceller must be a function');
    // Held by C: it must not keep this Deferred alive (a WeakRef).
    const self = new WeakRef(this);
    this.#h = native.init(() => {
      try { canceller(self.deref()); } catch (e) { throw thrown(e); }
    });
    isYoung(this);
  }

  // Being fired by callback() (#h < 0): C makes its handle now.
  #firingHandle() {
    this.#h = native.firing(-this.#h);
    this.#v = undefined;
    return this.#h;
  }

  #create() {
    this.#h = native.init(undefined, queued(this));
    this.#v = undefined;
    isYoung(this);
    return this.#h;
  }


  // After such a call: a new C deferred (MB_NEW), or a detach (MB_DETACHED).
  #after(r, h) {
    if (mbox[MB_DETACHED] !== 0) {
      this.#h = 0;
      this.#v = detachedValue(r);
    } else if (h === 0) {
      this.#h = mbox[MB_NEW];
      this.#v = undefined;
      isYoung(this);
    }
  }

  #resume() {
    this.#h = native.resume(this.#v);
    this.#v = undefined;
    this.#p = null;
    isYoung(this);
    return this.#h;
  }

  // After an operation that may have detached it (MB_DETACHED).
  #settled(r) {
    if (mbox[MB_DETACHED] !== 0) {
      this.#h = 0;
      this.#v = detachedValue(r);
    }
  }

  #add(cb, eb, which) {
    if (this.#h === 0 && this.#v === LAZY) {
      if (qOwner !== this) {
        if (qOwner !== null) flushQueue();
        qOwner = this;
        if (!qFlushing) { // once per job: the owner gets its C deferred at the end
          qFlushing = true;
          queueMicrotask(endOfJob);
        }
      }
      queueBuf[2 * qn] = slotK(cb, eb);
      queueBuf[2 * qn + 1] = which;
      if (++qn === QUEUE_MAX) flushQueue(); // the buffer is full
      return;
    }
    const h = hx(this);
    const k = slotK(cb, eb);
    mbox[MB_A0] = h; // arguments in the shared mailbox (src/addon.c, MB_A0)
    mbox[MB_A1] = k;
    mbox[MB_A2] = which;
    this.#after(native.addCallbacks(), h);
  }

  addCallbacks(callback, errback, opts) {
    if (!isDeferred(this)) throw new TypeError('expected a Deferred');
    const o = opts || {};
    if ((callback != null && typeof callback !== 'function') ||
        (errback != null && typeof errback !== 'function') || (callback == null && errback == null)) {
      throw new TypeError('callback and errback must be functions (or null)');
    }
    const cb = callback && bindArgs(callback, argList(o.callbackArgs, 'callbackArgs'));
    const eb = errback && bindArgs(errback, argList(o.errbackArgs, 'errbackArgs'));
    this.#add(cb, eb, (cb ? 1 : 0) | (eb ? 2 : 0));
    return this;
  }
  // Extra arguments through `arguments` on a path of its own: a rest
  // parameter is an array made on every call the optimizer does not inline.
  addCallback(fn) {
    if (!isDeferred(this)) throw new TypeError('expected a Deferred');
    checkFn(fn, 'callback');
    this.#add(arguments.length > 1 ? bindRest(fn, arguments) : fn, undefined, 1);
    return this;
  }
  addErrback(fn) {
    if (!isDeferred(this)) throw new TypeError('expected a Deferred');
    checkFn(fn, 'errback');
    this.#add(undefined, arguments.length > 1 ? bindRest(fn, arguments) : fn, 2);
    return this;
  }
  addBoth(fn, ...args) {
    if (!isDeferred(this)) throw new TypeError('expected a Deferred');
    checkFn(fn, 'callback');
    const f = bindArgs(fn, args);
    this.#add(f, f, 3);
    return this;
  }
  callback(value) {
    const h = hx(this);
    if (isDeferred(value)) throw new TypeError('cannot fire a Deferred with another Deferred (chain it instead)');
    if (h !== 0) {
      this.#settled(fire(h, 0, value));
      return;
    }
    const n = queued(this);
    this.#h = -++fireDepth;
    let r;
    try {
      r = fire(0, n, value);
    } finally {
      fireDepth--;
      if (this.#h < 0) this.#h = 0; // C threw: no C deferred (#after sets it otherwise)
    }
    try {
      this.#after(r, 0);
    } catch (e) {
      // Only at a stack overflow (#after itself could not be called): its
      // work without a call, so that this object holds the handle C made;
      // else that C deferred (maybe failed) would never be released.
      if (mbox[MB_DETACHED] !== 0) {
        this.#v = mbox[MB_DETACHED] === 2 ? num[0] : r;
        mbox[MB_DETACHED] = 0;
      } else {
        this.#h = mbox[MB_NEW];
        this.#v = undefined;
        young[young.length] = this; // attached with the next isYoung's flush
      }
      throw e;
    }
  }
  errback(error) {
    native.errback(handleOf(this), error === undefined ? new DeferredError('errback() with no error', 'js', 'EFAIL', 1) : error);
  }
  cancel() {
    // A detached Deferred has its result and waits for nothing: a no-op.
    if (!isDeferred(this)) throw new TypeError('expected a Deferred');
    if (this.#h !== 0 || this.#v === LAZY) native.cancel(handleOf(this));
  }
  pause() { native.pause(handleOf(this), false); }
  unpause() {
    const h = handleOf(this); // first: it checks `this`
    this.#settled(native.pause(h, true));
  }
  chainDeferred(other) {
    const h = handleOf(this);
    if (!isDeferred(other)) throw new TypeError('chainDeferred expects a Deferred');
    native.chain(h, handleOf(other));
    return this; // Twisted's chainDeferred returns self (its result is then undefined)
  }
  #stateNum() {
    return this.#h !== 0 ? native.state(handleOf(this)) : this.#v === LAZY ? 0 : 1;
  }
  /** 'pending' | 'succeeded' | 'failed' */
  get state() {
    if (!isDeferred(this)) throw new TypeError('expected a Deferred');
    return ST[this.#stateNum()];
  }
  get called() {
    if (!isDeferred(this)) throw new TypeError('expected a Deferred');
    return this.#stateNum() !== 0;
  }
  get paused() {
    if (!isDeferred(this)) throw new TypeError('expected a Deferred');
    return this.#h !== 0 ? native.paused(handleOf(this)) : 0;
  }
  /** addTimeout(seconds, clock?) or (seconds, { clock }), as the function takes it. */
  addTimeout(seconds, clock, onTimeoutCancel) {
    if (clock !== null && typeof clock === 'object' && Object.getPrototypeOf(clock) === Object.prototype) {
      onTimeoutCancel = clock.onTimeoutCancel;
      clock = clock.clock;
    }
    return addTimeoutTo(this, seconds, clock, onTimeoutCancel);
  }

  /**
   * Thenable: resolves / rejects with a *copy* of the result as it stands at
   * this point of the chain; the chain's own result goes on unchanged to later
   * callbacks.  A failure delivered this way counts as handled.  A detached
   * Deferred answers from its own copy, without C.
   */
  then(onFulfilled, onRejected) {
    if (isDeferred(this) && this.#h === 0 && this.#v !== LAZY) {
      if (this.#p === null) this.#p = Promise.resolve(this.#v);
      return this.#p.then(onFulfilled, onRejected);
    }
    const p = Deferred.prototype.toPromise.call(this); // (checks `this`)
    return onFulfilled === undefined && onRejected === undefined ? p : p.then(onFulfilled, onRejected);
  }
  catch(onRejected) { return Deferred.prototype.then.call(this, undefined, onRejected); }
  finally(f) { return Deferred.prototype.toPromise.call(this).finally(f); }
  toPromise() {
    if (!isDeferred(this)) throw new TypeError('expected a Deferred');
    return this.#h !== 0 || this.#v === LAZY ? observe(handleOf(this)) : Promise.resolve(this.#v);
  }

  /** A Deferred following a Promise/thenable; cancel() (or signal) rejects it with ECANCELED. */
  static fromPromise(p, opts) {
    const signal = checkSignal(opts && opts.signal);
    const d = new Deferred();
    let done = false;
    const settle = (f) => (v) => { if (!done) { done = true; if (signal) signal.removeEventListener('abort', onAbort); f(v); } };
    const onAbort = () => d.cancel();
    Promise.resolve(p).then(settle((v) => d.callback(v)),
      settle((e) => d.errback(e === undefined ? noError('the promise was rejected with undefined') : e)));
    d.addBoth((r) => { done = true; if (signal) signal.removeEventListener('abort', onAbort); return r; });
    if (signal) {
      if (signal.aborted) d.cancel();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
    return d;
  }
}

// A Promise for a copy of the result when the chain reaches this point.  A
// Deferred that has its result now (fired, not paused, not running) answers
// at once, without a callback from C.
function observe(h) {
  const k = slotK(undefined, undefined);
  const v = native.observe(h, k);
  const m = mbox[MB_OBSERVE];
  if (m !== 0) {
    freeK.push(k);
    return m === 1 ? Promise.resolve(v) : Promise.reject(v);
  }
  return new Promise((res, rej) => { FN[k] = res; FN2[k] = rej; });
}

// Every JS function C calls goes through here: mode 0 callback, 1 errback,
// 2/3 then's resolve/reject, 4 a task (its result matters), 5 a timer.  It
// tells C what the result is through the mailbox (RET_*).
function dispatch(v) {
  const km = mbox[MB_K], k = km >>> 3, mode = km & 7;
  if (mbox[MB_ARG] !== 0) v = num[0]; // a number C did not pass as a value
  let f;
  switch (mode) {
    // A callback or errback runs once: its k is free again at once (C
    // drops the entry right after, and skips handing k back: MB_K -1).
    case 0: f = FN[k]; FN[k] = FN2[k] = undefined; freeK.push(k); mbox[MB_K] = -1; break;
    case 1: f = FN2[k]; FN[k] = FN2[k] = undefined; freeK.push(k); mbox[MB_K] = -1; break;
    case 2: f = FN[k]; FN[k] = FN2[k] = undefined; f(v); return undefined;
    case 3: f = FN2[k]; FN[k] = FN2[k] = undefined; f(v); return undefined;
    case 4: f = FN[k]; break;
    default: // a timer: FN2[k] is its DelayedCall
      f = FN[k];
      FN[k] = undefined;
      dcRan(FN2[k]);
      try { f(); } catch (e) { mbox[MB_RET] = RET_THREW; return e; }
      return undefined;
  }
  let r;
  try { r = mode === 4 ? f() : f(v); } catch (e) {
    if (mode < 2) mbox[MB_K] = -1;
    mbox[MB_RET] = RET_THREW;
    return thrown(e);
  }
  // Said again once f returned: a dispatch nested in f (f calling into C,
  // which called JS) wrote its own MB_K, and C would hand this k back too.
  if (mode < 2) mbox[MB_K] = -1;
  if (mode === 1 && r === v) { mbox[MB_RET] = RET_PASS; return undefined; }
  if (r !== null && (typeof r === 'object' || typeof r === 'function')) {
    if (!isDeferred(r)) {
      // A thenable: the chain waits for it as for a Deferred.
      let then;
      try { then = r.then; } catch (e) { mbox[MB_RET] = RET_THREW; return thrown(e); }
      if (typeof then !== 'function') return r;
      r = fromThenable(r, then);
    }
    mbox[MB_HANDLE] = handleOf(r);
    mbox[MB_RET] = RET_DEFERRED;
    return undefined;
  }
  // The commonest results, with no Node-API call to read them.
  if (typeof r === 'number') { num[0] = r; mbox[MB_RET] = RET_NUM; return undefined; }
  if (r === undefined) mbox[MB_RET] = RET_UNDEFINED;
  return r;
}

// native.callback() with its mailbox arguments: handle h (0: make the C
// deferred with the n queued callbacks) and the value.
function fire(h, n, value) {
  mbox[MB_A0] = h;
  mbox[MB_A1] = n;
  if (typeof value === 'number') { // passed in shared memory: no Node-API call to read it
    num[0] = value;
    mbox[MB_A2] = 1;
    return native.callback();
  }
  mbox[MB_A2] = 0;
  return native.callback(value);
}

function succeed(value) { return isDeferred(value) ? value : adoptDeferred(value); }
function fail(error) {
  return failDeferred(error === undefined ? new DeferredError('fail() with no error', 'js', 'EFAIL', 1) : error);
}
function maybeDeferred(fn, ...args) {
  checkFn(fn, 'maybeDeferred callable');
  let r;
  try { r = fn(...args); } catch (e) { return fail(thrown(e)); }
  if (isDeferred(r)) return r;
  if (r !== null && (typeof r === 'object' || typeof r === 'function')) {
    // Whatever fn returned, the answer is a Deferred: a `then` getter that
    // throws (a revoked Proxy) is a failure, as an exception from fn is.
    let then;
    try { then = r.then; } catch (e) { return fail(thrown(e)); }
    if (typeof then === 'function') return fromThenable(r, then);
  }
  return succeed(r);
}

// A Deferred following thenable r whose `then` was read once already: as
// for a Promise, a `then` getter runs once (it may have side effects), so
// the function read is the one called (later, as Promise.resolve would).
const promiseThen = Promise.prototype.then;
function fromThenable(r, then) {
  return Deferred.fromPromise(then === promiseThen ? r : { then: (a, b) => then.call(r, a, b) });
}

const FIRE_ON_ONE_CALLBACK = 1, FIRE_ON_ONE_ERRBACK = 2, CONSUME_ERRORS = 4;
/** DeferredList: fires with [[ok, value], ...] (input order). */
function DeferredList(deferreds, opts) {
  const o = opts || {};
  const flags = (o.fireOnOneCallback ? FIRE_ON_ONE_CALLBACK : 0) |
    (o.fireOnOneErrback ? FIRE_ON_ONE_ERRBACK : 0) | (o.consumeErrors ? CONSUME_ERRORS : 0);
  const l = native.list(handles(deferreds), flags, false);
  // fireOnOneCallback fires with [result, index] (a C list of those two
  // entries, both ok); when every input failed it fires with the full list
  // (all not ok).  Anything else (a value the list was fired with from
  // outside, as chainDeferred can) passes unchanged, as in Twisted.
  return o.fireOnOneCallback ? l.addCallback(firstOfList) : l;
}
function firstOfList(r) {
  return Array.isArray(r) && r.length === 2 && Array.isArray(r[0]) && r[0][0] === true &&
    Array.isArray(r[1]) && r[1][0] === true && typeof r[1][1] === 'number' ? [r[0][1], r[1][1]] : r;
}
// An array of Deferreds as their handles (C checks them: 0 is never one).
function handles(ds) {
  return Array.isArray(ds) ? ds.map((d) => (isDeferred(d) ? handleOf(d) : 0)) : ds;
}
/** gatherResults: fires with [value, ...] or fails with the first failure (code EFIRST, cause). */
function gatherResults(deferreds, opts) {
  return native.list(handles(deferreds), opts && opts.consumeErrors ? CONSUME_ERRORS : 0, true)
    .addCallback((l) => l.map((e) => e[1]));
}

/** A manual clock (Twisted's task.Clock): time moves only by advance(). */
class Clock {
  constructor() { native.clockInit(this); }
  advance(seconds) { native.advance(clockThis(this), seconds); }
  seconds() { return native.seconds(clockThis(this)); }
  /** Twisted's Clock.pump: advance by each amount in turn. */
  pump(timings) {
    clockThis(this);
    for (const t of timings) this.advance(t);
  }
  get pendingCalls() { return native.pendingCalls(clockThis(this)); }
}
// A Clock method's receiver: C takes undefined or null for the reactor
// itself, which a method called on nothing must not reach.
function clockThis(c) {
  if (c === null || typeof c !== 'object') throw new TypeError('expected a Clock');
  return c;
}

// As C throws them (src/addon.c, throw_dfr): errno is the library's code.
function alreadyCalled() {
  return new DeferredError('AlreadyCalled: the call already ran', 'dfr', 'EALREADY_CALLED', -9);
}
function alreadyCancelled() {
  return new DeferredError('AlreadyCancelled: the call was cancelled', 'dfr', 'EALREADY_CANCELLED', -8);
}

let makeDelayedCall, dcHandle, dcRan, dcGone, dcPending;
class DelayedCall {
  // The reactor's call, by handle (src/addon.c, "DelayedCall"); #state
  // 0 pending, 1 it ran, 2 cancelled.  Once it is not pending the handle is
  // never used again: no C reference, no finalizer.
  #h = 0;
  #state = 0;
  static {
    makeDelayedCall = (h) => {
      const c = new DelayedCall(NOWRAP);
      c.#h = h;
      return c;
    };
    dcHandle = (x) => {
      if (x === null || typeof x !== 'object' || !(#state in x)) throw new TypeError('expected a DelayedCall');
      if (x.#state === 1) throw alreadyCalled();
      if (x.#state === 2) throw alreadyCancelled();
      return x.#h;
    };
    dcRan = (x) => { if (x !== undefined) x.#state = 1; };
    // Its reactor dropped it (C handed its k back without running it).
    dcGone = (x) => { if (x !== null && typeof x === 'object' && #state in x && x.#state === 0) x.#state = 2; };
    dcPending = (x) => {
      if (x === null || typeof x !== 'object' || !(#state in x)) throw new TypeError('expected a DelayedCall');
      return x.#state === 0;
    };
  }
  constructor(token) {
    if (token !== NOWRAP) throw new TypeError('DelayedCall objects come from callLater');
  }
  cancel() {
    native.dc(dcHandle(this), 0);
    this.#state = 2;
  }
  reset(seconds) { native.dc(dcHandle(this), 1, seconds); }
  delay(seconds) { native.dc(dcHandle(this), 2, seconds); }
  active() { return dcPending(this) ? native.dc(this.#h, 3) : false; }
  /** When it will run (reactor seconds); NaN once it ran or was cancelled. */
  getTime() { return dcPending(this) ? native.dc(this.#h, 4) : NaN; }
  get time() { return DelayedCall.prototype.getTime.call(this); }
}

function newDelayedCall(clock, seconds, f) {
  const k = slotK(f, undefined);
  const c = makeDelayedCall(native.callLater(clock, seconds, k));
  FN2[k] = c; // the dispatcher marks it when it runs it; drain when its reactor drops it
  return c;
}

// The clock of an options object ({ clock, ... }).  A Clock passed in its
// place, or a non-object, would otherwise be ignored: the call would go to
// the real reactor without a word.
function clockOf(opts) {
  if (opts == null) return undefined;
  if (typeof opts !== 'object') throw new TypeError('options must be an object ({ clock, ... })');
  if (opts instanceof Clock) throw new TypeError('pass the clock as an option: { clock }');
  return opts.clock;
}

/** callLater(seconds, fn, ...args) → DelayedCall; opts with { clock } as last arg not supported: use clock.callLater. */
function callLater(seconds, fn, ...args) {
  checkFn(fn, 'callLater callable');
  return newDelayedCall(undefined, seconds, args.length ? () => fn(...args) : fn);
}
Clock.prototype.callLater = function (seconds, fn, ...args) {
  checkFn(fn, 'callLater callable');
  return newDelayedCall(clockThis(this), seconds, args.length ? () => fn(...args) : fn);
};

/** deferLater(seconds, fn?, { clock, signal }) */
function deferLater(seconds, fn, opts) {
  if (fn !== undefined && typeof fn !== 'function') throw new TypeError("deferLater's callable must be a function");
  const signal = checkSignal(opts && opts.signal);
  const d = native.deferLater(clockOf(opts), seconds, fn === undefined ? undefined : slotK(fn, undefined));
  return withSignal(d, signal);
}

function checkSignal(signal) {
  if (signal != null && !(signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
  return signal;
}

function withSignal(d, signal) {
  if (!signal) return d;
  if (signal.aborted) { d.cancel(); return d; }
  const onAbort = () => d.cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  d.addBoth((r) => { signal.removeEventListener('abort', onAbort); return r; });
  return d;
}

/**
 * addTimeout(d, seconds, { clock, onTimeoutCancel }): cancel d after `seconds`; it fails
 * with ETIMEDOUT, or takes what onTimeoutCancel(result, seconds) returns (Twisted's
 * onTimeoutCancel: called only when the timeout cancelled d, with the chain's result then).
 */
function addTimeout(d, seconds, opts) {
  return addTimeoutTo(d, seconds, clockOf(opts), opts && opts.onTimeoutCancel);
}
function addTimeoutTo(d, seconds, clock, onTimeoutCancel) {
  if (onTimeoutCancel == null) {
    native.addTimeout(handleOf(d), clock, seconds);
    return d;
  }
  checkFn(onTimeoutCancel, 'onTimeoutCancel');
  const f = (v) => onTimeoutCancel(v, seconds);
  native.addTimeout(handleOf(d), clock, seconds, slotK(f, f));
  return d;
}

class LoopingCall {
  constructor(fn, opts) { checkFn(fn, 'LoopingCall callable'); native.lcInit(this, clockOf(opts), slotK(fn, undefined)); }
  /** Returns a Deferred firing with this LoopingCall when stopped. */
  start(interval, now = true) {
    const self = this;
    return native.lc(this, 0, interval, !!now).addCallback(() => self);
  }
  stop() { native.lc(this, 1); }
  reset() { native.lc(this, 2); }
  get running() { return native.lc(this, 3); }
  /**
   * Twisted's LoopingCall.withCount: fn(count) gets how many calls were due since it
   * last ran (1 normally; more after a late call or a slow Deferred; 1 for interval 0).
   */
  static withCount(fn, opts) {
    checkFn(fn, 'LoopingCall.withCount callable');
    const lc = new LoopingCall(() => fn(native.lc(lc, 5)), opts);
    native.lc(lc, 4);
    return lc;
  }
}

// native.sync's last argument: the class whose method runs (C checks it).
const LOCK = 0, SEM = 1, QUEUE = 2;
class DeferredLock {
  constructor() { native.syncInit(this, LOCK); }
  acquire() { const self = this; return native.sync(this, 0, undefined, LOCK).addCallback(() => self); }
  release() { native.sync(this, 1, undefined, LOCK); }
  get locked() { return native.sync(this, 2, undefined, LOCK); }
  get waiting() { return native.sync(this, 3, undefined, LOCK); }
  run(fn, ...args) { checkFn(fn, 'run callable'); return native.sync(this, 4, slotK(() => fn(...args), undefined), LOCK); }
}

class DeferredSemaphore {
  constructor(tokens) { native.syncInit(this, SEM, tokens); }
  acquire() { const self = this; return native.sync(this, 0, undefined, SEM).addCallback(() => self); }
  release() { native.sync(this, 1, undefined, SEM); }
  get tokens() { return native.sync(this, 2, undefined, SEM); }
  get waiting() { return native.sync(this, 3, undefined, SEM); }
  run(fn, ...args) { checkFn(fn, 'run callable'); return native.sync(this, 4, slotK(() => fn(...args), undefined), SEM); }
}

class DeferredQueue {
  /** new DeferredQueue({ size, backlog }), or Twisted's positional (size, backlog). */
  constructor(opts, backlog) {
    const o = typeof opts === 'number' ? { size: opts, backlog } : opts || {};
    // null (Twisted's None) or undefined: no limit.
    native.syncInit(this, QUEUE, o.size == null ? Infinity : o.size, o.backlog == null ? Infinity : o.backlog);
  }
  put(value) {
    if (isDeferred(value)) throw new TypeError('cannot put a Deferred in a DeferredQueue');
    native.sync(this, 1, value, QUEUE);
  }
  get() {
    const d = native.sync(this, 0, undefined, QUEUE);
    // Twisted's get() raises QueueUnderflow (as put() raises QueueOverflow);
    // C answers with a failed Deferred, whose failure is thrown (and so handled).
    if (d.state === 'failed') {
      let e;
      d.addErrback((x) => { e = x; });
      throw e;
    }
    return d;
  }
  get pending() { return native.sync(this, 2, undefined, QUEUE); }
  get waiting() { return native.sync(this, 3, undefined, QUEUE); }
}

const NATIVE_TYPES = ['void', 'int', 'uint', 'int32', 'uint32', 'int64', 'uint64', 'float', 'double', 'pointer'];

/** A shared library whose C functions run on the reactor's thread pool (libffi). */
class NativeLibrary {
  constructor(file) {
    if (typeof file !== 'string') throw new TypeError('library path must be a string');
    this._h = native.dlopen(file);
  }
  /**
   * func('int64', 'fib', ['int32']) → (...args) => Deferred.
   * Types: void int uint int32 uint32 int64 uint64 float double pointer.
   * opts.signal: aborting it cancels every call made through it not done yet.
   */
  func(ret, name, argTypes = [], opts) {
    const fn = native.dlsym(this._h, name);
    // Checked now, and copied: a wrong type is an error here, not at the
    // first call, and later changes to the caller's array change nothing.
    if (typeof ret !== 'string' || !NATIVE_TYPES.includes(ret)) {
      throw new TypeError(`unknown return type (one of ${NATIVE_TYPES.join(' ')})`);
    }
    if (!Array.isArray(argTypes)) throw new TypeError('argument types must be an array');
    const types = Array.from(argTypes);
    for (const t of types) {
      if (typeof t !== 'string' || t === 'void' || !NATIVE_TYPES.includes(t)) {
        throw new TypeError(`unknown argument type (one of ${NATIVE_TYPES.slice(1).join(' ')})`);
      }
    }
    if (types.length > 16) throw new TypeError('at most 16 arguments');
    const clock = clockOf(opts);
    if (clock != null && !(clock instanceof Clock)) throw new TypeError('expected a Clock');
    const signal = checkSignal(opts && opts.signal);
    const lib = this;
    const call = (...args) => {
      void lib;
      return withSignal(native.deferCall(clock, fn, ret, types, args), signal);
    };
    return call;
  }
}

/**
 * deferredFunction('name') → (...deferreds) => Deferred: a C function
 * `dfr_deferred *name(dfr_deferred *const *ds, size_t n)` called now on the JS
 * thread with the inputs (borrowed); it returns a new reference.
 */
NativeLibrary.prototype.deferredFunction = function (name) {
  const fn = native.dlsym(this._h, name);
  const lib = this;
  return (...ds) => { void lib; return native.callDeferredFn(fn, handles(ds)); };
};

/** Process-wide: how many JS values and callbacks C chains hold now (for leak tests). */
function stats() { return native.stats(); }

// Unhandled failures behave like unhandled Promise rejections.
function onUnhandled(err) { Promise.reject(err); }

module.exports = {
  Deferred, DeferredError, succeed, fail, maybeDeferred, DeferredList, gatherResults,
  Clock, DelayedCall, callLater, deferLater, addTimeout, LoopingCall,
  DeferredLock, DeferredSemaphore, DeferredQueue, NativeLibrary, stats,
  version: native.version,
  /** For the benchmarks: one JS->C call making one C->JS call fn(arg). */
  _napiFloor: native.napiFloor,
};
