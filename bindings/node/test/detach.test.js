'use strict';
// A Deferred made in JS keeps its result in JS once nothing is left to run
// (src/addon.c settle(): "detached"), and makes its C deferred only when it
// first needs one.  Neither may be visible: these tests check that a
// Deferred behaves exactly the same before and after.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Deferred, succeed, fail, DeferredList, gatherResults, stats } = require('..');

test('a fired Deferred keeps its result and runs later callbacks on it', async () => {
  const d = new Deferred();
  assert.equal(d.state, 'pending');
  d.callback(1);
  assert.equal(d.state, 'succeeded');
  assert.equal(d.called, true);
  assert.equal(await d, 1);
  const seen = [];
  d.addCallback((x) => { seen.push(x); return x + 1; });
  assert.deepEqual(seen, [1]);
  assert.equal(await d, 2); // the callback changed the chain's result
  d.addCallback((x) => { seen.push(x); return x; });
  assert.deepEqual(seen, [1, 2]);
});

test('then never changes the result later callbacks see', async () => {
  const o = { id: 1 };
  const d = succeed(o);
  assert.equal(await d, o); // the very same object
  assert.equal(await d, o);
  let got;
  d.addCallback((x) => { got = x; return 'next'; });
  assert.equal(got, o);
  assert.equal(await d, 'next');
});

test('values keep their identity and kind through a detach', async () => {
  for (const v of [undefined, 0, -0, 1.5, 2 ** 40, 'str', null, true, Symbol.for('s'), 10n, [1], () => 1]) {
    const d = new Deferred();
    d.callback(v);
    const got = await d;
    assert.ok(Object.is(got, v), `value ${String(v)}`);
    let seen;
    d.addCallback((x) => { seen = x; return x; });
    assert.ok(Object.is(seen, v));
  }
});

test('a fired Deferred rejects a second fire, pauses and cancels like Twisted', async () => {
  const d = new Deferred();
  d.callback(1);
  assert.throws(() => d.callback(2), { code: 'EALREADY' });
  d.cancel(); // no-op on a called Deferred
  assert.equal(await d, 1);
  d.pause();
  assert.equal(d.paused, 1);
  const seen = [];
  d.addCallback((x) => { seen.push(x); return x; });
  assert.deepEqual(seen, []);
  d.unpause();
  assert.deepEqual(seen, [1]);
  assert.throws(() => d.unpause(), TypeError);
});

test('a new Deferred used first by cancel, then, pause or errback', async () => {
  const a = new Deferred();
  a.cancel();
  await assert.rejects(a.toPromise(), { code: 'ECANCELED' });
  const b = new Deferred();
  const p = b.then((x) => x * 2);
  b.callback(21);
  assert.equal(await p, 42);
  const c = new Deferred();
  c.pause();
  c.callback(1);
  assert.equal(c.state, 'succeeded');
  let seen = 0;
  c.addCallback((x) => { seen = x; });
  assert.equal(seen, 0);
  c.unpause();
  assert.equal(seen, 1);
  const e = new Deferred();
  e.errback(new Error('boom'));
  await assert.rejects(e.toPromise(), /boom/);
});

test('a detached Deferred handed to C (list, chain, returned) works as before', async () => {
  const a = succeed(1);
  const b = new Deferred();
  b.callback(2);
  assert.deepEqual(await gatherResults([a, b, succeed(3)]), [1, 2, 3]);
  assert.deepEqual(await DeferredList([a, fail(new Error('x'))], { consumeErrors: true }).addCallback((r) => r.map((e) => e[0])), [true, false]);
  const outer = new Deferred();
  outer.addCallback(() => a);
  outer.callback(0);
  assert.equal(await outer, 1);
  const src = succeed('s');
  const dst = new Deferred();
  src.chainDeferred(dst);
  assert.equal(await dst, 's');
  assert.equal(await src, undefined); // chainDeferred leaves src with None
  // Once C refers to a Deferred, callbacks added in JS are seen by C too.
  const shared = new Deferred();
  const l = gatherResults([shared]);
  shared.callback(5);
  shared.addCallback((x) => x + 1);
  assert.deepEqual(await l, [5]);
  assert.equal(await shared, 6);
});

