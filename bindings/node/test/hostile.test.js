'use strict';
// Misuse and hostile input: every one is a JS exception with a clear
// message (or a failure in the chain), never a crash, a wrong callback, a
// hang or a lost result.
const test = require('node:test');
const assert = require('node:assert/strict');
const D = require('..');
const { Deferred, Clock } = D;

// Many fresh callbacks, each of which must run as itself: a JS function slot
// handed back twice would make a later callback run someone else's
// function, or none ("f is not a function").
function slotsIntact() {
  const got = [];
  for (let i = 0; i < 50; i++) {
    const d = new Deferred();
    d.addCallback((v) => { got.push(v); return v; });
    d.callback(i);
  }
  const c = new Clock();
  const later = [];
  for (let i = 0; i < 50; i++) D.deferLater(1, () => i, { clock: c }).addCallback((v) => { later.push(v); });
  c.advance(1);
  assert.deepEqual(got, [...Array(50).keys()]);
  assert.deepEqual(later, [...Array(50).keys()]);
}

test('a Clock advanced inside a callback: the callback\'s own slot is not handed back twice', () => {
  const c = new Clock();
  c.callLater(1, () => {});
  const d = new Deferred();
  d.addCallback(() => { c.advance(1); return 'x'; });
  d.callback(0);
  let got;
  const x = D.deferLater(1, () => 'later', { clock: c });
  x.addCallbacks((v) => { got = v; }, (e) => { got = e; });
  c.advance(1);
  assert.equal(got, 'later');
  slotsIntact();
});

test('a task or a `then` run inside a callback leaves the callback\'s slot alone', async () => {
  const c = new Clock();
  const inner = new Deferred();
  const seen = [];
  const p = inner.then((v) => seen.push(['then', v])); // observer: a nested dispatch when inner fires
  D.deferLater(0, () => 'task', { clock: c }).addCallback((v) => { seen.push(v); });
  const d = new Deferred();
  d.addCallback((v) => { inner.callback(v); c.advance(0); return v + 1; });
  d.callback(1);
  await p;
  assert.deepEqual(seen, ['task', ['then', 1]]);
  slotsIntact();
});

test('spans over the library\'s limit (about 146 years) are a RangeError saying so', () => {
  const c = new Clock();
  const limit = { name: 'RangeError', message: /at most 4\.6e9 seconds/ };
  assert.throws(() => c.advance(1e308), limit);
  assert.throws(() => c.callLater(1e10, () => {}), limit);
  assert.throws(() => D.callLater(Number.MAX_VALUE, () => {}), limit);
  assert.throws(() => D.deferLater(1e10, undefined, { clock: c }), limit);
  assert.throws(() => new Deferred().addTimeout(1e10, c), limit);
  assert.throws(() => new D.LoopingCall(() => {}, { clock: c }).start(1e10), limit);
  const dc = c.callLater(1, () => {});
  assert.throws(() => dc.reset(1e10), limit);
  assert.throws(() => dc.delay(-1e308), { name: 'RangeError', message: /at most 4\.6e9 seconds/ });
  assert.throws(() => dc.delay(NaN), RangeError);
  assert.equal(dc.getTime(), 1); // unchanged
  assert.equal(c.pendingCalls, 1);
  c.advance(4.5e9); // the largest span is fine
  assert.equal(dc.active(), false);
});

test('a method called on the wrong object is a TypeError naming what it expected', () => {
  const P = Deferred.prototype;
  for (const m of ['callback', 'errback', 'cancel', 'pause', 'unpause', 'addCallback', 'addErrback', 'addBoth',
    'addCallbacks', 'chainDeferred', 'then', 'catch', 'finally', 'toPromise', 'addTimeout']) {
    for (const self of [{}, null, undefined, 1, Object.create(P), new Proxy(new Deferred(), {})]) {
      assert.throws(() => P[m].call(self, () => 1), { name: 'TypeError', message: 'expected a Deferred' }, m);
    }
  }
  for (const g of ['state', 'called', 'paused']) {
    assert.throws(() => Reflect.get(P, g, {}), { name: 'TypeError', message: 'expected a Deferred' }, g);
  }
  // A Clock method on nothing must not reach the real reactor.
  for (const self of [undefined, null, {}]) {
    assert.throws(() => Clock.prototype.advance.call(self, 1), { name: 'TypeError', message: 'expected a Clock' });
    assert.throws(() => Clock.prototype.seconds.call(self), { name: 'TypeError', message: 'expected a Clock' });
    assert.throws(() => Clock.prototype.callLater.call(self, 0, () => {}), { name: 'TypeError', message: 'expected a Clock' });
    assert.throws(() => Reflect.get(Clock.prototype, 'pendingCalls', self), { name: 'TypeError', message: 'expected a Clock' });
  }
  for (const self of [{}, null]) {
    assert.throws(() => D.DelayedCall.prototype.active.call(self), { name: 'TypeError', message: 'expected a DelayedCall' });
    assert.throws(() => D.DelayedCall.prototype.getTime.call(self), { name: 'TypeError', message: 'expected a DelayedCall' });
  }
});

