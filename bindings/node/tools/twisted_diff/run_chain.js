'use strict';
// Runs a gen_chain.py program on this binding and prints the trace run_chain.py prints on Twisted.
const { Deferred, DeferredError, DeferredList, gatherResults, succeed, fail, Clock } = require('../..');
class Err extends Error {}
const log = [];
function descFail(e) {
  if (e instanceof DeferredError) {
    if (e.code === 'ECANCELED') return 'fail:CANCELLED';
    if (e.code === 'ETIMEDOUT') return 'fail:TIMEOUT';
    if (e.code === 'EALREADY') return 'fail:ALREADY';
    if (e.code === 'EFIRST') return `fail:FIRST(${e.index},${descFail(e.cause)})`;
  }
  if (e && e.code === 'EALREADY') return 'fail:ALREADY';
  return 'fail:' + (e && e.message);
}
function descOk(r) {
  if (r instanceof Deferred) return 'DEFERRED';
  if (r === undefined || r === null) return 'ok:None';
  if (Array.isArray(r)) return 'ok:' + item(r);
  return `ok:'${r}'`;
}
function item(x) {
  if (x instanceof Error) return descFail(x);
  if (typeof x === 'boolean') return x ? 'True' : 'False';
  if (Array.isArray(x)) return '[' + x.map(item).join(',') + ']';
  if (x == null) return 'None';
  if (typeof x === 'number') return String(x);
  return `'${x}'`;
}
const prog = JSON.parse(process.argv[2]);
const ds = {};
const clock = new Clock();
function mk(kind, label, isEb) {
  return (r) => {
    log.push(`${label} got ${isEb ? descFail(r) : descOk(r)}`);
    if (kind === 'pass') return r;
    if (kind === 'val') return label;
    if (kind === 'throw') throw new Err(label);
    if (kind.startsWith('fire')) {
      ds[+kind.split(' ')[1]].callback(label);
      return r; // an errback returning its error passes the failure on
    }
    return ds[+kind.split(' ')[1]];
  };
}
prog.forEach((op, step) => {
  try {
    const i = op[1];
    switch (op[0]) {
      case 'new': {
        const c = op[2];
        if (c === 'list' || c === 'gather') {
          const ins = op[3].map((j) => ds[j]); const fl = op[4];
          ds[i] = c === 'list' ? DeferredList(ins, { fireOnOneCallback: fl.fooc, fireOnOneErrback: fl.fooe, consumeErrors: fl.consume }) : gatherResults(ins, { consumeErrors: fl.consume });
          break;
        }
        if (c === 'succeed') { ds[i] = succeed('s' + i); break; }
        if (c === 'fail') { ds[i] = fail(new Err('f' + i)); break; }
        const canc = c === 'cb' ? (d) => d.callback('canc' + i) : c === 'eb' ? (d) => d.errback(new Err('canc' + i)) : c === 'noop' ? () => {} : undefined;
        ds[i] = new Deferred(canc); break;
      }
      case 'add': ds[i].addCallbacks(mk(op[2], `cb${i}.${step}`, false), mk(op[3], `eb${i}.${step}`, true)); break;
      case 'callback': ds[i].callback('v' + step); break;
      case 'errback': ds[i].errback(new Err('e' + step)); break;
      case 'cancel': ds[i].cancel(); break;
      case 'pause': ds[i].pause(); break;
      case 'unpause': ds[i].unpause(); break;
      case 'chain': ds[i].chainDeferred(ds[op[2]]); break;
      case 'timeout': if (op[3]) ds[i].addTimeout(op[2], clock, () => 'otc' + step); else ds[i].addTimeout(op[2], clock); break;
      case 'advance': clock.advance(op[1]); break;
      case 'observe': ds[i].then(() => {}, () => {}); break; // must not change the trace
    }
  } catch (e) {
    if (e.code === 'EALREADY') log.push(`step ${step} already`); else throw e;
  }
});
for (let k = 0; k < 5; k++) clock.advance(0);
const keys = Object.keys(ds).map(Number).sort((a, b) => a - b);
for (const i of keys) ds[i].addCallbacks((r) => { log.push(`final ${i} ${descOk(r)}`); }, (e) => { log.push(`final ${i} ${descFail(e)}`); });
console.log(log.join('\n'));
