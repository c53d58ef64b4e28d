// Quick measurements of the binding (JSON lines, ns per operation): a
// Deferred cycle and await against the native Promise, timers against
// setTimeout.  Short runs: numbers on a loaded machine are indicative.
'use strict';
const { Deferred, succeed, callLater, _napiFloor } = require('..');

function ns(n, f) {
  const t0 = process.hrtime.bigint();
  f(n);
  return Number(process.hrtime.bigint() - t0) / n;
}
async function nsAsync(n, f) {
  const t0 = process.hrtime.bigint();
  await f(n);
  return Number(process.hrtime.bigint() - t0) / n;
}
const row = (bench, impl, v) => console.log(JSON.stringify({ bench, impl, ns_per_op: +v.toFixed(1) }));

async function main() {
  const N = Number(process.env.N || 200000);
  const cb = (x) => x;
  for (let rep = 0; rep < 2; rep++) { // the second round is the one reported
    const last = rep === 1;
    const dc = ns(N, (n) => { for (let i = 0; i < n; i++) { const d = new Deferred(); d.addCallback(cb); d.callback(i); } });
    const pc = await nsAsync(N, async (n) => {
      for (let i = 0; i < n; i++) { let r; const p = new Promise((res) => { r = res; }); const q = p.then(cb); r(i); await q; }
    });
    const link = ns(1, () => { const d = new Deferred(); for (let i = 0; i < 10000; i++) d.addCallback(cb); d.callback(1); }) / 10000;
    const aw = await nsAsync(N, async (n) => { const d = succeed(1); for (let i = 0; i < n; i++) await d; });
    const ap = await nsAsync(N, async (n) => { const p = Promise.resolve(1); for (let i = 0; i < n; i++) await p; });
    const T = 100000;
    const cl = await nsAsync(T, (n) => new Promise((res) => { let k = 0; for (let i = 0; i < n; i++) callLater(0.001, () => { if (++k === n) res(); }); }));
    const st = await nsAsync(T, (n) => new Promise((res) => { let k = 0; for (let i = 0; i < n; i++) setTimeout(() => { if (++k === n) res(); }, 1); }));
    const floor = ns(N, (n) => { for (let i = 0; i < n; i++) _napiFloor(cb, i); });
    if (!last) continue;
    row('napi_call', 'napi-floor', floor);
    row('deferred_cycle', 'node', dc); row('deferred_cycle', 'promise', pc);
    row('callback_link', 'node', link);
    console.log(JSON.stringify({ ratios: {
      deferred_cycle_vs_promise: +(dc / pc).toFixed(2), deferred_cycle_vs_floor: +(dc / floor).toFixed(2),
      callback_link_vs_floor: +(link / floor).toFixed(2), await_fired_vs_promise: +(aw / ap).toFixed(2),
      call_later_vs_settimeout: +(cl / st).toFixed(2),
    } }));
    row('await_fired', 'node', aw); row('await_fired', 'promise', ap);
    row('call_later', 'node', cl); row('call_later', 'settimeout', st);
  }
}
main();