test('a lock, semaphore or queue method on another kind of object is a TypeError, not that object\'s operation', () => {
  const lock = new D.DeferredLock(), sem = new D.DeferredSemaphore(1), q = new D.DeferredQueue();
  assert.throws(() => D.DeferredLock.prototype.release.call(sem), { name: 'TypeError', message: 'expected a DeferredLock' });
  assert.throws(() => D.DeferredQueue.prototype.get.call(lock), { name: 'TypeError', message: 'expected a DeferredQueue' });
  assert.throws(() => D.DeferredSemaphore.prototype.acquire.call(q), { name: 'TypeError', message: 'expected a DeferredSemaphore' });
  const before = D.stats().callbacks;
  assert.throws(() => D.DeferredLock.prototype.run.call(sem, () => 1), TypeError);
  assert.equal(D.stats().callbacks, before);
  assert.equal(lock.locked, false);
  assert.equal(sem.tokens, 1);
  assert.equal(q.waiting, 0);
});

test('DeferredQueue: null is no limit (Twisted\'s None), and a huge limit is none either', async () => {
  const q = new D.DeferredQueue({ size: null, backlog: null });
  for (let i = 0; i < 100; i++) q.put(i);
  assert.equal(q.pending, 100);
  const big = new D.DeferredQueue({ size: 1e30, backlog: 2 ** 64 });
  big.put('x');
  assert.equal(await big.get(), 'x');
  assert.throws(() => new D.DeferredQueue({ size: '3' }), RangeError);
  assert.throws(() => new D.DeferredQueue({ size: -1 }), RangeError);
});

test('NativeLibrary: names are taken whole, types are checked by func(), integers must fit', () => {
  const path = require('node:path');
  const file = path.join(__dirname, '..', 'build', 'libtestlib.so');
  const lib = new D.NativeLibrary(file);
  assert.throws(() => new D.NativeLibrary('libc.so.6\0junk'), { name: 'TypeError', message: /NUL/ });
  assert.throws(() => new D.NativeLibrary('/'.repeat(5000) + 'x.so'), { name: 'TypeError', message: /shorter/ });
  assert.throws(() => lib.func('int64', 'fib\0junk', ['int32']), { name: 'TypeError', message: /NUL/ });
  assert.throws(() => lib.func('int64', 5, ['int32']), { name: 'TypeError', message: /must be a string/ });
  assert.throws(() => lib.func('banana', 'fib', ['int32']), { name: 'TypeError', message: /unknown return type/ });
  assert.throws(() => lib.func('int64', 'fib', 'int32'), { name: 'TypeError', message: /must be an array/ });
  assert.throws(() => lib.func('int64', 'fib', ['void']), { name: 'TypeError', message: /unknown argument type/ });
  assert.throws(() => lib.func('int64', 'fib', ['int32'], { clock: 5 }), { name: 'TypeError', message: 'expected a Clock' });
  assert.throws(() => D.NativeLibrary.prototype.func.call({}, 'int', 'fib'), { name: 'TypeError', message: 'expected a NativeLibrary' });
  const types = ['int32'];
  const fib = lib.func('int64', 'fib', types);
  types[0] = 'pointer'; // the caller's array changing later changes nothing
  for (const bad of [NaN, Infinity, 1.5, 2 ** 31, -(2 ** 31) - 1, 1e300]) {
    assert.throws(() => fib(bad), { name: 'RangeError', message: /argument 1/ }, String(bad));
  }
  assert.throws(() => lib.func('int', 'fib', ['uint32'])(-1), RangeError);
  assert.throws(() => fib('10'), TypeError);
  return fib(10).then((v) => assert.equal(v, 55));
});

