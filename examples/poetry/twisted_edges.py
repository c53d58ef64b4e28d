"""Twisted clients that leave the happy path, against our poetry and transform servers.

    /usr/bin/python3 twisted_edges.py BIN_DIR [POEM_DIR]

Starts our transform-server and poetry-servers (a slow one, a plain one, one with a
24 MiB poem) and, in this process, Twisted's own (twisted_servers.py) as the reference
(shown, not checked: some of their answers depend on timing). Checks, with Twisted
clients, that
  - a request followed by a half-close (loseWriteConnection) still gets its reply;
  - clients that leave mid-poem (a clean close, an abort) cost the server nothing:
    it keeps running and the next client gets the whole poem;
  - a reader that stops reading (pauseProducing) for a while gets every byte once it
    resumes, our server (--num-bytes) does not queue the poem for it meanwhile (flow
    control: its resident memory stays put), and serves another client beside it;
and our client 7.0 against Twisted transform servers whose reply comes one byte per
segment, is empty, or is malformed (leading zero, no comma, truncated): the bad ones
are "Cummingsify failed!" with the original poem kept; and against a Twisted poetry
server that resets the connection mid-poem: the download failed.
Exit 77 (skipped) without Twisted."""
import os
import subprocess
import sys
import tempfile

try:
    from twisted.internet import defer, protocol, reactor
    from twisted.protocols.basic import NetstringReceiver
except ImportError:
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))


class Collect(protocol.Protocol):
    """Reads everything; optionally leaves after `leave_after` bytes, or pauses."""

    def __init__(self, leave_after=None, abort=False, pause=0.0, request=None):
        self.leave_after, self.abort, self.pause, self.request = leave_after, abort, pause, request
        self.chunks, self.got = [], 0
        self.done = defer.Deferred()

    def connectionMade(self):
        if self.request is not None:
            self.transport.write(b"%d:%s," % (len(self.request), self.request))
            self.transport.loseWriteConnection()  # half-close: the reply must still come
        if self.pause:
            self.transport.pauseProducing()
            reactor.callLater(self.pause, self.transport.resumeProducing)

    def dataReceived(self, data):
        self.chunks.append(data)
        self.got += len(data)
        if self.leave_after is not None and self.got >= self.leave_after:
            self.leave_after = None
            if self.abort:
                self.transport.abortConnection()
            else:
                self.transport.loseConnection()

    def connectionLost(self, reason):
        self.done.callback(b"".join(self.chunks))


def fetch(port, **kw):
    p = Collect(**kw)
    protocol.ClientCreator(reactor, lambda: p).connectTCP("127.0.0.1", port)
    return p.done


def unframe(data):
    head, _, rest = data.partition(b":")
    return rest[:int(head)] if head.isdigit() and rest.endswith(b",") else None


def port_of(p):
    for word in p.stdout.readline().split():
        if word.rstrip(".").isdigit():
            return int(word.rstrip("."))
    raise RuntimeError(f"{p.args[0]} did not say its port")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


