'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { Clock, callLater, deferLater, addTimeout, LoopingCall, Deferred, stats } = require('..');

test('Clock.callLater runs when time is advanced; handle API', () => {
  const clock = new Clock();
  const seen = [];
  const h = clock.callLater(2, (x) => seen.push(x), 'a');
  assert.equal(h.active(), true);
  assert.equal(h.time, 2);
  clock.advance(1);
  assert.deepEqual(seen, []);
  h.delay(2);
  assert.equal(h.getTime(), 4);
  h.reset(1);
  assert.equal(h.time, 2);
  clock.advance(1);
  assert.deepEqual(seen, ['a']);
  assert.equal(h.active(), false);
  assert.ok(Number.isNaN(h.time));
  assert.throws(() => h.cancel(), { code: 'EALREADY_CALLED' });
  const c = clock.callLater(1, () => seen.push('no'));
  c.cancel();
  assert.throws(() => c.cancel(), { code: 'EALREADY_CANCELLED' });
  clock.advance(5);
  assert.deepEqual(seen, ['a']);
  assert.equal(clock.seconds(), 7);
});

test('callLater on the real loop', async () => {
  const t0 = Date.now();
  await new Promise((res) => callLater(0.02, res));
  assert.ok(Date.now() - t0 >= 15);
  await new Promise((res) => callLater(0, res)); // due now, then the loop must still idle
});

test('deferLater and a throwing function', async () => {
  const clock = new Clock();
  const d = deferLater(1, () => 'ok', { clock });
  const e = deferLater(1, () => { throw new RangeError('r'); }, { clock });
  clock.advance(1);
  assert.equal(await d, 'ok');
  await assert.rejects(e, RangeError);
});

test('addTimeout fails with ETIMEDOUT; a fired deferred keeps its result', async () => {
  const clock = new Clock();
  const d = new Deferred();
  addTimeout(d, 5, { clock });
  clock.advance(5);
  await assert.rejects(d, { code: 'ETIMEDOUT', domain: 'dfr' });
  const ok = new Deferred().addTimeout(5, clock);
  ok.callback(1);
  clock.advance(10);
  assert.equal(await ok, 1);
  assert.equal(clock.pendingCalls, 0);
  const m = new Deferred().addTimeout(1, { clock }); // the method takes the function's opts too
  clock.advance(1);
  await assert.rejects(m, { code: 'ETIMEDOUT' });
});

test("addTimeout's onTimeoutCancel: only a timeout calls it, with the chain's result; its return goes on", async () => {
  const clock = new Clock();
  const seen = [];
  const override = (r, s) => { seen.push([r && r.code, s]); return 'OVERRIDDEN'; };
  const d = new Deferred().addTimeout(10, clock, override);
  clock.advance(15);
  assert.equal(await d, 'OVERRIDDEN');
  assert.deepEqual(seen, [['ECANCELED', 10]]);
  // Fired in time: not called.
  const e = addTimeout(new Deferred(), 10, { clock, onTimeoutCancel: override });
  e.callback('in time');
  clock.advance(15);
  assert.equal(await e, 'in time');
  // A canceller's own success is what it gets; returning the error keeps the failure.
  const c = new Deferred(() => c.callback('from the canceller')).addTimeout(1, { clock, onTimeoutCancel: override });
  clock.advance(1);
  assert.equal(await c, 'OVERRIDDEN');
  assert.deepEqual(seen[1], [undefined, 1]);
  const kept = new Deferred().addTimeout(1, clock, (err) => err);
  clock.advance(1);
  await assert.rejects(kept, { code: 'ECANCELED' });
  // Returning a Deferred: the chain waits for it.
  const later = new Deferred();
  const w = new Deferred().addTimeout(1, clock, () => later);
  clock.advance(1);
  later.callback('waited');
  assert.equal(await w, 'waited');
  // A throw is the new failure; a non-function is refused.
  const t = new Deferred().addTimeout(1, clock, () => { throw new Error('hook threw'); });
  clock.advance(1);
  await assert.rejects(t, /hook threw/);
  assert.throws(() => new Deferred().addTimeout(1, clock, 5), TypeError);
  assert.throws(() => new Deferred().addTimeout(-1, clock, override), RangeError);
  assert.equal(clock.pendingCalls, 0);
});