test('maybeDeferred answers with a Deferred whatever fn returns', async () => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  const thenGetterThrows = { get then() { throw new Error('getter'); } };
  await assert.rejects(D.maybeDeferred(() => proxy).toPromise(), TypeError);
  await assert.rejects(D.maybeDeferred(() => thenGetterThrows).toPromise(), { message: 'getter' });
  assert.equal(await D.maybeDeferred(() => ({ then: 5 })).then((v) => v.then), 5);
});

test('pause() past its limit, and _napiFloor with no function, are clear errors', () => {
  const d = new Deferred();
  for (let i = 0; i < 32767; i++) d.pause();
  assert.throws(() => d.pause(), { name: 'RangeError', code: 'EOVERFLOW' });
  assert.equal(d.paused, 32767);
  assert.throws(() => D._napiFloor(5, 1), TypeError);
});

test('addCallbacks: callbackArgs and errbackArgs must be arrays', () => {
  const d = new Deferred();
  assert.throws(() => d.addCallbacks(() => {}, null, { callbackArgs: 'ab' }), { name: 'TypeError', message: /callbackArgs/ });
  assert.throws(() => d.addCallbacks(null, () => {}, { errbackArgs: 5 }), { name: 'TypeError', message: /errbackArgs/ });
  let got;
  d.addCallbacks((v, a, b) => { got = [v, a, b]; }, null, { callbackArgs: [1, 2] });
  d.callback(0);
  assert.deepEqual(got, [0, 1, 2]);
});

test('a thenable returned by a callback has its `then` read once (a getter with side effects)', async () => {
  let reads = 0;
  const t = { get then() { reads++; return (res) => res('v'); } };
  const d = new Deferred();
  d.addCallback(() => t);
  d.callback(0);
  assert.equal(await d, 'v');
  assert.equal(reads, 1);
  reads = 0;
  assert.equal(await D.maybeDeferred(() => t), 'v');
  assert.equal(reads, 1);
});

test('undefined thrown or rejected is a DeferredError (EFAIL): errbacks can handle it, addBoth((r) => r) passes it', async () => {
  // An errback returning nothing could not be told from one passing an
  // undefined failure on (returning it).
  const seen = [];
  const d = new Deferred();
  d.addCallback(() => { throw undefined; })
    .addBoth((r) => r)
    .addErrback((e) => { seen.push([e.name, e.code, e.message]); })
    .addCallback((v) => { seen.push(['recovered', v]); });
  d.callback(0);
  assert.deepEqual(seen, [['DeferredError', 'EFAIL', 'undefined was thrown'], ['recovered', undefined]]);
  const p = new Deferred();
  p.addCallback(() => Promise.reject(undefined));
  p.callback(0);
  await assert.rejects(p.toPromise(), { code: 'EFAIL', message: 'the promise was rejected with undefined' });
  p.addErrback(() => {});
  await assert.rejects(D.maybeDeferred(() => { throw undefined; }).toPromise(), { code: 'EFAIL' });
  const c = new Deferred(() => { throw undefined; });
  c.cancel();
  await assert.rejects(c.toPromise(), { code: 'EFAIL' });
  c.addErrback(() => {});
  const e = D.fail(null); // null is a value: returned by an errback, the same failure goes on
  e.addErrback((x) => x);
  assert.equal(e.state, 'failed');
  e.addErrback(() => 'done');
  assert.equal(e.state, 'succeeded');
});

