'use strict';
// JS values held by C chains are released exactly once; wrappers release
// their C references when collected; RSS stays bounded.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Deferred, succeed, fail, DeferredList, stats, Clock, deferLater } = require('..');

async function settle() {
  for (let i = 0; i < 4; i++) { global.gc(); await new Promise((r) => setImmediate(r)); }
}

test('values and callbacks held by C are released when chains finish', async () => {
  await settle();
  const base = stats();
  for (let i = 0; i < 1000; i++) {
    const d = new Deferred(() => {});
    d.addCallback((v) => ({ wrapped: v })).addErrback(() => 0).addBoth((x) => x);
    d.callback({ i });
    const l = DeferredList([succeed('s'), d, fail(new Error('e'))], { consumeErrors: true });
    await l;
    const c = new Clock();
    const t = deferLater(5, () => ({}), { clock: c });
    t.addErrback(() => 0);
    t.cancel();
  }
  // Finalizers run after collection, on later loop turns: give them time.
  for (let i = 0; i < 50 && JSON.stringify(stats()) !== JSON.stringify(base); i++) await settle();
  assert.deepEqual(stats(), base);
});

test('JS objects in a C chain are collected after release (FinalizationRegistry)', async () => {
  let collected = 0;
  const reg = new FinalizationRegistry(() => { collected++; });
  (() => {
    for (let i = 0; i < 100; i++) {
      const o = {};
      reg.register(o, i);
      succeed(o).addCallback((x) => x);
    }
  })();
  for (let i = 0; i < 20 && collected < 100; i++) await settle();
  assert.equal(collected, 100);
});

test('many Deferreds created and dropped keep RSS bounded', async () => {
  const N = Number(process.env.DEFERRED_MEM_N || 1_000_000);
  const batch = 50_000;
  const cb = (x) => x + 1;
  const measure = async () => { await settle(); return process.memoryUsage().rss; };
  for (let i = 0; i < batch; i++) new Deferred().addCallback(cb).callback(i); // warm up
  const start = await measure();
  for (let n = 0; n < N; n += batch) {
    for (let i = 0; i < batch; i++) {
      const d = new Deferred();
      d.addCallback(cb);
      d.callback(i);
    }
    await new Promise((r) => setImmediate(r));
  }
  const end = await measure();
  const growth = (end - start) / 1048576;
  assert.ok(growth < 64, `RSS grew ${growth.toFixed(1)} MiB over ${N} Deferreds`);
});

test('a collected Clock fails its pending deferLater with ENOTRUNNING', async () => {
  let d;
  (() => { const clock = new Clock(); d = deferLater(100, () => 1, { clock }); })();
  let got = 'pending';
  d.addErrback((e) => { got = e.code; return null; });
  await settle();
  assert.equal(got, 'ENOTRUNNING');
});
