// The binding's benchmarks (issue 16), as bench/run rows: JSON lines on
// stdout, one per bench and impl, then one check per target.
//
//   node bench/bench.js [--quick]
//
// Each figure is CPU time of this process (process.cpuUsage: user + system,
// so GC threads count) per operation, the best of R rounds; the impls of a
// bench alternate within each round, so their ratio compares like with like
// on a loaded machine.  Impls: "node" (this binding), "promise" (the native
// Promise doing the same work), "napi-floor" (one JS->C call making one C->JS
// call, both no-ops), "settimeout" (Node's own timers).
'use strict';
const path = require('node:path');
const { Deferred, succeed, callLater, _napiFloor } = require(path.join(__dirname, '..'));

const quick = process.argv.includes('--quick');
const R = quick ? 3 : 7;
const N = quick ? 100000 : 300000;
const LINKS = 10000;
const TIMERS = 100000;

async function cpu(n, f) {
  const c0 = process.cpuUsage();
  await f(n);
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1000) / n;
}

const id = (x) => x;
const impls = {
  deferred_cycle: {
    node: (n) => { for (let i = 0; i < n; i++) { const d = new Deferred(); d.addCallback(id); d.callback(i); } },
    promise: async (n) => {
      for (let i = 0; i < n; i++) { let r; const p = new Promise((res) => { r = res; }); const q = p.then(id); r(i); await q; }
    },
    'napi-floor': (n) => { for (let i = 0; i < n; i++) _napiFloor(id, i); },
  },
  callback_link: {
    // per link: 10k JS callbacks on one Deferred, then fire
    node: (n) => {
      for (let j = 0; j < n; j += LINKS) { const d = new Deferred(); for (let i = 0; i < LINKS; i++) d.addCallback(id); d.callback(1); }
    },
    'napi-floor': (n) => { for (let i = 0; i < n; i++) _napiFloor(id, i); },
  },
  await_fired: {
    node: async (n) => { const d = succeed(1); for (let i = 0; i < n; i++) await d; },
    promise: async (n) => { const p = Promise.resolve(1); for (let i = 0; i < n; i++) await p; },
  },
  call_later: {
    node: (n) => new Promise((res) => { let k = 0; const f = () => { if (++k === n) res(); }; for (let i = 0; i < n; i++) callLater(0.001, f); }),
    settimeout: (n) => new Promise((res) => { let k = 0; const f = () => { if (++k === n) res(); }; for (let i = 0; i < n; i++) setTimeout(f, 1); }),
  },
};
const sizes = { deferred_cycle: N, callback_link: LINKS * (quick ? 10 : 30), await_fired: N, call_later: TIMERS };

async function main() {
  const best = {};
  for (const b of Object.keys(impls)) {
    best[b] = {};
    for (const i of Object.keys(impls[b])) await impls[b][i](Math.min(sizes[b], 20000)); // warm up
  }
  for (let r = 0; r < R; r++) {
    process.stderr.write(`bench/lang/node: round ${r + 1}/${R}\n`);
    for (const b of Object.keys(impls)) {
      for (const i of Object.keys(impls[b])) {

        // Let the GC threads finish the previous run's work first: CPU time
        // counts them.
        await new Promise((res) => setTimeout(res, 20));
        const t = await cpu(sizes[b], impls[b][i]);
        best[b][i] = Math.min(best[b][i] ?? Infinity, t);
      }
    }
  }
  for (const b of Object.keys(impls)) {
    for (const i of Object.keys(impls[b])) {
      console.log(JSON.stringify({ bench: b, impl: i, n: sizes[b], ns_per_op: +best[b][i].toFixed(1) }));
    }
  }
  const check = (b, num, den, limit) => {
    const m = best[b][num] / best[b][den];
    console.log(JSON.stringify({ check: `${b}: ${num} / ${den}`, measured: +m.toFixed(2), want: `≤ ${limit}`, ok: m <= limit }));
  };
  check('deferred_cycle', 'node', 'promise', 2);
  check('deferred_cycle', 'node', 'napi-floor', 4);
  check('callback_link', 'node', 'napi-floor', 2);
  check('await_fired', 'node', 'promise', 2);
  check('call_later', 'node', 'settimeout', 2);
}
main();