test('a Clock (or a non-object) where the options go is a TypeError, not a silent call on the real reactor', () => {
  const c = new Clock();
  const msg = { name: 'TypeError', message: /\{ clock/ };
  assert.throws(() => D.deferLater(1, () => {}, c), msg);
  assert.throws(() => D.addTimeout(new Deferred(), 1, c), msg);
  assert.throws(() => new D.LoopingCall(() => {}, c), msg);
  assert.throws(() => D.deferLater(1, undefined, 5), msg);
  assert.equal(c.pendingCalls, 0);
  const d = D.deferLater(1, () => 'ok', { clock: c });
  c.advance(1);
  assert.equal(d.state, 'succeeded');
});

test('refusals of the library are DeferredErrors (domain dfr, code, errno)', () => {
  const isDfr = (code) => (e) => e instanceof D.DeferredError && e.domain === 'dfr' && e.code === code &&
    typeof e.errno === 'number' && e.errno < 0;
  const d = new Deferred();
  d.callback(1);
  assert.throws(() => d.callback(2), isDfr('EALREADY'));
  const c = new Clock();
  const dc = c.callLater(1, () => {});
  dc.cancel();
  assert.throws(() => dc.cancel(), isDfr('EALREADY_CANCELLED'));
  const ran = c.callLater(0, () => {});
  c.advance(0);
  assert.throws(() => ran.reset(1), isDfr('EALREADY_CALLED'));
  const lc = new D.LoopingCall(() => {}, { clock: c });
  assert.throws(() => lc.stop(), isDfr('ENOTRUNNING'));
  lc.start(1);
  assert.throws(() => lc.start(1), isDfr('EALREADY'));
  lc.stop();
  const q = new D.DeferredQueue({ size: 0 });
  assert.throws(() => q.put(1), isDfr('EOVERFLOW'));
});

test('DeferredLists and gatherResults nested 100,000 deep fire, convert and fail without overflowing the C stack', async () => {
  // (The library fired each level from the one below; the addon converted
  // nested lists and cause chains by recursion.)
  const N = 100000;
  const inner = new Deferred();
  let cur = inner;
  for (let i = 0; i < N; i++) cur = D.DeferredList([cur]);
  inner.callback('x');
  let v = await cur;
  let depth = 0;
  while (Array.isArray(v)) { v = v[0][1]; depth++; }
  assert.deepEqual([depth, v], [N, 'x']);
  const ginner = new Deferred();
  let g = ginner;
  for (let i = 0; i < N; i++) g = D.gatherResults([g], { consumeErrors: true });
  ginner.errback(new Error('bottom'));
  const e = await g.then(() => null, (err) => err);
  let c = e;
  depth = 0;
  while (c.cause) { c = c.cause; depth++; }
  assert.deepEqual([e.code, depth, c.message], ['EFIRST', N, 'bottom']);
  const cinner = new Deferred();
  let cl = cinner;
  for (let i = 0; i < N; i++) cl = D.DeferredList([cl]);
  cl.cancel(); // each list's canceller cancels its inputs, down to the innermost
  await assert.rejects(cinner.toPromise(), { code: 'ECANCELED' });
  assert.equal(cl.state, 'succeeded');
  cinner.addErrback(() => {});
});

const { spawnSync } = require('node:child_process');
const pkg = require('node:path').join(__dirname, '..');
function run(code, flags = []) {
  return spawnSync(process.execPath, ['--expose-gc', ...flags, '-e',
    `const D = require(${JSON.stringify(pkg)}); ${code}`], { encoding: 'utf8', timeout: 20000 });
}

test('an error whose stack cannot be formatted when thrown (a stack overflow) is still reported and freed', () => {
  // The Error holds its frames' receivers (the Deferred) until formatted; held
  // by the failure it made a cycle that leaked and was never reported.
  const r = run(`process.on('unhandledRejection', (e) => console.log('reported', e.message));
    let first = true;
    Error.prepareStackTrace = () => { if (first) { first = false; throw new RangeError('no room'); } return 'formatted'; };
    (() => { const d = new D.Deferred(); d.addCallback(() => { throw new Error('boom'); }); d.callback(1); })();
    let n = 0;
    const step = () => { gc(); if (++n < 5) setTimeout(step, 10); else console.log(JSON.stringify(D.stats())); };
    setTimeout(step, 10);`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'reported boom\n{"values":0,"callbacks":0}\n');
});

test('runaway recursion through callbacks is a RangeError in the chain, not a crash, a leak or a lost failure', () => {
  // At the overflow even the JS half of callback() could not run: the C
  // deferred it made (failed) was held by no JS object, never released and
  // never reported.
  const r = run(`let unhandled = 0;
    process.on('unhandledRejection', () => { unhandled++; });
    let depth = 0;
    function go() { const d = new D.Deferred(); d.addCallback(() => { depth++; go(); }); d.callback(1); }
    try { go(); } catch (e) { console.log('threw', e.name); }
    const d = new D.Deferred(); d.addCallback((x) => x + 1); d.callback(1);
    d.addCallback((x) => console.log('still works', x, depth > 100));
    let n = 0;
    const step = () => { gc(); if (++n < 5) setTimeout(step, 10); else console.log(JSON.stringify(D.stats()), unhandled > 0); };
    setTimeout(step, 10);`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /still works 2 true/);
  assert.match(r.stdout, /\{"values":0,"callbacks":0\} true/);
});
