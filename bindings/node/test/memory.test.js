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

// RSS after `n` rounds of make(i) minus RSS after `warm` rounds (which
// reach the allocators' high-water mark: a batch of finalizers waiting for
// the next loop turn): MiB.
async function rssGrowth(warm, n, make) {
  const batch = 50_000;
  const measure = async () => { await settle(); return process.memoryUsage().rss; };
  const rounds = async (count) => {
    for (let done = 0; done < count; done += batch) {
      for (let i = 0; i < batch; i++) make(i);
      await new Promise((r) => setImmediate(r));
    }
  };
  await rounds(warm);
  const start = await measure();
  await rounds(n);
  return ((await measure()) - start) / 1048576;
}

// The C engine runs every chain, so a round costs a JS->C and a C->JS call
// (about 0.5 us of CPU): 3 million keep this test to a few seconds; the
// issue's figure is DEFERRED_MEM_N=10000000 (it holds the same bound).
test('3 million Deferreds created, fired and dropped keep RSS flat', async () => {
  const N = Number(process.env.DEFERRED_MEM_N || 3_000_000);
  const cb = (x) => x + 1;
  const growth = await rssGrowth(50_000, N, (i) => {
    const d = new Deferred();
    d.addCallback(cb);
    d.callback(i);
  });
  assert.ok(growth < 64, `RSS grew ${growth.toFixed(1)} MiB over ${N} Deferreds`);
});

test('Deferreds with C deferreds (detached, or dropped pending) keep RSS flat', async () => {
  const N = Number(process.env.DEFERRED_MEM_C_N || 300_000);
  const cb = (x) => x + 1;
  const noop = () => {};
  const base = stats();
  const growth = await rssGrowth(200_000, N, (i) => {
    const d = new Deferred();
    d.addCallback(cb);
    d.pause(); // makes its C deferred; it detaches at unpause
    d.callback(i);
    d.unpause();
    new Deferred(noop).addCallback(cb); // a C deferred until the finalizer runs
  });
  // Finalizers run in batches a loop turn later: RSS climbs to a high-water
  // mark over the first 600k or so and then stays (about 35 MiB here
  // over these rounds); C's own count is exact.
  assert.ok(growth < 128, `RSS grew ${growth.toFixed(1)} MiB over ${N} rounds`);
  for (let i = 0; i < 50 && JSON.stringify(stats()) !== JSON.stringify(base); i++) await settle();
  assert.deepEqual(stats(), base);
});

test('a collected Clock fails its pending deferLater with ENOTRUNNING', async () => {
  let d;
  (() => { const clock = new Clock(); d = deferLater(100, () => 1, { clock }); })();
  let got = 'pending';
  d.addErrback((e) => { got = e.code; return null; });
  await settle();
  assert.equal(got, 'ENOTRUNNING');
});
