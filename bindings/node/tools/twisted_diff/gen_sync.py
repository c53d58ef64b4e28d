# A random program for diff.sh: DeferredLock/Semaphore/Queue operations (JSON on stdout).
import json, random, sys
r = random.Random(int(sys.argv[1]))
prog = []
n = 0
for _ in range(25):
    op = r.choice(['lacq', 'lrel', 'sacq', 'srel', 'get', 'put', 'cancel', 'cancel', 'lrun', 'srun'])
    if op in ('lacq', 'sacq', 'get', 'lrun', 'srun'):
        prog.append([op, n, r.choice(['keep', 'keep', 'release'])]); n += 1
    elif op == 'cancel':
        if n: prog.append(['cancel', r.randrange(n)])
    else:
        prog.append([op])
print(json.dumps(prog))
