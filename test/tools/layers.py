#!/usr/bin/env python3
"""test/tools/layers.py [-v] [--server-include DIR] OBJECT... — check the
module graph of mantis.so.

Reads the symbols each object file defines and uses (nm) and fails, naming
the symbols, when the graph breaks one of src/README.md's rules:
  - no circle: no two object files reach each other through calls;
  - every mantis_* symbol an object file uses is defined by one of them;
  - src/common/ uses nothing of mantis;
  - src/store/ uses nothing of src/persist/, src/replication/, src/watch/,
    src/api/;
  - src/watch/ (the change feed) uses nothing of the workers nor of src/api/;
  - the two workers never call each other: src/persist/ and
    src/replication/ use nothing of each other, nor of src/api/.
Prints one line per object file ("file -> what it uses") with -v.
Exit status 0 when every rule holds, 1 otherwise.
"""
import subprocess
import sys

# folder -> whether a module of that folder may not use module t
FORBIDDEN = {
    'common/': lambda t: not t.startswith('common/'),
    'store/': lambda t: t.startswith(('persist/', 'replication/', 'watch/', 'api/')),
    'watch/': lambda t: t.startswith(('persist/', 'replication/', 'api/')),
    'persist/': lambda t: t.startswith(('replication/', 'api/')),
    'replication/': lambda t: t.startswith(('persist/', 'api/')),
}


def module(path):
    return path.rsplit('src/', 1)[-1][:-2]     # .../src/store/read.o -> store/read


def shadowed_headers(src_dir, server_include):
    """Our headers that would hide one of the server's: with -I src first,
    "common/x.h" or "replication/x.h" of ours wins over the server's own
    header of that name, for every file that includes it (the server's
    headers too)."""
    import glob
    import os
    found = []
    for h in sorted(glob.glob(os.path.join(src_dir, '*', '*.h')) +
                    glob.glob(os.path.join(src_dir, '*.h'))):
        rel = os.path.relpath(h, src_dir)
        if os.path.exists(os.path.join(server_include, rel)):
            found.append(rel)
    return found


def symbols(obj):
    out = subprocess.run(['nm', obj], capture_output=True, text=True,
                         check=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in 'TDBRC':
            defined.add(f[2])
        elif len(f) == 2 and f[0] == 'U':
            used.add(f[1])
    return defined, used


def main(argv):
    verbose = '-v' in argv
    argv = [a for a in argv if a != '-v']
    server_include = None
    if argv[:1] == ['--server-include']:
        server_include, argv = argv[1], argv[2:]
    objs = argv
    owner, used = {}, {}
    for o in objs:
        d, u = symbols(o)
        used[module(o)] = u
        for s in d:
            owner[s] = module(o)
    edges = {m: {} for m in used}      # m -> {module it uses: [symbols]}
    for m, u in used.items():
        for s in sorted(u):
            if s in owner and owner[s] != m:
                edges[m].setdefault(owner[s], []).append(s)
    problems = []
    # a function of ours called and defined nowhere: the library would
    # build, and fail to load ("undefined symbol") only when a server starts
    for m, u in sorted(used.items()):
        missing = sorted(s for s in u if s.startswith('mantis_') and s not in owner)
        if missing:
            problems.append('%s uses what no file defines: %s' % (m, ', '.join(missing)))
    for m, to in sorted(edges.items()):
        if verbose:
            print(m, '->', ' '.join(sorted(to)))
        for layer, banned in FORBIDDEN.items():
            if not m.startswith(layer):
                continue
            for t, syms in sorted(to.items()):
                if banned(t):
                    problems.append('%s uses %s: %s' % (m, t, ', '.join(syms)))
    # circles: strongly connected components of more than one module
    index, low, stack, on, counter = {}, {}, [], set(), [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                problems.append('circle: ' + ' -> '.join(sorted(comp)))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    if server_include:
        src_dir = objs[0].rsplit('src/', 1)[0] + 'src' if objs else 'src'
        for h in shadowed_headers(src_dir, server_include):
            problems.append('src/%s hides the server\'s header of that name' % h)
    for p in problems:
        print(p)
    print('%d object files, %d uses between them, %d problems'
          % (len(edges), sum(len(t) for t in edges.values()), len(problems)))
    return 1 if problems or not objs else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
