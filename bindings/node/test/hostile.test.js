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
