'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const {
  NativeLibrary, Deferred, DeferredList, deferLater, LoopingCall, succeed, fail,
} = require('..');

const lib = new NativeLibrary(path.join(__dirname, '..', 'build', 'libtestlib.so'));
const slowFib = lib.func('int64', 'slow_fib', ['int32', 'int32']);
const halve = lib.func('double', 'halve', ['double']);

test('a blocking C function runs on the pool while JS keeps ticking', async () => {
  let ticks = 0;
  const lc = new LoopingCall(() => { ticks++; });
  const done = lc.start(0.005);
  const r = await slowFib(90, 100);
  lc.stop();
  await done;
  assert.equal(r, 2880067194370816120n); // fib(90): an i64 beyond 2^53 is a BigInt
  assert.ok(ticks >= 3, `ticks while the thread worked: ${ticks}`);
  assert.equal(await halve(5), 2.5);
});

test('deferCall bad input', () => {
  assert.throws(() => lib.func('int64', 'no_such_symbol'), { code: 'ENOENT' });
  assert.throws(() => lib.func('bogus', 'fib', ['int32'])(1), { name: 'TypeError', message: /return type/ });
  assert.throws(() => lib.func('int64', 'fib', ['int32'])(), { name: 'TypeError', message: /number of arguments/ });
  assert.throws(() => lib.func('int64', 'fib', ['int32'])('x'), { name: 'TypeError', message: /number/ });
  assert.throws(() => lib.func('int64', 'fib', ['void'])(1), { name: 'TypeError' });
  assert.throws(() => new NativeLibrary('/nonexistent/lib.so'), { code: 'ENOENT' });
  assert.throws(() => new NativeLibrary(1), TypeError);
});

test('deferCall with an AbortSignal: abort cancels the calls not done yet with ECANCELED', async () => {
  const ac = new AbortController();
  const f = lib.func('int64', 'slow_fib', ['int32', 'int32'], { signal: ac.signal });
  const d = f(10, 200);
  ac.abort();
  await assert.rejects(d, { code: 'ECANCELED' });
  await assert.rejects(f(10, 0), { code: 'ECANCELED' }); // made after the abort
  assert.throws(() => lib.func('int64', 'fib', ['int32'], { signal: {} }), { name: 'TypeError', message: /AbortSignal/ });
});

test('a deferred fired by C (a pool job) awaited in JS, in a C DeferredList with JS ones', async () => {
  const js = new Deferred();
  const obj = { same: true };
  const l = DeferredList([slowFib(10, 5), js, deferLater(0.001, () => obj)]);
  js.callback('from js');
  const r = await l;
  assert.deepEqual(r.map((e) => e[0]), [true, true, true]);
  assert.equal(r[0][1], 55);
  assert.equal(r[1][1], 'from js');
  assert.equal(r[2][1], obj);
});

test('a C coroutine awaits JS-made and C-made deferreds', async () => {
  const sum = lib.deferredFunction('c_sum_coroutine');
  const js = new Deferred();
  const d = sum(js, slowFib(10, 5), succeed(0.5));
  assert.equal(d.state, 'pending');
  js.callback(100);
  assert.equal(await d, 155.5);
  const err = new Error('js failure');
  await assert.rejects(sum(fail(err)), (e) => e === err);
  await assert.rejects(sum(succeed('str')), { domain: 'testlib', code: 22, message: 'not a number' });
});

test('a JS object through a C-made DeferredList comes back ===', async () => {
  const listOf = lib.deferredFunction('c_list_of');
  const obj = { id: 1 };
  const js = new Deferred();
  const l = listOf(js);
  js.callback(obj);
  const r = await l;
  assert.equal(r[0][1], obj);
  assert.equal(r[1][1], 99);
});
