'use strict';
// Twisted's Deferreds for Node.js over libdeferred (the C engine runs every
// chain).  The reactor runs on Node's own event loop: see docs/node.md.
const path = require('node:path');
const native = require(path.join(__dirname, 'build', 'deferred.node'));

const NOWRAP = Symbol('deferred.nowrap');

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

function checkFn(f, what) {
  if (typeof f !== 'function') throw new TypeError(`${what} must be a function`);
}

function bindArgs(f, args) {
  return args.length ? (r) => f(r, ...args) : f;
}

class Deferred {
  /** @param {(d: Deferred) => void} [canceller] */
  constructor(canceller) {
    if (canceller === NOWRAP) return;
    native.init(this, canceller);
  }

  addCallbacks(callback, errback, opts) {
    const o = opts || {};
    const cb = callback && bindArgs(callback, o.callbackArgs || []);
    const eb = errback && bindArgs(errback, o.errbackArgs || []);
    return native.addCallbacks(this, cb || null, eb || null);
  }
  addCallback(fn, ...args) { checkFn(fn, 'callback'); return native.addCallbacks(this, bindArgs(fn, args), null); }
  addErrback(fn, ...args) { checkFn(fn, 'errback'); return native.addCallbacks(this, null, bindArgs(fn, args)); }
  addBoth(fn, ...args) { checkFn(fn, 'callback'); const f = bindArgs(fn, args); return native.addCallbacks(this, f, f); }
  callback(value) { native.callback(this, value); }
  errback(error) {
    native.errback(this, error === undefined ? new DeferredError('errback() with no error', 'js', 'EFAIL', 1) : error);
  }
  cancel() { native.cancel(this); }
  pause() { native.pause(this, false); }
  unpause() { native.pause(this, true); }
  chainDeferred(other) { return native.chain(this, other); }
  /** 'pending' | 'succeeded' | 'failed' */
  get state() { return ST[native.state(this)]; }
  get called() { return native.state(this) !== 0; }
  get paused() { return native.paused(this); }
  addTimeout(seconds, clock) { native.addTimeout(this, clock, seconds); return this; }

  /**
   * Thenable: resolves / rejects with a *copy* of the result as it stands at
   * this point of the chain; the chain's own result goes on unchanged to later
   * callbacks.  A failure delivered this way counts as handled.
   */
  then(onFulfilled, onRejected) {
    return new Promise((res, rej) => native.observe(this, res, rej)).then(onFulfilled, onRejected);
  }
  catch(onRejected) { return this.then(undefined, onRejected); }
  finally(f) { return this.toPromise().finally(f); }
  toPromise() { return new Promise((res, rej) => native.observe(this, res, rej)); }

