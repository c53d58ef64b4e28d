'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const {
  Deferred, succeed, fail, DeferredList, gatherResults, DeferredLock, DeferredSemaphore, DeferredQueue,
} = require('..');

test('DeferredList fires with [ok, value] pairs in input order', async () => {
  const a = new Deferred(), b = new Deferred();
  const l = DeferredList([a, b, succeed('c')]);
  b.callback('b');
  assert.equal(l.state, 'pending');
  a.callback('a');
  assert.deepEqual(await l, [[true, 'a'], [true, 'b'], [true, 'c']]);
  assert.deepEqual(await DeferredList([]), []);
});

test('DeferredList with a failure and consumeErrors', async () => {
  const err = new Error('e');
  const l = DeferredList([succeed(1), fail(err)], { consumeErrors: true });
  const r = await l;
  assert.equal(r[0][0], true);
  assert.equal(r[1][0], false);
  assert.equal(r[1][1], err);
});

test('fireOnOneCallback / fireOnOneErrback', async () => {
  const a = new Deferred(), b = new Deferred();
  const l = DeferredList([a, b], { fireOnOneCallback: true });
  b.callback('first');
  assert.deepEqual(await l, ['first', 1]);
  const c = new Deferred(), d = new Deferred();
  const m = DeferredList([c, d], { fireOnOneErrback: true, consumeErrors: true });
  d.errback(new Error('bad'));
  await assert.rejects(m, (e) => e.code === 'EFIRST' && e.index === 1 && e.cause.message === 'bad');
  c.callback(1);
});

test('gatherResults and cancelling a list cancels its inputs', async () => {
  assert.deepEqual(await gatherResults([succeed(1), succeed('two')]), [1, 'two']);
  const a = new Deferred();
  const g = gatherResults([a], { consumeErrors: true });
  g.cancel();
  assert.equal(a.state, 'succeeded'); // consumeErrors: the input goes on with undefined
  await assert.rejects(g, (e) => e.code === 'EFIRST' && e.cause.code === 'ECANCELED');
});

test('a JS object through a C DeferredList comes back ===', async () => {
  const obj = { deep: [1, 2, 3] };
  const fn = () => obj;
  const r = await DeferredList([succeed(obj), succeed(fn)]);
  assert.equal(r[0][1], obj);
  assert.equal(r[1][1], fn);
});

test('DeferredList bad input', () => {
  assert.throws(() => DeferredList('x'), { name: 'TypeError', message: /array/ });
  assert.throws(() => DeferredList([1]), { name: 'TypeError', message: /Deferred/ });
  assert.throws(() => gatherResults([Promise.resolve(1)]), TypeError);
});

test('DeferredLock serialises', async () => {
  const lock = new DeferredLock();
  assert.equal(lock.locked, false);
  const first = await lock.acquire();
  assert.equal(first, lock);
  const second = lock.acquire();
  assert.equal(second.state, 'pending');
  assert.equal(lock.waiting, 1);
  lock.release();
  assert.equal(await second, lock);
  lock.release();
  assert.equal(lock.locked, false);
  assert.throws(() => lock.release(), { name: 'TypeError', message: /unlocked/ });
  const order = [];
  const p = new Deferred();
  const r1 = lock.run(() => { order.push(1); return p; });
  const r2 = lock.run(() => { order.push(2); return 'two'; });
  assert.deepEqual(order, [1]);
  p.callback('one');
  assert.equal(await r1, 'one');
  assert.equal(await r2, 'two');
  assert.deepEqual(order, [1, 2]);
});

test('DeferredSemaphore', async () => {
  const s = new DeferredSemaphore(2);
  await s.acquire(); await s.acquire();
  assert.equal(s.tokens, 0);
  const w = s.acquire();
  assert.equal(s.waiting, 1);
  s.release();
  assert.equal(await w, s);
  s.release(); s.release();
  assert.throws(() => s.release(), TypeError);
  assert.throws(() => new DeferredSemaphore(0), RangeError);
  assert.throws(() => new DeferredSemaphore('2'), RangeError);
  assert.equal(await s.run((a) => a * 2, 21), 42);
});

test('DeferredQueue', async () => {
  const q = new DeferredQueue({ size: 1, backlog: 1 });
  const g = q.get();
  assert.equal(q.waiting, 1);
  assert.throws(() => q.get(), { code: 'EUNDERFLOW', name: 'DeferredError' }); // Twisted's QueueUnderflow
  assert.equal(q.waiting, 1);
  const obj = {};
  q.put(obj);
  assert.equal(await g, obj);
  q.put('kept');
  assert.equal(q.pending, 1);
  assert.throws(() => q.put('overflow'), { code: 'EOVERFLOW' });
  assert.equal(await q.get(), 'kept');
  assert.throws(() => q.put(new Deferred()), TypeError);
  assert.throws(() => new DeferredQueue({ size: -1 }), RangeError);
  const c = q.get();
  c.cancel();
  assert.equal(q.waiting, 0);
  await assert.rejects(c, { code: 'ECANCELED' });
});
