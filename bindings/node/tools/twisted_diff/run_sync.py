# Runs a gen_sync.py program on Twisted and prints its trace (diff.sh compares it with run_sync.js).
import json, sys
from twisted.internet.defer import Deferred, DeferredLock, DeferredSemaphore, DeferredQueue, CancelledError, QueueOverflow, QueueUnderflow
from twisted.python.failure import Failure
log = []
lock, sem, q = DeferredLock(), DeferredSemaphore(2), DeferredQueue(2, 2)
ds = {}; runs = {}; active = {'lrun': set(), 'srun': set()}
def desc(r):
    if isinstance(r, Failure):
        return 'fail:CANCELLED' if r.check(CancelledError) else 'fail:' + r.value.__class__.__name__
    if r is lock: return 'ok:lock'
    if r is sem: return 'ok:sem'
    return 'ok:' + repr(r)
for step, op in enumerate(json.loads(sys.argv[1])):
    try:
        k = op[0]
        if k in ('lacq', 'sacq', 'get'):
            i, after = op[1], op[2]
            d = lock.acquire() if k == 'lacq' else sem.acquire() if k == 'sacq' else q.get()
            ds[i] = d
            def cb(r, i=i, after=after, k=k):
                log.append('%d got %s' % (i, desc(r)))
                if after == 'release' and not isinstance(r, Failure):
                    if k == 'lacq': lock.release()
                    elif k == 'sacq': sem.release()
                return None
            d.addBoth(cb)
        elif k in ('lrun', 'srun'):
            i, after = op[1], op[2]
            inner = Deferred(); runs[i] = inner
            def fn(i=i, inner=inner, k=k):
                log.append('run %d' % i); active[k].add(i)
                inner.addBoth(lambda r: (active[k].discard(i), r)[1]); return inner
            d = (lock if k == 'lrun' else sem).run(fn)
            ds[i] = d
            d.addBoth(lambda r, i=i: log.append('%d run done %s' % (i, desc(r))))
            if after == 'release': inner.callback('r%d' % i)
        elif k == 'lrel':
            if active['lrun']: log.append('skip')
            else: lock.release()
        elif k == 'srel':
            if active['srun']: log.append('skip')
            else: sem.release()
        elif k == 'put': q.put('p%d' % step)
        elif k == 'cancel':
            i = op[1]
            if i in runs and not runs[i].called: runs[i].callback('late%d' % i)
            elif i in ds: ds[i].cancel()
    except AssertionError: log.append('%d bad' % step)
    except ValueError: log.append('%d bad' % step)
    except QueueOverflow: log.append('%d overflow' % step)
    except QueueUnderflow: log.append('%d underflow' % step)
    log.append('state %s %d %d %d %d %d' % (lock.locked, len(lock.waiting), sem.tokens, len(sem.waiting), len(q.pending), len(q.waiting)))
print('\n'.join(log))
