'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { Deferred, succeed, deferLater, Clock } = require('..');

test('await a Deferred; then leaves the chain result for later callbacks', async () => {
  const d = new Deferred();
  setTimeout(() => d.callback('v'), 1);
  assert.equal(await d, 'v');
  let later;
  d.addCallback((r) => { later = r; });
  assert.equal(later, 'v');
});

test('then on a failed Deferred: the failure stays on the chain', async () => {
  const err = new Error('x');
  const d = new Deferred();
  d.errback(err);
  await assert.rejects(d.toPromise(), (e) => e === err);
  let seen;
  d.addErrback((e) => { seen = e; });
  assert.equal(seen, err);
});

test('Promise.all and Promise.race accept Deferreds', async () => {
  const a = succeed(1), b = new Deferred();
  setTimeout(() => b.callback(2), 1);
  assert.deepEqual(await Promise.all([a, b]), [1, 2]);
});

test('a callback returning a Promise makes the chain wait', async () => {
  const d = succeed(1);
  const order = [];
  d.addCallback(async (v) => { await new Promise((r) => setTimeout(r, 5)); order.push('async'); return v + 1; })
    .addCallback((v) => { order.push('next:' + v); return v; });
  assert.equal(d.state, 'pending');
  assert.equal(await d, 2);
  assert.deepEqual(order, ['async', 'next:2']);
});

test('a callback returning a rejected thenable fails the chain', async () => {
  const err = new Error('rej');
  const d = succeed(1);
  d.addCallback(() => ({ then(_res, rej) { rej(err); } }));
  await assert.rejects(d, (e) => e === err);
});

test('fromPromise / toPromise', async () => {
  const d = Deferred.fromPromise(Promise.resolve(7));
  assert.equal(await d.toPromise(), 7);
  const e = Deferred.fromPromise(Promise.reject(new Error('no')));
  await assert.rejects(e.toPromise(), /no/);
});

test('fromPromise with an AbortSignal: abort cancels with ECANCELED', async () => {
  const ac = new AbortController();
  const d = Deferred.fromPromise(new Promise(() => {}), { signal: ac.signal });
  ac.abort();
  await assert.rejects(d, { code: 'ECANCELED', name: 'DeferredError' });
  const pre = Deferred.fromPromise(new Promise(() => {}), { signal: AbortSignal.abort() });
  await assert.rejects(pre, { code: 'ECANCELED' });
  assert.throws(() => Deferred.fromPromise(Promise.resolve(1), { signal: 'x' }), { name: 'TypeError', message: /AbortSignal/ });
});

test('deferLater with an AbortSignal', async () => {
  const ac = new AbortController();
  const clock = new Clock();
  const d = deferLater(10, () => 'never', { clock, signal: ac.signal });
  ac.abort();
  await assert.rejects(d, { code: 'ECANCELED' });
  assert.equal(clock.pendingCalls, 0);
  assert.throws(() => deferLater(1, undefined, { signal: {} }), { name: 'TypeError', message: /AbortSignal/ });
});

test('async functions mix with Deferreds', async () => {
  async function f() { const a = await succeed(1); const b = await deferLater(0.001, () => 2); return a + b; }
  assert.equal(await Deferred.fromPromise(f()), 3);
});

test('JS callbacks run with microtasks drained after each (callback scope)', async () => {
  const seen = [];
  const d = deferLater(0.001);
  d.addCallback(() => { Promise.resolve().then(() => seen.push('micro')); seen.push('cb'); });
  await d;
  assert.deepEqual(seen, ['cb', 'micro']);
});

test('a returned object whose then getter throws fails the chain', async () => {
  const err = new Error('getter');
  const d = succeed(1).addCallback(() => ({ get then() { throw err; } }));
  await assert.rejects(d.toPromise(), (e) => e === err);
});