test('onTimeoutCancel functions are released once on every path (no slot given back twice)', async () => {
  async function settle() {
    for (let i = 0; i < 4; i++) { global.gc(); await new Promise((r) => setImmediate(r)); }
  }
  await settle();
  const base = stats();
  const clock = new Clock();
  const waits = [];
  (() => {
    for (let i = 0; i < 200; i++) {
      const mode = i % 4;
      const d = new Deferred().addTimeout(1, clock, () => {
        if (mode !== 3) return 'timed out';
        const w = new Deferred(); // the chain waits: the entry is released later
        waits.push(w);
        return w;
      });
      if (mode === 0) d.callback('in time');
      if (mode === 2) continue; // dropped pending
      d.addBoth(() => null);
    }
  })();
  clock.advance(1);
  // Other callbacks run while the timeouts' entries wait: their slots are reused.
  const order = [];
  for (let i = 0; i < 20; i++) new Deferred().addCallback(() => order.push(i)).callback(0);
  for (const w of waits) w.callback('done');
  const a = new Deferred(), b = new Deferred();
  a.addCallback(() => order.push('a'));
  b.addCallback(() => order.push('b'));
  b.callback(0); a.callback(0);
  assert.deepEqual(order, [...Array(20).keys(), 'b', 'a']);
  // Enough pending callbacks to use every free slot: a slot given back twice
  // would be handed out twice, and one of these would run another's function.
  const many = [], ran = [];
  for (let i = 0; i < 3000; i++) {
    const d = new Deferred();
    d.addCallback(() => ran.push(i));
    many.push(d);
  }
  for (const d of many) d.callback(0);
  assert.deepEqual(ran, [...Array(3000).keys()]);
  waits.length = 0;
  // (Values of earlier tests may go meanwhile: none of ours may stay.)
  const back = (x) => x.callbacks === base.callbacks && x.values <= base.values;
  for (let i = 0; i < 50 && !back(stats()); i++) await settle();
  assert.equal(stats().callbacks, base.callbacks);
  assert.ok(stats().values <= base.values, JSON.stringify([stats(), base]));
});

test('LoopingCall.withCount: the call after a slow Deferred counts what it missed', async () => {
  const clock = new Clock();
  const counts = [];
  const slow = new Deferred();
  const lc = LoopingCall.withCount((n) => { counts.push(n); return counts.length === 1 ? slow : undefined; }, { clock });
  const done = lc.start(0.2, false);
  clock.advance(0.2); clock.advance(0.2); clock.advance(0.2);
  assert.deepEqual(counts, [1]);
  slow.callback(null); // at 0.6: the next call is at 0.8, and 0.4, 0.6 were missed
  clock.advance(0.2);
  assert.deepEqual(counts, [1, 3]);
  lc.stop();
  assert.equal(await done, lc);
  assert.throws(() => LoopingCall.withCount(5), TypeError);
});

test('LoopingCall on a Clock', async () => {
  const clock = new Clock();
  let n = 0;
  const lc = new LoopingCall(() => { n++; }, { clock });
  const done = lc.start(1);
  assert.equal(n, 1);
  assert.equal(lc.running, true);
  clock.advance(1); clock.advance(1);
  assert.equal(n, 3);
  assert.throws(() => lc.start(1), { code: 'EALREADY' });
  lc.stop();
  assert.equal(await done, lc);
  assert.throws(() => lc.stop(), { code: 'ENOTRUNNING' });
});

test('LoopingCall stops with the failure its function throws', async () => {
  const clock = new Clock();
  const lc = new LoopingCall(() => { throw new Error('tick failed'); }, { clock });
  await assert.rejects(lc.start(1), /tick failed/);
});

test('bad input to the reactor', () => {
  const clock = new Clock();
  assert.throws(() => callLater(-1, () => {}), { name: 'RangeError', message: /delay/ });
  assert.throws(() => callLater(NaN, () => {}), RangeError);
  assert.throws(() => callLater(1), TypeError);
  assert.throws(() => deferLater('1'), RangeError);
  assert.throws(() => deferLater(1, 5), TypeError);
  assert.throws(() => clock.advance(-1), RangeError);
  assert.throws(() => new LoopingCall(() => {}, { clock }).start(-1), RangeError);
  assert.throws(() => deferLater(1, undefined, { clock: {} }), { message: /Clock/ });
  assert.throws(() => new LoopingCall(1), TypeError);
});

test('a DelayedCall seen from its own function, and after its Clock is collected', async () => {
  const clock = new Clock();
  let self;
  const errs = [];
  self = clock.callLater(1, () => {
    assert.equal(self.active(), false);
    try { self.cancel(); } catch (e) { errs.push(e.code); }
    try { self.reset(1); } catch (e) { errs.push(e.code); }
  });
  clock.advance(1);
  assert.deepEqual(errs, ['EALREADY_CALLED', 'EALREADY_CALLED']);
  assert.throws(() => self.delay(1), { code: 'EALREADY_CALLED' });

  // A call its reactor dropped without running it counts as cancelled.
  const { stats } = require('..');
  async function settle() {
    for (let i = 0; i < 4; i++) { global.gc(); await new Promise((r) => setImmediate(r)); }
  }
  await settle();
  const base = stats();
  let orphan;
  let ran = false;
  (() => { orphan = new Clock().callLater(5, () => { ran = true; }); })();
  assert.equal(stats().callbacks, base.callbacks + 1);
  for (let i = 0; i < 50 && stats().callbacks !== base.callbacks; i++) await settle();
  assert.equal(stats().callbacks, base.callbacks); // the call (and its function) went
  assert.equal(orphan.active(), false);
  assert.ok(Number.isNaN(orphan.time));
  assert.throws(() => orphan.cancel(), { code: 'EALREADY_CANCELLED' });
  for (let i = 0; i < 3000; i++) callLater(0, () => {}).cancel(); // makes JS take k's back
  assert.throws(() => orphan.reset(1), { code: 'EALREADY_CANCELLED' });
  assert.equal(ran, false);
  assert.throws(() => DelayedCallCtor(), TypeError);
});

function DelayedCallCtor() {
  const { DelayedCall } = require('..');
  return new DelayedCall();
}
