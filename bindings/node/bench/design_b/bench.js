// Measures design (b) (design_b.c) against the shipped design (a), same
// run, CPU time of the whole process per operation (both threads) and wall
// time, best of 5 rounds:  node bench/design_b/bench.js   (builds design_b.node first)
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const root = path.join(__dirname, '../..');
const out = path.join(root, 'build', 'design_b.node');
const build = process.env.DEFERRED_BUILD || path.join(root, '../../build');
const env = { ...process.env, PKG_CONFIG_PATH: path.join(build, 'meson-uninstalled') };
const pc = execFileSync('pkg-config', ['--cflags', '--libs', 'deferred-uninstalled'], { env, encoding: 'utf8' }).trim().split(/\s+/);
const nodeInc = process.env.NODE_INCLUDE || path.join(path.dirname(path.dirname(process.execPath)), 'include/node');
execFileSync(process.env.CC || 'cc', ['-std=gnu11', '-O2', '-fPIC', '-shared', '-DNAPI_VERSION=8', `-I${nodeInc}`,
  path.join(__dirname, 'design_b.c'), '-o', out, ...pc, `-Wl,-rpath,${path.join(build, 'src')}`, '-lpthread'], { stdio: 'inherit' });
const b = require(out);
const { Deferred, succeed, callLater } = require(root);

const cpu = async (n, f) => {
  const c0 = process.cpuUsage(), t0 = process.hrtime.bigint();
  await f(n);
  const c = process.cpuUsage(c0), t = Number(process.hrtime.bigint() - t0);
  return [((c.user + c.system) * 1000) / n, t / n];
};
const id = (x) => x;
const runs = {
  'cycle (a)': (n) => { for (let i = 0; i < n; i++) { const d = new Deferred(); d.addCallback(id); d.callback(i); } },
  'cycle (b): pipelined hops': (n) => new Promise((res) => b.pipelined(n, id, res)),
  'await_fired (a)': async (n) => { const d = succeed(1); for (let i = 0; i < n; i++) await d; },
  'await_fired (b): ping-pong hops': (n) => new Promise((res) => b.pingpong(n, id, res)),
  'call_later (a)': (n) => new Promise((res) => { let k = 0; for (let i = 0; i < n; i++) callLater(0.001, () => { if (++k === n) res(); }); }),
  'call_later (b)': (n) => new Promise((res) => b.timers(n, 0.001, id, res)),
};
(async () => {
  const N = Number(process.env.N || 100000), best = {};
  for (let r = 0; r < 5; r++) {
    for (const [k, f] of Object.entries(runs)) {
      const n = k.startsWith('await_fired (b)') ? N / 10 : N;
      const [c, w] = await cpu(n, f);
      best[k] = [Math.min(best[k]?.[0] ?? Infinity, c), Math.min(best[k]?.[1] ?? Infinity, w)];
    }
  }
  for (const [k, v] of Object.entries(best)) console.log(JSON.stringify({ run: k, cpu_ns_per_op: +v[0].toFixed(1), wall_ns_per_op: +v[1].toFixed(1) }));
})();