@defer.inlineCallbacks
def check(name, xform, slow, big, poem, big_poem, failures, big_pid=None):
    def expect(what, ok):
        # Twisted's servers are the reference, not under test: their answers are
        # shown (some depend on timing: a FIN read with the request drops the reply).
        if name == "twisted":
            print(f"{'    ' if ok else 'not '} Twisted: {what}")
        else:
            print(f"{'ok  ' if ok else 'FAIL'} ours: {what}")
            failures.append(None) if not ok else None

    reply = yield fetch(xform, request=b"cummingsify.HELLO There")
    expect("a half-closed request is answered", unframe(reply) == b"hello there")

    left = yield defer.gatherResults([fetch(slow, leave_after=40),
                                      fetch(slow, leave_after=40, abort=True)])
    expect("clients leaving mid-poem got a part", all(0 < len(d) < len(poem) for d in left))
    whole = yield fetch(slow)
    expect("the next client gets the whole poem", whole == poem)

    if name == "twisted":  # Twisted's writes are all buffered at once: nothing to compare
        return
    # Alone first, so what the server holds meanwhile is that reader's alone.
    before = rss_kib(big_pid) if big_pid else 0
    during = []
    if big_pid:
        reactor.callLater(0.25, lambda: during.append(rss_kib(big_pid)))
    paused = yield fetch(big, pause=0.3)
    expect("a paused reader gets every byte", paused == big_poem)
    if big_pid:
        grew = during[0] - before
        expect(f"the server did not queue the poem for it (+{grew} KiB)",
               grew < len(big_poem) // 1024 // 2)
        if grew >= len(big_poem) // 1024 // 2:
            print(f"   resident {before} KiB before, {during[0]} KiB while paused")
    paused, other = yield defer.gatherResults([fetch(big, pause=0.3), fetch(big)])
    expect("a paused reader beside another gets every byte", paused == big_poem)
    expect("a client beside it gets every byte", other == big_poem)


class OddTransform(NetstringReceiver):
    """A transform server answering with the factory's `reply` bytes, one byte per
    segment (TCP_NODELAY, a millisecond apart), then closing."""

    def stringReceived(self, request):
        self.transport.setTcpNoDelay(True)
        self.left = self.factory.reply(request.partition(b".")[2].lower())
        self.send_some()

    def send_some(self):
        if self.left:
            self.transport.write(self.left[:1])
            self.left = self.left[1:]
            reactor.callLater(0.001, self.send_some)
        else:
            self.transport.loseConnection()


def odd_transform(reply):
    f = protocol.Factory.forProtocol(OddTransform)
    f.reply = reply
    return reactor.listenTCP(0, f, interface="127.0.0.1").getHost().port


@defer.inlineCallbacks
def check_client(bindir, poem_port, poem, failures):
    """Our client 7.0 against Twisted transform servers that answer oddly."""
    from twisted.internet.utils import getProcessOutputAndValue
    cases = [  # what, the reply to poem p, the poem the client prints
        ("a reply split one byte per segment", lambda p: b"%d:%s," % (len(p), p), poem.lower()),
        ("an empty reply", lambda p: b"0:,", b""),
        ("a reply with a leading zero", lambda p: b"0%d:%s," % (len(p), p), poem),
        ("a reply without its comma", lambda p: b"%d:%s;" % (len(p), p), poem),
        ("a truncated reply", lambda p: b"%d:%s" % (len(p) + 5, p), poem),
    ]
    for what, reply, want in cases:
        port = odd_transform(reply)
        out, err, rc = yield getProcessOutputAndValue(
            os.path.join(bindir, "poetry-client"), [str(port), str(poem_port)], env=os.environ)
        failed = want == poem  # the original kept: the transform failed
        ok = rc == 0 and out == want + b"\n" and (b"Cummingsify failed!" in err) == failed
        print(f"{'ok  ' if ok else 'FAIL'} our client, {what}: "
              + ("Cummingsify failed, the original kept" if failed else "transformed"))
        if not ok:
            print(rc, out, err)
            failures.append(what)

    # A Twisted poetry server that resets the connection halfway through the poem.
    class Reset(protocol.Protocol):
        def connectionMade(self):
            self.transport.write(poem[:len(poem) // 2])
            reactor.callLater(0.05, self.transport.abortConnection)

    port = reactor.listenTCP(0, protocol.Factory.forProtocol(Reset),
                             interface="127.0.0.1").getHost().port
    out, err, rc = yield getProcessOutputAndValue(  # (no transform is asked for)
        os.path.join(bindir, "poetry-client"), [str(poem_port), str(port)], env=os.environ)
    ok = rc == 0 and b"The poem download failed: connection reset" in err and out == b""
    print(f"{'ok  ' if ok else 'FAIL'} our client, a poem cut by a reset: the download failed")
    if not ok:
        print(rc, out, err)
        failures.append("reset")


def main(argv):
    bindir, poems = argv[1], argv[2] if len(argv) > 2 else HERE
    poem_path = os.path.join(poems, "fascination.txt")
    with open(poem_path, "rb") as f:
        poem = f.read()
    big = tempfile.NamedTemporaryFile(prefix="twisted_edges-", suffix=".txt")
    # 24 MiB: more than loopback's socket buffers hold (about 10 MiB), so a paused
    # reader leaves the rest with the server.
    big_poem = bytes(range(256)) * (24 << 12)
    big.write(big_poem)
    big.flush()
    servers, procs = {}, []
    try:
        for name, argv_ in [
            ("ours xform", [os.path.join(bindir, "transform-server"), "--port", "0"]),
            ("ours slow", [os.path.join(bindir, "poetry-server"), "--num-bytes", "20",
                           "--delay", "0.01", poem_path]),
            ("ours poem", [os.path.join(bindir, "poetry-server"), poem_path]),
            ("ours big", [os.path.join(bindir, "poetry-server"), "--num-bytes", "65536",
                          big.name]),
        ]:
            procs.append(subprocess.Popen(argv_, stdout=subprocess.PIPE, text=True))
            servers[name] = procs[-1]
        servers = {name: (p, port_of(p)) for name, p in servers.items()}
        # Twisted's, from twisted_servers.py, in this process (starting Python
        # processes is what takes time here).
        sys.path.insert(0, HERE)
        import twisted_servers as ts
        for name, factory in [("twisted xform", protocol.Factory.forProtocol(ts.Transform)),
                              ("twisted slow", ts.poetry_factory(poem, 20, 0.01))]:
            servers[name] = (None, reactor.listenTCP(0, factory, interface="127.0.0.1")
                             .getHost().port)
        failures = []

        @defer.inlineCallbacks
        def run():
            try:
                for who in ("twisted", "ours"):
                    yield check(who, *(servers.get(f"{who} {k}", (0, 0))[1]
                                       for k in ("xform", "slow", "big")),
                                poem, big_poem, failures,
                                servers["ours big"][0].pid if who == "ours" else None)
                yield check_client(bindir, servers["ours poem"][1], poem, failures)
            except Exception as e:  # noqa: BLE001 - report anything and stop
                print("FAIL", repr(e))
                failures.append(e)
            reactor.stop()

        reactor.callWhenRunning(run)
        reactor.run()
        for name, (p, _) in servers.items():
            if p is not None and p.poll() is not None:
                print(f"FAIL {name} server exited with {p.returncode}")
                failures.append(name)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
