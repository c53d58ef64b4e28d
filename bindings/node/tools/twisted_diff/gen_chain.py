# A random program for diff.sh: Deferreds, their callbacks and what fires them (JSON on stdout).
import json, random, sys
def gen(seed, n=5, ops=16):
    r = random.Random(seed)
    prog = []
    for i in range(n):
        k = r.choice(['none', 'none', 'cb', 'eb', 'noop', 'list', 'gather', 'succeed', 'fail'])
        if k in ('list', 'gather') and i >= 2:
            ins = sorted(r.sample(range(i), r.randint(1, min(3, i))))
            flags = {'fooc': r.random() < 0.3, 'fooe': r.random() < 0.3, 'consume': r.random() < 0.4}
            prog.append(['new', i, k, ins, flags])
        elif k in ('list', 'gather'):
            prog.append(['new', i, 'none'])
        else:
            prog.append(['new', i, k])
    kinds = lambda i: (['pass', 'val', 'throw'] + ['ret %d' % j for j in range(i + 1, n)] +
                       ['fire %d' % j for j in range(i + 1, n) if j not in lists and r.random() < 0.3])
    paused = [0] * n
    lists = {p[1] for p in prog if p[2] in ('list', 'gather')}
    for _ in range(ops):
        op = r.choice(['add', 'add', 'add', 'callback', 'errback', 'cancel', 'pause', 'unpause', 'chain', 'timeout', 'advance', 'advance', 'observe'])
        i = r.randrange(n)
        if op == 'add':
            prog.append(['add', i, r.choice(kinds(i)), r.choice(kinds(i))])
        elif op == 'pause':
            paused[i] += 1; prog.append(['pause', i])
        elif op == 'unpause':
            if paused[i] == 0: continue
            paused[i] -= 1; prog.append(['unpause', i])
        elif op == 'chain':
            if i == n - 1: continue
            j = r.randrange(i + 1, n)
            if j in lists: continue  # firing a gatherResults from outside: both fail, differently
            prog.append(['chain', i, j])
        elif op == 'timeout':
            prog.append(['timeout', i, r.choice([1, 2, 3]), r.random() < 0.3])
        elif op == 'advance':
            prog.append(['advance', r.choice([0, 1, 2])])
        else:
            if op in ('callback', 'errback') and i in lists: continue
            prog.append([op, i])
    return prog
seed = int(sys.argv[1]); print(json.dumps(gen(seed)))