test('a pending Deferred dropped in JS releases its callbacks', async () => {
  async function settle() {
    for (let i = 0; i < 4; i++) { global.gc(); await new Promise((r) => setImmediate(r)); }
  }
  await settle();
  const base = stats();
  (() => {
    for (let i = 0; i < 1000; i++) new Deferred().addCallback(() => 1).addErrback(() => 2);
  })();
  for (let i = 0; i < 50 && stats().callbacks !== base.callbacks; i++) await settle();
  assert.deepEqual(stats(), base);
});

test('callbacks queued on new Deferreds keep their order and owners', async () => {
  const seen = [];
  const a = new Deferred();
  a.addCallback((x) => { seen.push(`a1:${x}`); return x + 1; });
  const b = new Deferred(); // takes the queue over: a gets its C deferred
  b.addCallback((x) => { seen.push(`b1:${x}`); return x; });
  a.addCallback((x) => { seen.push(`a2:${x}`); return x; });
  b.callback(10);
  a.callback(1);
  assert.deepEqual(seen, ['b1:10', 'a1:1', 'a2:2']);
  // More callbacks than the shared queue holds, in order.
  const big = new Deferred();
  const n = 40000;
  let expect = 0, ok = true;
  for (let i = 0; i < n; i++) big.addCallback((x) => { if (x !== expect) ok = false; expect++; return x + 1; });
  big.callback(0);
  assert.ok(ok);
  assert.equal(await big, n);
  // A new Deferred with queued callbacks left at the end of the job still fires later.
  const later = new Deferred();
  later.addCallback((x) => x * 2);
  await new Promise((r) => setImmediate(r));
  later.callback(21);
  assert.equal(await later, 42);
});

test('callbacks that add and fire callbacks from inside a callback (slot reuse)', async () => {
  async function settle() {
    for (let i = 0; i < 4; i++) { global.gc(); await new Promise((r) => setImmediate(r)); }
  }
  await settle();
  const base = stats();
  const log = [];
  for (let round = 0; round < 200; round++) {
    const outer = new Deferred();
    const inner = new Deferred();
    outer.addCallback((x) => {
      // reuses the slot this callback just freed
      inner.addCallback((y) => { log.push(y); return y + 1; });
      const nested = new Deferred();
      nested.addCallback((z) => z * 2).addErrback(() => 'no');
      nested.callback(x);
      inner.callback(x);
      return nested;
    });
    outer.addErrback(() => 'unused'); // destroyed without running
    outer.callback(round);
    assert.equal(await outer, round * 2);
    assert.equal(await inner, round + 1);
  }
  assert.equal(log.length, 200);
  for (let i = 0; i < 50 && stats().callbacks !== base.callbacks; i++) await settle();
  assert.deepEqual(stats(), base);
});

test('a new Deferred used by its own callbacks while callback() runs its chain', async () => {
  // C makes its handle only when JS uses it during the run (src/addon.c n_firing).
  const d = new Deferred();
  const seen = [];
  d.addCallback((x) => {
    seen.push(d.state, d.called);
    d.addCallback((y) => { seen.push(['added', y]); return y * 10; });
    return x + 1;
  });
  d.addCallback((x) => { seen.push(['second', x]); return x; });
  d.callback(1);
  assert.deepEqual(seen, ['succeeded', true, ['second', 2], ['added', 2]]);
  assert.equal(await d, 20);
  // Nested: d1's callback fires d2, whose callback uses d1 and d2.
  const d1 = new Deferred(), d2 = new Deferred();
  const log = [];
  d1.addCallback((x) => {
    d2.addCallback((y) => {
      log.push(d1.state, d2.state);
      d1.addCallback((z) => { log.push(['d1', z]); return z; });
      return y;
    });
    d2.callback(x + 1);
    return x;
  });
  d1.callback(1);
  assert.deepEqual(log, ['succeeded', 'succeeded', ['d1', 1]]);
  assert.equal(await d2, 2);
  // Firing itself again from inside its run is AlreadyCalled.
  const e = new Deferred();
  let err;
  e.addCallback((x) => { try { e.callback(2); } catch (ex) { err = ex; } return x; });
  e.callback(1);
  assert.equal(err && err.code, 'EALREADY');
  assert.equal(await e, 1);
  // Paused on a returned Deferred: it keeps a handle and resumes.
  const f = new Deferred(), g = new Deferred();
  let got;
  f.addCallback(() => g).addCallback((v) => { got = v; return v; });
  f.callback(0);
  assert.equal(f.state, 'pending');
  g.callback(7);
  assert.equal(got, 7);
  assert.equal(await f, 7);
  global.gc();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(stats(), { values: 0, callbacks: 0 });
});
