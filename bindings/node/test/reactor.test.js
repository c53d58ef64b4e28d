'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { Clock, callLater, deferLater, addTimeout, LoopingCall, Deferred } = require('..');

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
