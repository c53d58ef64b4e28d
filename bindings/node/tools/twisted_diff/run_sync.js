'use strict';
// Runs a gen_sync.py program on this binding and prints the trace run_sync.py prints on Twisted.
const { Deferred, DeferredLock, DeferredSemaphore, DeferredQueue, DeferredError } = require('../..');
const log = [];
const lock = new DeferredLock(), sem = new DeferredSemaphore(2), q = new DeferredQueue(2, 2);
const ds = {}, runs = {}; const active = { lrun: new Set(), srun: new Set() };
const py = (v) => (v === true ? 'True' : v === false ? 'False' : String(v));
function desc(r, failed) {
  if (failed) return r instanceof DeferredError && r.code === 'ECANCELED' ? 'fail:CANCELLED' : 'fail:' + r.constructor.name;
  if (r === lock) return 'ok:lock';
  if (r === sem) return 'ok:sem';
  if (r == null) return 'ok:None';
  return `ok:'${r}'`;
}
JSON.parse(process.argv[2]).forEach((op, step) => {
  try {
    const k = op[0];
    if (k === 'lacq' || k === 'sacq' || k === 'get') {
      const [, i, after] = op;
      const d = k === 'lacq' ? lock.acquire() : k === 'sacq' ? sem.acquire() : q.get();
      ds[i] = d;
      const cb = (failed) => (r) => {
        log.push(`${i} got ${desc(r, failed)}`);
        if (after === 'release' && !failed) { if (k === 'lacq') lock.release(); else if (k === 'sacq') sem.release(); }
        return null;
      };
      d.addCallbacks(cb(false), cb(true));
    } else if (k === 'lrun' || k === 'srun') {
      const [, i, after] = op;
      const inner = new Deferred(); runs[i] = inner;
      const d = (k === 'lrun' ? lock : sem).run(() => {
        log.push(`run ${i}`); active[k].add(i);
        inner.addBoth((r) => { active[k].delete(i); return r; });
        return inner;
      });
      ds[i] = d;
      d.addCallbacks((r) => { log.push(`${i} run done ${desc(r, false)}`); }, (e) => { log.push(`${i} run done ${desc(e, true)}`); });
      if (after === 'release') inner.callback('r' + i);
    } else if (k === 'lrel') { if (active.lrun.size) log.push('skip'); else lock.release(); }
    else if (k === 'srel') { if (active.srun.size) log.push('skip'); else sem.release(); }
    else if (k === 'put') q.put('p' + step);
    else if (k === 'cancel') {
      const i = op[1];
      if (runs[i] && !runs[i].called) runs[i].callback('late' + i); else if (ds[i]) ds[i].cancel();
    }
  } catch (e) {
    if (e.code === 'EOVERFLOW') log.push(`${step} overflow`);
    else if (e.code === 'EUNDERFLOW') log.push(`${step} underflow`);
    else if (e instanceof TypeError) log.push(`${step} bad`);
    else throw e;
  }
  log.push(`state ${py(lock.locked)} ${lock.waiting} ${sem.tokens} ${sem.waiting} ${q.pending} ${q.waiting}`);
});
console.log(log.join('\n'));
