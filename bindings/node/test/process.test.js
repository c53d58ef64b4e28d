'use strict';
// The loop design's promises, checked in child processes: the process exits
// on its own when nothing is pending and stays alive exactly while a timer or
// a thread job is outstanding; unhandled failures act as unhandled rejections.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const pkg = path.join(__dirname, '..');
const lib = path.join(pkg, 'build', 'libtestlib.so');
function run(code, flags = []) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--expose-gc', ...flags, '-e',
    `const D = require(${JSON.stringify(pkg)}); ${code}`], { encoding: 'utf8', timeout: 20000 });
  return { ...r, ms: Date.now() - t0 };
}

test('exits when nothing is pending', () => {
  const r = run('D.succeed(1).addCallback((x) => x);');
  assert.equal(r.status, 0, r.stderr);
});

test('a pending Deferred alone does not keep it alive (only reactor work does)', () => {
  const r = run('globalThis.d = new D.Deferred(); d.addCallback(() => console.log("never"));');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '');
});

test('a pending timer keeps the process alive until it runs', () => {
  const r = run('D.callLater(0.3, () => console.log("fired"));');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'fired');
  assert.ok(r.ms >= 250);
});

test('a cancelled timer does not keep it alive', () => {
  const r = run('D.callLater(30, () => console.log("never")).cancel();');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.ok(r.ms < 10000);
});

test('after a due-now call the loop goes idle and exits', () => {
  const r = run('D.callLater(0, () => console.log("now")); D.deferLater(0).addCallback(() => console.log("later"));');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'now\nlater\n');
});

test('a thread job keeps the process alive until its result arrives', () => {
  const r = run(`const f = new D.NativeLibrary(${JSON.stringify(lib)}).func('int64', 'slow_fib', ['int32', 'int32']);
    f(20, 300).addCallback((v) => console.log('fib', v));`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'fib 6765');
});

test('a LoopingCall keeps it alive until stopped', () => {
  const r = run('let n = 0; const lc = new D.LoopingCall(() => { if (++n === 3) lc.stop(); }); lc.start(0.01).addCallback(() => console.log("n", n));');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'n 3');
});

test('an unhandled failure is an unhandled rejection (crash by default)', () => {
  const r = run('D.fail(new Error("lost failure")); setTimeout(() => gc(), 1);');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /lost failure/);
});

test('a failure thrown by a callback nobody handles is reported (the frames of its Error do not keep the Deferred alive)', () => {
  // One Deferred run in JS, one with a C deferred from the start (a canceller).
  const r = run('for (const c of [undefined, () => {}]) { const d = new D.Deferred(c); ' +
    'd.addCallback(() => { throw new Error(c ? "lost in C" : "lost in JS"); }); d.callback(1); } ' +
    'setTimeout(() => gc(), 1);', ['--unhandled-rejections=warn']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /lost in JS/);
  assert.match(r.stderr, /lost in C/);
});

test('--unhandled-rejections=warn makes it a warning', () => {
  const r = run('D.fail(new Error("lost failure")); setTimeout(() => gc(), 1);', ['--unhandled-rejections=warn']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /lost failure/);
});

test('an awaited (handled) failure is not reported', () => {
  const r = run('(async () => { try { await D.fail(new Error("seen")); } catch {} setTimeout(() => gc(), 1); })();');
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /seen/);
});

test('a Clock dropped with work pending is collected quietly (its deferreds would never fire)', () => {
  const r = run(`(() => {
      const c = new D.Clock();
      D.deferLater(1, () => 0, { clock: c });
      new D.LoopingCall(() => 0, { clock: c }).start(1);
      const t = new D.Deferred(); t.addTimeout(5, c);
    })();
    setTimeout(() => { gc(); setTimeout(() => { gc(); console.log("collected"); }, 20); }, 20);`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'collected');
  assert.equal(r.stderr, '');
});

test('a deferLater still held sees its Clock collected as ENOTRUNNING', () => {
  const r = run(`globalThis.d = D.deferLater(1, () => 0, { clock: new D.Clock() });
    d.addErrback((e) => console.log(e.code));
    setTimeout(() => gc(), 20);`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ENOTRUNNING');
});

test('an exception in a timer function is an uncaught exception', () => {
  const r = run('D.callLater(0.01, () => { throw new Error("timer threw"); });');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /timer threw/);
});
