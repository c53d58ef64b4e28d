'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { Deferred, DeferredError, succeed, fail, maybeDeferred } = require('..');

test('callbacks run in order with each result', () => {
  const d = new Deferred();
  const seen = [];
  d.addCallback((x) => { seen.push(x); return x * 2; })
    .addCallback((x, extra) => { seen.push(x, extra); return 'done'; }, 'arg');
  assert.equal(d.state, 'pending');
  d.callback(21);
  assert.deepEqual(seen, [21, 42, 'arg']);
  assert.equal(d.state, 'succeeded');
});

test('a new Deferred is fired, with its C deferred, while its callbacks run', () => {
  // A new Deferred gets its C deferred in callback(): its callbacks must see
  // that one (state, a callback added meanwhile), not make another.
  const d = new Deferred();
  const seen = [];
  d.addCallback((x) => {
    seen.push(d.called, d.state);
    const e = new Deferred(); // another new one fired inside: its own C deferred
    e.addCallback((y) => { seen.push(e.called, y); return y; });
    e.callback('e');
    d.addCallback((y) => { seen.push(y); return y + 1; });
    return x + 1;
  });
  d.callback(1);
  assert.deepEqual(seen, [true, 'succeeded', true, 'e', 2]);
  let got;
  d.addCallback((v) => { got = v; });
  assert.equal(got, 3);
});

test('a callback added after firing runs at once', () => {
  const d = succeed('x');
  let got;
  d.addCallback((v) => { got = v; });
  assert.equal(got, 'x');
});

test('values keep their identity and type through the C chain', () => {
  const obj = { a: 1 };
  const values = [obj, 'str', true, null, 1.5, -0, 2 ** 60, 10n, Symbol('s'), [1, 2], () => 1];
  for (const v of values) {
    let got;
    succeed(v).addCallback((r) => { got = r; });
    assert.ok(Object.is(got, v), `round trip of ${String(v)}`);
  }
});

test('a thrown exception becomes a failure on the chain', () => {
  const d = new Deferred();
  const err = new Error('boom');
  let caught;
  d.addCallback(() => { throw err; })
    .addCallback(() => assert.fail('callback must be skipped'))
    .addErrback((e) => { caught = e; return 'recovered'; })
    .addCallback((v) => assert.equal(v, 'recovered'));
  d.callback(1);
  assert.equal(caught, err);
  assert.equal(d.state, 'succeeded');
});

test('throwing a non-Error value keeps the value', () => {
  let caught;
  const d = new Deferred();
  d.addCallback(() => { throw 'plain'; }).addErrback((e) => { caught = e; });
  d.callback();
  assert.equal(caught, 'plain');
});

test('errback and addBoth, addCallbacks picks the path', () => {
  const d = new Deferred();
  const seen = [];
  d.addCallbacks(() => seen.push('cb'), (e) => { seen.push('eb:' + e.message); return 1; })
    .addBoth((r) => { seen.push('both:' + r); });
  d.errback(new TypeError('bad'));
  assert.deepEqual(seen, ['eb:bad', 'both:1']);
});

test('a callback returning a Deferred makes the chain wait', () => {
  const inner = new Deferred();
  const d = succeed(1);
  let got;
  d.addCallback(() => inner).addCallback((v) => { got = v; });
  assert.equal(got, undefined);
  assert.equal(d.state, 'pending');
  inner.callback('inner');
  assert.equal(got, 'inner');
});

test('pause and unpause', () => {
  const d = new Deferred();
  let got;
  d.addCallback((v) => { got = v; });
  d.pause();
  assert.equal(d.paused, 1);
  d.callback(3);
  assert.equal(got, undefined);
  d.unpause();
  assert.equal(got, 3);
  assert.throws(() => d.unpause(), { name: 'TypeError', message: /unpause/ });
});

test('cancel runs the canceller, else fails with ECANCELED', async () => {
  let cancelled = null;
  const d = new Deferred((self) => { cancelled = self; });
  d.cancel();
  assert.equal(cancelled, d);
  await assert.rejects(d, (e) => e instanceof DeferredError && e.code === 'ECANCELED' &&
    e.domain === 'dfr' && e instanceof Error);
  const fired = new Deferred((self) => self.callback('from canceller'));
  fired.cancel();
  assert.equal(await fired, 'from canceller');
});

test('firing twice throws AlreadyCalledError', () => {
  const d = succeed(1);
  assert.throws(() => d.callback(2), { code: 'EALREADY', message: /already been called/ });
  assert.throws(() => d.errback(new Error('x')), { code: 'EALREADY' });
});

