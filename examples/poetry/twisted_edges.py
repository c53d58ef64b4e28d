"""Twisted clients that leave the happy path, against our poetry and transform servers.

    /usr/bin/python3 twisted_edges.py BIN_DIR POEM_DIR

Starts our transform-server and poetry-servers (a slow one and one with a large poem)
and Twisted's own (twisted_servers.py) as the control, then checks, for both:
  - a request followed by a half-close (loseWriteConnection) still gets its reply;
  - clients that leave mid-poem (a clean close, an abort) cost the server nothing:
    it keeps running and the next client gets the whole poem;
  - a reader that stops reading (pauseProducing) for a while gets every byte once it
    resumes, and the server serves other clients meanwhile;
and our client 7.0 against Twisted transform servers whose reply comes one byte per
segment, is empty, or is malformed (leading zero, no comma, truncated): the bad ones
are "Cummingsify failed!" with the original poem kept.
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
        self.data = b""
        self.done = defer.Deferred()

    def connectionMade(self):
        if self.request is not None:
            self.transport.write(b"%d:%s," % (len(self.request), self.request))
            self.transport.loseWriteConnection()  # half-close: the reply must still come
        if self.pause:
            self.transport.pauseProducing()
            reactor.callLater(self.pause, self.transport.resumeProducing)

    def dataReceived(self, data):
        self.data += data
        if self.leave_after is not None and len(self.data) >= self.leave_after:
            self.leave_after = None
            if self.abort:
                self.transport.abortConnection()
            else:
                self.transport.loseConnection()

    def connectionLost(self, reason):
        self.done.callback(self.data)


def fetch(port, **kw):
    p = Collect(**kw)
    protocol.ClientCreator(reactor, lambda: p).connectTCP("127.0.0.1", port)
    return p.done


def unframe(data):
    head, _, rest = data.partition(b":")
    return rest[:int(head)] if head.isdigit() and rest.endswith(b",") else None


def start(argv):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    for word in p.stdout.readline().split():
        if word.rstrip(".").isdigit():
            return p, int(word.rstrip("."))
    raise RuntimeError(f"{argv[0]} did not say its port")


@defer.inlineCallbacks
def check(name, xform, slow, big, poem, big_poem, failures):
    def expect(what, ok):
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {what}")
        failures.append(None) if not ok else None

    reply = yield fetch(xform, request=b"cummingsify.HELLO There")
    expect("a half-closed request is answered", unframe(reply) == b"hello there")

    left = yield defer.gatherResults([fetch(slow, leave_after=40),
                                      fetch(slow, leave_after=40, abort=True)])
    expect("clients leaving mid-poem got a part", all(0 < len(d) < len(poem) for d in left))
    whole = yield fetch(slow)
    expect("the next client gets the whole poem", whole == poem)

    paused, other = yield defer.gatherResults([fetch(big, pause=0.5), fetch(big)])
    expect("a paused reader gets every byte", paused == big_poem)
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


def main(argv):
    bindir, poems = argv[1], argv[2] if len(argv) > 2 else HERE
    poem_path = os.path.join(poems, "fascination.txt")
    with open(poem_path, "rb") as f:
        poem = f.read()
    big = tempfile.NamedTemporaryFile(prefix="twisted_edges-", suffix=".txt")
    big_poem = bytes(range(256)) * (8 << 12)  # 8 MiB: more than the socket buffers hold
    big.write(big_poem)
    big.flush()
    twisted = [sys.executable, os.path.join(HERE, "twisted_servers.py")]
    servers = {}
    try:
        for name, argv_ in [
            ("ours xform", [os.path.join(bindir, "transform-server"), "--port", "0"]),
            ("ours slow", [os.path.join(bindir, "poetry-server"), "--num-bytes", "20",
                           "--delay", "0.01", poem_path]),
            ("ours big", [os.path.join(bindir, "poetry-server"), big.name]),
            ("twisted xform", twisted + ["xform"]),
            ("twisted slow", twisted + ["poetry", poem_path, "20", "0.01"]),
            ("twisted big", twisted + ["poetry", big.name]),
        ]:
            servers[name] = start(argv_)
        failures = []

        @defer.inlineCallbacks
        def run():
            try:
                for who in ("twisted", "ours"):
                    yield check(who, *(servers[f"{who} {k}"][1] for k in ("xform", "slow", "big")),
                                poem, big_poem, failures)
                yield check_client(bindir, servers["twisted slow"][1], poem, failures)
            except Exception as e:  # noqa: BLE001 - report anything and stop
                print("FAIL", repr(e))
                failures.append(e)
            reactor.stop()

        reactor.callWhenRunning(run)
        reactor.run()
        for name, (p, _) in servers.items():
            if p.poll() is not None:
                print(f"FAIL {name} server exited with {p.returncode}")
                failures.append(name)
    finally:
        for p, _ in servers.values():
            p.kill()
            p.wait()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
