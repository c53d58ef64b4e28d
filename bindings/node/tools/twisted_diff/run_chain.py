# Runs a gen_chain.py program on Twisted and prints its trace (diff.sh compares it with run_chain.js).
import json, sys
from twisted.internet.defer import Deferred, CancelledError, AlreadyCalledError, DeferredList, gatherResults, succeed, fail, FirstError, TimeoutError
from twisted.internet.task import Clock
from twisted.python.failure import Failure
class Err(Exception): pass
log = []
def desc(r):
    if isinstance(r, Failure):
        if r.check(CancelledError): return 'fail:CANCELLED'
        if r.check(TimeoutError): return 'fail:TIMEOUT'
        if r.check(AlreadyCalledError): return 'fail:ALREADY'
        if r.check(FirstError): return 'fail:FIRST(%d,%s)' % (r.value.index, desc(r.value.subFailure))
        return 'fail:' + str(r.value)
    if isinstance(r, Deferred): return 'DEFERRED'
    if isinstance(r, (list, tuple)): return 'ok:' + item(r)
    return 'ok:' + repr(r)
def item(x):
    if isinstance(x, Failure): return desc(x)
    if isinstance(x, bool): return 'True' if x else 'False'
    if isinstance(x, (list, tuple)): return '[' + ','.join(item(y) for y in x) + ']'
    if x is None: return 'None'
    if isinstance(x, int): return str(x)
    return repr(x)
def run(prog):
    ds = {}
    clock = Clock()
    def mk(kind, label):
        def f(r):
            log.append('%s got %s' % (label, desc(r)))
            if kind == 'pass': return r
            if kind == 'val': return label
            if kind == 'throw': raise Err(label)
            if kind.startswith('fire'):
                ds[int(kind.split()[1])].callback(label)
                return r
            return ds[int(kind.split()[1])]
        return f
    for step, op in enumerate(prog):
        try:
            if op[0] == 'new':
                i, c = op[1], op[2]
                if c in ('list', 'gather'):
                    ins = [ds[j] for j in op[3]]; fl = op[4]
                    if c == 'list': ds[i] = DeferredList(ins, fireOnOneCallback=fl['fooc'], fireOnOneErrback=fl['fooe'], consumeErrors=fl['consume'])
                    else: ds[i] = gatherResults(ins, consumeErrors=fl['consume'])
                    continue
                if c == 'succeed': ds[i] = succeed('s%d' % i); continue
                if c == 'fail': ds[i] = fail(Err('f%d' % i)); continue
                canc = None
                if c == 'cb': canc = lambda d, i=i: d.callback('canc%d' % i)
                elif c == 'eb': canc = lambda d, i=i: d.errback(Err('canc%d' % i))
                elif c == 'noop': canc = lambda d: None
                ds[i] = Deferred(canc)
            elif op[0] == 'add':
                i = op[1]
                ds[i].addCallbacks(mk(op[2], 'cb%d.%d' % (i, step)), mk(op[3], 'eb%d.%d' % (i, step)))
            elif op[0] == 'callback': ds[op[1]].callback('v%d' % step)
            elif op[0] == 'errback': ds[op[1]].errback(Err('e%d' % step))
            elif op[0] == 'cancel': ds[op[1]].cancel()
            elif op[0] == 'pause': ds[op[1]].pause()
            elif op[0] == 'unpause': ds[op[1]].unpause()
            elif op[0] == 'chain': ds[op[1]].chainDeferred(ds[op[2]])
            elif op[0] == 'timeout':
                if op[3]: ds[op[1]].addTimeout(op[2], clock, lambda r, t, s=step: 'otc%d' % s)
                else: ds[op[1]].addTimeout(op[2], clock)
            elif op[0] == 'advance': clock.advance(op[1])
            elif op[0] == 'observe': pass  # JS only: then() must not change the chain
        except AlreadyCalledError:
            log.append('step %d already' % step)
    for _ in range(5): clock.advance(0)
    for i in sorted(ds):
        ds[i].addBoth(lambda r, i=i: log.append('final %d %s' % (i, desc(r))))
run(json.loads(sys.argv[1]))
print('\n'.join(log))
