// Compiled with `tsc --noEmit` (npm run typecheck): the declarations in use.
import {
  Deferred, DeferredError, succeed, fail, maybeDeferred, DeferredList, gatherResults, Clock,
  callLater, deferLater, addTimeout, LoopingCall, DeferredLock, DeferredSemaphore, DeferredQueue,
  NativeLibrary, DelayedCall,
} from '../../index';

async function main(): Promise<number> {
  const d = new Deferred<number>((self) => self.callback(0));
  const s: Deferred<string> = d.addCallback((n: number) => String(n));
  d.callback(1);
  const n: number = await d;
  const str: string = await s;
  const e = fail<number>(new Error('x')).addErrback((err: unknown) => (err instanceof DeferredError ? err.errno : 0));
  const clock = new Clock();
  const h: DelayedCall = clock.callLater(1, (a: string) => a.length, 'x');
  h.reset(2);
  const t: number = h.time;
  callLater(0, () => undefined).cancel();
  const later: Deferred<string> = deferLater(1, () => 'x', { clock, signal: new AbortController().signal });
  addTimeout(later, 5, { clock });
  new Deferred<number>().addTimeout(5, { clock }).addTimeout(5, clock);
  const chained: Deferred<undefined> = new Deferred<number>().chainDeferred(new Deferred<number>());
  void chained;
  new Clock().pump([1, 0.5]);
  new DeferredQueue<number>(2, 2).put(1);
  addTimeout(later, 5, { clock, onTimeoutCancel: (r: unknown, s: number) => [r, s] });
  new Deferred<string>().addTimeout(5, clock, () => 'OVERRIDDEN').addTimeout(5, { onTimeoutCancel: (e) => e });
  const counted: LoopingCall = LoopingCall.withCount((n: number) => n + 1, { clock });
  counted.stop;
  const lc = new LoopingCall(() => 1, { clock });
  const stopped: Deferred<LoopingCall> = lc.start(1, true);
  const list: Deferred<Array<[boolean, any]>> = DeferredList([d, s], { consumeErrors: true });
  const all: number[] = await gatherResults([succeed(1), succeed(2)]);
  const lock = new DeferredLock();
  const locked: string = await lock.run(async (x: number) => `v${x}`, 3);
  const sem = new DeferredSemaphore(2);
  const q = new DeferredQueue<{ id: number }>({ size: 3 });
  q.put({ id: 1 });
  const item: { id: number } = await q.get();
  const fromP: Deferred<number> = Deferred.fromPromise(Promise.resolve(1));
  const p: Promise<number> = fromP.toPromise();
  const md: Deferred<number> = maybeDeferred((a: number) => a + 1, 1);
  const fib = new NativeLibrary('lib.so').func('int64', 'fib', ['int32']);
  void [str, e, t, stopped, list, all, locked, sem, item, p, md, fib];
  return n;
}
void main;
