// Type declarations for the `deferred` Node binding (libdeferred).

/** A failure made by the C library: an Error with the failure's domain and code. */
export class DeferredError extends Error {
  /** Failure domain: 'dfr' for the library's own codes, or a C library's. */
  readonly domain: string;
  /** 'ECANCELED', 'ETIMEDOUT', 'EFIRST', ... for domain 'dfr'; the numeric code otherwise. */
  readonly code: string | number;
  /** The numeric C code (negative for domain 'dfr'). */
  readonly errno: number;
  /** For 'EFIRST' (DeferredList fireOnOneErrback, gatherResults): which input failed. */
  readonly index?: number;
  readonly cause?: unknown;
}

export type Callback<T, R> = (result: T, ...args: any[]) => R | Deferred<R> | PromiseLike<R>;

export interface AddCallbacksOptions {
  callbackArgs?: unknown[];
  errbackArgs?: unknown[];
}

/**
 * Twisted's Deferred; the chain runs in C.  A thenable: `await d` gets a copy
 * of the result at that point of the chain, which goes on unchanged.
 */
export class Deferred<T = unknown> implements PromiseLike<T> {
  constructor(canceller?: (d: Deferred<T>) => void);
  addCallback<R>(fn: Callback<T, R>, ...args: unknown[]): Deferred<R>;
  addErrback<R = T>(fn: Callback<any, R>, ...args: unknown[]): Deferred<T | R>;
  addBoth<R>(fn: Callback<any, R>, ...args: unknown[]): Deferred<R>;
  addCallbacks<R, E = R>(callback: Callback<T, R> | null, errback: Callback<any, E> | null,
    opts?: AddCallbacksOptions): Deferred<R | E>;
  callback(value: T): void;
  errback(error?: unknown): void;
  cancel(): void;
  pause(): void;
  unpause(): void;
  /** other gets this chain's result; returns this, whose result is then undefined (Twisted's None). */
  chainDeferred(other: Deferred<T>): Deferred<undefined>;
  addTimeout(seconds: number, clock?: Clock | TimeoutOptions,
    onTimeoutCancel?: (result: unknown, seconds: number) => unknown): this;
  readonly state: 'pending' | 'succeeded' | 'failed';
  readonly called: boolean;
  readonly paused: number;
  then<A = T, B = never>(onFulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: any) => B | PromiseLike<B>) | null): Promise<A | B>;
  catch<B = never>(onRejected?: ((reason: any) => B | PromiseLike<B>) | null): Promise<T | B>;
  finally(f?: (() => void) | null): Promise<T>;
  toPromise(): Promise<T>;
  static fromPromise<T>(p: PromiseLike<T> | T, opts?: { signal?: AbortSignal }): Deferred<T>;
}

export function succeed<T>(value: T): Deferred<T>;
export function fail<T = never>(error?: unknown): Deferred<T>;
export function maybeDeferred<A extends unknown[], R>(
  fn: (...args: A) => R | Deferred<R> | PromiseLike<R>, ...args: A): Deferred<R>;

export interface DeferredListOptions {
  fireOnOneCallback?: boolean;
  fireOnOneErrback?: boolean;
  consumeErrors?: boolean;
}
export function DeferredList(deferreds: Deferred<any>[], opts?: DeferredListOptions):
  Deferred<Array<[boolean, any]>>;
export function gatherResults<T>(deferreds: Deferred<T>[], opts?: { consumeErrors?: boolean }): Deferred<T[]>;

export interface ClockOption { clock?: Clock }
/** Twisted's onTimeoutCancel: called only when the timeout cancelled the Deferred, with
 * the chain's result then (usually the ECANCELED error); what it returns goes on. */
export interface TimeoutOptions extends ClockOption {
  onTimeoutCancel?: (result: unknown, seconds: number) => unknown;
}

export class DelayedCall {
  cancel(): void;
  reset(seconds: number): void;
  delay(seconds: number): void;
  active(): boolean;
  getTime(): number;
  readonly time: number;
}

/** A manual clock (Twisted's task.Clock). */
export class Clock {
  constructor();
  advance(seconds: number): void;
  seconds(): number;
  /** Twisted's Clock.pump: advance by each amount in turn. */
  pump(timings: Iterable<number>): void;
  readonly pendingCalls: number;
  callLater<A extends unknown[]>(seconds: number, fn: (...args: A) => void, ...args: A): DelayedCall;
}

export function callLater<A extends unknown[]>(seconds: number, fn: (...args: A) => void, ...args: A): DelayedCall;
export function deferLater<R = undefined>(seconds: number, fn?: () => R | Deferred<R> | PromiseLike<R>,
  opts?: ClockOption & { signal?: AbortSignal }): Deferred<R>;
export function addTimeout<T>(d: Deferred<T>, seconds: number, opts?: TimeoutOptions): Deferred<T>;

export class LoopingCall {
  constructor(fn: () => unknown, opts?: ClockOption);
  start(interval: number, now?: boolean): Deferred<LoopingCall>;
  stop(): void;
  reset(): void;
  readonly running: boolean;
  /** Twisted's withCount: fn gets how many calls were due since it last ran. */
  static withCount(fn: (count: number) => unknown, opts?: ClockOption): LoopingCall;
}

export class DeferredLock {
  acquire(): Deferred<DeferredLock>;
  release(): void;
  readonly locked: boolean;
  readonly waiting: number;
  run<A extends unknown[], R>(fn: (...args: A) => R | Deferred<R> | PromiseLike<R>, ...args: A): Deferred<R>;
}

export class DeferredSemaphore {
  constructor(tokens: number);
  acquire(): Deferred<DeferredSemaphore>;
  release(): void;
  readonly tokens: number;
  readonly waiting: number;
  run<A extends unknown[], R>(fn: (...args: A) => R | Deferred<R> | PromiseLike<R>, ...args: A): Deferred<R>;
}

export class DeferredQueue<T = unknown> {
  /** size, backlog: null or undefined for no limit (Twisted's None). */
  constructor(opts?: { size?: number | null; backlog?: number | null });
  /** Twisted's positional form: DeferredQueue(size, backlog). */
  constructor(size: number | null, backlog?: number | null);
  put(value: T): void;
  /** Throws a DeferredError with code EUNDERFLOW when `backlog` gets already wait (Twisted's QueueUnderflow). */
  get(): Deferred<T>;
  readonly pending: number;
  readonly waiting: number;
}

export type NativeType = 'void' | 'int' | 'uint' | 'int32' | 'uint32' | 'int64' | 'uint64' |
  'float' | 'double' | 'pointer';

export class NativeLibrary {
  constructor(file: string);
  /** A C function run on the reactor's thread pool (libffi). */
  func(ret: NativeType, name: string, argTypes?: NativeType[], opts?: ClockOption & { signal?: AbortSignal }):
    (...args: Array<number | object | null>) => Deferred<any>;
  /** `dfr_deferred *name(dfr_deferred *const *ds, size_t n)`, called on the JS thread. */
  deferredFunction(name: string): (...deferreds: Deferred<any>[]) => Deferred<any>;
}

export function stats(): { values: number; callbacks: number };
export const version: string;
/** For the benchmarks: one JS->C call making one C->JS call fn(arg). */
export function _napiFloor<T, R>(fn: (arg: T) => R, arg: T): R;