test('chainDeferred passes the result on', () => {
  const a = new Deferred(), b = new Deferred();
  let got;
  b.addCallback((v) => { got = v; });
  assert.equal(a.chainDeferred(b), a); // Twisted returns self
  a.callback('v');
  assert.equal(got, 'v');
});

test('succeed, fail, maybeDeferred', async () => {
  assert.equal(await succeed(5), 5);
  const e = new Error('f');
  await assert.rejects(fail(e), (x) => x === e);
  assert.equal(await maybeDeferred((a, b) => a + b, 1, 2), 3);
  await assert.rejects(maybeDeferred(() => { throw e; }), (x) => x === e);
  const d = new Deferred();
  assert.equal(maybeDeferred(() => d), d);
  assert.equal(await maybeDeferred(async () => 'p'), 'p');
});

test('a failure from C carries domain, code, errno, message and cause', async () => {
  const { gatherResults } = require('..');
  const inner = new Error('inner');
  const g = gatherResults([succeed(1), fail(inner)], { consumeErrors: true });
  await assert.rejects(g, (e) => e.code === 'EFIRST' && e.domain === 'dfr' && e.errno === -6 &&
    e.cause === inner && e.index === 1 && typeof e.message === 'string');
});

test('an Error from C passed back to errback is the same failure', async () => {
  const d = new Deferred();
  d.cancel();
  let err;
  d.addErrback((e) => { err = e; });
  const d2 = new Deferred();
  d2.errback(err);
  await assert.rejects(d2, (e) => e.code === 'ECANCELED');
});

test('misuse gives clear JS exceptions', () => {
  const d = new Deferred();
  assert.throws(() => d.addCallback(3), { name: 'TypeError', message: /callback must be a function/ });
  assert.throws(() => d.addCallbacks(null, null), { name: 'TypeError' });
  assert.throws(() => d.addCallbacks(() => 1, 'x'), { name: 'TypeError' });
  assert.throws(() => d.callback(new Deferred()), { name: 'TypeError', message: /chain it instead/ });
  assert.throws(() => Deferred.prototype.callback.call({}, 1), { name: 'TypeError', message: /expected a Deferred/ });
  assert.throws(() => new Deferred(5), { name: 'TypeError', message: /canceller/ });
  assert.throws(() => d.chainDeferred({}), { name: 'TypeError' });
  assert.throws(() => maybeDeferred(1), { name: 'TypeError' });
  d.callback(1);
});

test('methods called on the wrong kind of object throw TypeErrors', () => {
  const { DelayedCall, DeferredLock, DeferredQueue, LoopingCall, Clock } = require('..');
  const d = new Deferred();
  assert.throws(() => DelayedCall.prototype.cancel.call(d), { name: 'TypeError', message: /DelayedCall/ });
  assert.throws(() => DeferredLock.prototype.release.call(d), { name: 'TypeError', message: /DeferredLock/ });
  assert.throws(() => DeferredQueue.prototype.put.call(new Clock(), 1), TypeError);
  assert.throws(() => LoopingCall.prototype.stop.call(new DeferredLock()), { name: 'TypeError', message: /LoopingCall/ });
  assert.throws(() => Deferred.prototype.cancel.call(new DeferredLock()), { message: /expected a Deferred/ });
  assert.throws(() => Deferred.prototype.cancel.call(new Error('e')), { message: /expected a Deferred/ });
  assert.throws(() => d.addTimeout(1, d), { message: /Clock/ });
});

test('addCallbacks passes callbackArgs / errbackArgs', () => {
  const seen = [];
  const d = new Deferred();
  d.addCallbacks((r, a, b) => { seen.push([r, a, b]); throw new Error('x'); }, null, { callbackArgs: [1, 2] })
    .addCallbacks(null, (e, tag) => { seen.push([e.message, tag]); }, { errbackArgs: ['t'] });
  d.callback(0);
  assert.deepEqual(seen, [[0, 1, 2], ['x', 't']]);
});

test('errback with no argument gives a DeferredError', async () => {
  const d = new Deferred();
  d.errback();
  await assert.rejects(d, (e) => e instanceof DeferredError && e.domain === 'js');
  await assert.rejects(fail(), (e) => e instanceof DeferredError && e.domain === 'js' && /fail\(\)/.test(e.message));
});

test('a canceller that throws fails the Deferred with what it threw', async () => {
  const err = new Error('canceller threw');
  const d = new Deferred(() => { throw err; });
  d.cancel();
  await assert.rejects(d, (e) => e === err);
});