  /** A Deferred following a Promise/thenable; cancel() (or signal) rejects it with ECANCELED. */
  static fromPromise(p, opts) {
    const signal = opts && opts.signal;
    const d = new Deferred();
    let done = false;
    const settle = (f) => (v) => { if (!done) { done = true; if (signal) signal.removeEventListener('abort', onAbort); f(v); } };
    const onAbort = () => d.cancel();
    Promise.resolve(p).then(settle((v) => d.callback(v)), settle((e) => d.errback(e)));
    d.addBoth((r) => { done = true; if (signal) signal.removeEventListener('abort', onAbort); return r; });
    if (signal) {
      if (signal.aborted) d.cancel();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
    return d;
  }
}

function succeed(value) { return native.succeed(value); }
function fail(error) { return native.fail(error); }
function maybeDeferred(fn, ...args) {
  checkFn(fn, 'maybeDeferred callable');
  let r;
  try { r = fn(...args); } catch (e) { return fail(e); }
  if (r instanceof Deferred) return r;
  if (r !== null && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function') {
    return Deferred.fromPromise(r);
  }
  return succeed(r);
}

const FIRE_ON_ONE_CALLBACK = 1, FIRE_ON_ONE_ERRBACK = 2, CONSUME_ERRORS = 4;
/** DeferredList: fires with [[ok, value], ...] (input order). */
function DeferredList(deferreds, opts) {
  const o = opts || {};
  const flags = (o.fireOnOneCallback ? FIRE_ON_ONE_CALLBACK : 0) |
    (o.fireOnOneErrback ? FIRE_ON_ONE_ERRBACK : 0) | (o.consumeErrors ? CONSUME_ERRORS : 0);
  const l = native.list(deferreds, flags, false);
  // fireOnOneCallback fires with [result, index] (a C list of those two
  // entries); when every input failed it fires with the full list (all not ok).
  return o.fireOnOneCallback ? l.addCallback((r) => (r.length === 2 && r[0][0] ? [r[0][1], r[1][1]] : r)) : l;
}
/** gatherResults: fires with [value, ...] or fails with the first failure (code EFIRST, cause). */
function gatherResults(deferreds, opts) {
  return native.list(deferreds, opts && opts.consumeErrors ? CONSUME_ERRORS : 0, true)
    .addCallback((l) => l.map((e) => e[1]));
}

/** A manual clock (Twisted's task.Clock): time moves only by advance(). */
class Clock {
  constructor() { native.clockInit(this); }
  advance(seconds) { native.advance(this, seconds); }
  seconds() { return native.seconds(this); }
  get pendingCalls() { return native.pendingCalls(this); }
}

class DelayedCall {
  cancel() { native.dc(this, 0); }
  reset(seconds) { native.dc(this, 1, seconds); }
  delay(seconds) { native.dc(this, 2, seconds); }
  active() { return native.dc(this, 3); }
  /** When it will run (reactor seconds); NaN once it ran or was cancelled. */
  getTime() { return native.dc(this, 4); }
  get time() { return native.dc(this, 4); }
}

function clockOf(opts) { return opts && opts.clock; }

/** callLater(seconds, fn, ...args) → DelayedCall; opts with { clock } as last arg not supported: use clock.callLater. */
function callLater(seconds, fn, ...args) {
  checkFn(fn, 'callLater callable');
  return native.callLater(undefined, seconds, args.length ? () => fn(...args) : fn, new DelayedCall());
}
Clock.prototype.callLater = function (seconds, fn, ...args) {
  checkFn(fn, 'callLater callable');
  return native.callLater(this, seconds, args.length ? () => fn(...args) : fn, new DelayedCall());
};

/** deferLater(seconds, fn?, { clock, signal }) */
function deferLater(seconds, fn, opts) {
  const d = native.deferLater(clockOf(opts), seconds, fn);
  return withSignal(d, opts && opts.signal);
}

function withSignal(d, signal) {
  if (!signal) return d;
  if (!(signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
  if (signal.aborted) { d.cancel(); return d; }
  const onAbort = () => d.cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  d.addBoth((r) => { signal.removeEventListener('abort', onAbort); return r; });
  return d;
}

/** addTimeout(d, seconds, { clock }): cancel d after `seconds`; it fails with ETIMEDOUT. */
function addTimeout(d, seconds, opts) { return native.addTimeout(d, clockOf(opts), seconds); }

class LoopingCall {
  constructor(fn, opts) { checkFn(fn, 'LoopingCall callable'); native.lcInit(this, clockOf(opts), fn); }
  /** Returns a Deferred firing with this LoopingCall when stopped. */
  start(interval, now = true) {
    const self = this;
    return native.lc(this, 0, interval, !!now).addCallback(() => self);
  }
  stop() { native.lc(this, 1); }
  reset() { native.lc(this, 2); }
  get running() { return native.lc(this, 3); }
}

class DeferredLock {
  constructor() { native.syncInit(this, 0); }
  acquire() { const self = this; return native.sync(this, 0).addCallback(() => self); }
  release() { native.sync(this, 1); }
  get locked() { return native.sync(this, 2); }
  get waiting() { return native.sync(this, 3); }
  run(fn, ...args) { checkFn(fn, 'run callable'); return native.sync(this, 4, () => fn(...args)); }
}

class DeferredSemaphore {
  constructor(tokens) { native.syncInit(this, 1, tokens); }
  acquire() { const self = this; return native.sync(this, 0).addCallback(() => self); }
  release() { native.sync(this, 1); }
  get tokens() { return native.sync(this, 2); }
  get waiting() { return native.sync(this, 3); }
  run(fn, ...args) { checkFn(fn, 'run callable'); return native.sync(this, 4, () => fn(...args)); }
}

class DeferredQueue {
  constructor(opts) {
    const o = opts || {};
    native.syncInit(this, 2, o.size === undefined ? Infinity : o.size, o.backlog === undefined ? Infinity : o.backlog);
  }
  put(value) { native.sync(this, 1, value); }
  get() { return native.sync(this, 0); }
  get pending() { return native.sync(this, 2); }
  get waiting() { return native.sync(this, 3); }
}

/** A shared library whose C functions run on the reactor's thread pool (libffi). */
class NativeLibrary {
  constructor(file) {
    if (typeof file !== 'string') throw new TypeError('library path must be a string');
    this._h = native.dlopen(file);
  }
  /**
   * func('int64', 'fib', ['int32']) → (...args) => Deferred.
   * Types: void int uint int32 uint32 int64 uint64 float double pointer.
   */
  func(ret, name, argTypes = [], opts) {
    const fn = native.dlsym(this._h, name);
    const clock = clockOf(opts);
    const lib = this;
    const call = (...args) => {
      void lib;
      return native.deferCall(clock, fn, ret, argTypes, args);
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
  return (...ds) => { void lib; return native.callDeferredFn(fn, ds); };
};

/** Process-wide: how many JS values and callbacks C chains hold now (for leak tests). */
function stats() { return native.stats(); }

// Unhandled failures behave like unhandled Promise rejections.
function onUnhandled(err) { Promise.reject(err); }

native.setup(Deferred, function (message, domain, code, errno, cause) {
  return new DeferredError(message, domain, code, errno, cause);
}, NOWRAP, (t) => Deferred.fromPromise(t), onUnhandled);

module.exports = {
  Deferred, DeferredError, succeed, fail, maybeDeferred, DeferredList, gatherResults,
  Clock, DelayedCall, callLater, deferLater, addTimeout, LoopingCall,
  DeferredLock, DeferredSemaphore, DeferredQueue, NativeLibrary, stats,
  version: native.version,
  /** For the benchmarks: one JS->C call making one C->JS call fn(arg). */
  _napiFloor: native.napiFloor,
};
