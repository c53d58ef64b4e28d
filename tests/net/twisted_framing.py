"""Our framing (src/net/framing.c) against Twisted's, byte for byte, over real sockets.

    /usr/bin/python3 twisted_framing.py FRAME_ECHO

Starts FRAME_ECHO (tests/net/frame_echo.c: lines and netstrings, push and pull, each
frame echoed back as a netstring) and, in a second process (this script with
--control), Twisted's own LineReceiver and NetstringReceiver doing the same.  Each case sends the same segments (one write each,
TCP_NODELAY, a few milliseconds apart: a delimiter or length split across segments
really arrives split) to Twisted and to our four servers, then records the frames
echoed back and whether the server closed the connection.  Ours must match Twisted's,
except the differences we keep on purpose (docs/net.md, "Framing"), which are checked
as such.  Exit 77 (skipped) without Twisted."""
import subprocess
import sys

try:
    from twisted.internet import defer, protocol, reactor
    from twisted.protocols.basic import LineReceiver, NetstringReceiver
except ImportError:
    sys.exit(77)

MAX_LINE = 16
MAX_NS = 20
GAP = 0.004  # between segments
QUIET = 0.4  # after the last segment: the server has answered or closed by then


class LinesCRLF(LineReceiver):  # Twisted's default delimiter
    MAX_LENGTH = MAX_LINE

    def lineReceived(self, line):
        self.transport.write(b"%d:%s," % (len(line), line))


class LinesLF(LinesCRLF):
    delimiter = b"\n"


class Netstrings(NetstringReceiver):
    MAX_LENGTH = MAX_NS

    def stringReceived(self, string):
        self.sendString(string)


class LinesOnce(LinesCRLF):  # close after the first line's answer
    def lineReceived(self, line):
        LinesCRLF.lineReceived(self, line)
        self.transport.loseConnection()


class NetstringsOnce(Netstrings):
    def stringReceived(self, string):
        self.sendString(string)
        self.transport.loseConnection()


HALF_CLOSE = object()  # a segment that is a half-close (Twisted's loseWriteConnection)


def bytewise(data):
    return [data[i:i + 1] for i in range(len(data))]


def split_netstrings(data):
    frames = []
    while data:
        head, colon, rest = data.partition(b":")
        if not colon or len(rest) < int(head) + 1:
            frames.append(("partial", data))
            break
        n = int(head)
        frames.append(rest[:n])
        data = rest[n + 1:]
    return frames


# name, framing, Twisted's server for it, segments
CASES = [
    ("ns one", "netstrings", Netstrings, [b"5:hello,"]),
    ("ns bytewise", "netstrings", Netstrings, bytewise(b"5:hello,3:abc,")),
    ("ns empty", "netstrings", Netstrings, [b"0:,"]),
    ("ns empty bytewise", "netstrings", Netstrings, bytewise(b"0:,0:,1:z,")),
    ("ns many in one segment", "netstrings", Netstrings, [b"1:a,2:bb,0:,3:ccc," * 5]),
    ("ns leading zero", "netstrings", Netstrings, [b"01:a,"]),
    ("ns leading zero bytewise", "netstrings", Netstrings, bytewise(b"1:a,01:a,")),
    ("ns non-digit length", "netstrings", Netstrings, [b"1x:a,"]),
    ("ns non-digit first", "netstrings", Netstrings, [b"x:a,"]),
    ("ns no length", "netstrings", Netstrings, [b":a,"]),
    ("ns negative", "netstrings", Netstrings, [b"-1:a,"]),
    ("ns space", "netstrings", Netstrings, [b" 1:a,"]),
    ("ns missing comma", "netstrings", Netstrings, [b"1:ab"]),
    ("ns missing comma bytewise", "netstrings", Netstrings, bytewise(b"2:ok,3:abc;")),
    ("ns frames then garbage", "netstrings", Netstrings, [b"1:a,2:bb,x"]),
    ("ns at max", "netstrings", Netstrings, [b"20:" + b"m" * 20 + b","]),
    ("ns at max bytewise", "netstrings", Netstrings, bytewise(b"20:" + b"m" * 20 + b",")),
    ("ns over max", "netstrings", Netstrings, [b"21:" + b"m" * 21 + b","]),
    ("ns over max bytewise", "netstrings", Netstrings, bytewise(b"21:" + b"m" * 21 + b",")),
    ("ns huge length", "netstrings", Netstrings, [b"99999999999999999999999:"]),
    ("ns incomplete", "netstrings", Netstrings, [b"5:hel"]),
    ("ns incomplete length", "netstrings", Netstrings, [b"1:a,12"]),
    ("ns half-close after frames", "netstrings", Netstrings, [b"5:hello,", b"0:,", HALF_CLOSE]),
    ("ns half-close mid-frame", "netstrings", Netstrings, [b"1:a,5:hel", HALF_CLOSE]),
    ("lines crlf", "lines", LinesCRLF, [b"hello\r\nworld\r\n"]),
    ("lines crlf bytewise", "lines", LinesCRLF, bytewise(b"hello\r\n\r\nworld\r\n")),
    ("lines delimiter split", "lines", LinesCRLF, [b"hello\r", b"\n", b"x\r", b"\ny\r\n"]),
    ("lines many in one segment", "lines", LinesCRLF, [b"a\r\nbb\r\n\r\nccc\r\n" * 5]),
    ("lines cr inside", "lines", LinesCRLF, [b"a\rb\r\n"]),
    ("lines at max", "lines", LinesCRLF, [b"x" * 16 + b"\r\n"]),
    ("lines at max bytewise", "lines", LinesCRLF, bytewise(b"x" * 16 + b"\r\n")),
    ("lines over max", "lines", LinesCRLF, [b"x" * 17 + b"\r\n"]),
    ("lines over max bytewise", "lines", LinesCRLF, bytewise(b"ok\r\n" + b"x" * 17 + b"\r\n")),
    ("lines max+1 undelimited", "lines", LinesCRLF, [b"x" * 17]),
    ("lines max+2 undelimited", "lines", LinesCRLF, [b"x" * 18]),
    ("lines then too long", "lines", LinesCRLF, [b"ok\r\n" + b"y" * 40]),
    ("lines half-close", "lines", LinesCRLF, [b"a\r\nb", HALF_CLOSE]),
    ("lines lf", "lines", LinesLF, [b"hello\nworld\n"]),
    ("lines lf bytewise", "lines", LinesLF, bytewise(b"hello\n\nworld\n")),
    ("lines lf at max", "lines", LinesLF, [b"x" * 16 + b"\n"]),
    ("lines lf over max", "lines", LinesLF, [b"x" * 17 + b"\n"]),
    # Deliberate differences (docs/net.md): we end a line at "\n" and drop a "\r"
    # before it, so "\n" alone ends a line for us but not for LineReceiver's
    # default "\r\n", and a "\r\n" line of exactly the maximum is not too long.
    ("lines lf vs crlf receiver", "lines", LinesCRLF, [b"a\nb\r\n"]),
    ("lines lf receiver sees cr", "lines", LinesLF, [b"x" * 16 + b"\r\n"]),
    # Servers that close after their first answer ("once"), sent two frames at once.
    ("lines close after the first", "lines once", LinesOnce, [b"a\r\nb\r\n"]),
    ("ns close after the first", "netstrings once", NetstringsOnce, [b"1:a,1:b,"]),
]

# What we do instead, for the deliberate differences: (frames, closed).
OURS = {
    "lines lf vs crlf receiver": ([b"a", b"b"], False),
    "lines lf receiver sees cr": ([b"x" * 16], False),
    # A peer's EOF closes a stream that did not ask for half-close (read_eof) only
    # after the replies already written are out; Twisted's connectionLost for a
    # protocol that is not IHalfCloseableProtocol drops them when the EOF is read in
    # the same pass as the request (so its answer here depends on timing).
    "ns half-close after frames": ([b"hello", b""], True),
    "ns half-close mid-frame": ([b"a"], True),
    "lines half-close": ([b"a"], True),
    # Once the server has asked to close, no more frames are delivered: LineReceiver
    # stops too, but NetstringReceiver goes on with the frames of the same segment.
    "ns close after the first": ([b"a"], True),
}


class Probe(protocol.Protocol):
    def __init__(self, segments):
        self.segments = list(segments)
        self.data = b""
        self.call = None
        self.done = defer.Deferred()

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)
        self.send_next()

    def send_next(self):
        if self.segments:
            segment = self.segments.pop(0)
            if segment is HALF_CLOSE:
                self.transport.loseWriteConnection()
            else:
                self.transport.write(segment)
            self.call = reactor.callLater(GAP, self.send_next)
        else:
            self.call = reactor.callLater(QUIET, self.finish, False)

    def dataReceived(self, data):
        self.data += data

    def connectionLost(self, reason):
        self.finish(True)

    def finish(self, closed):
        if self.call is not None and self.call.active():
            self.call.cancel()
        if not self.done.called:
            self.done.callback((split_netstrings(self.data), closed))
            if not closed:
                self.transport.abortConnection()


def probe(port, segments):
    p = Probe(segments)
    protocol.ClientCreator(reactor, lambda: p).connectTCP("127.0.0.1", port)
    return p.done


def normalize(framing, server, result):
    frames, closed = result
    if server is LinesLF:  # we drop the "\r" of "\r\n": so does the comparison
        frames = [f[:-1] if isinstance(f, bytes) and f.endswith(b"\r") else f for f in frames]
    return frames, closed


CONTROLS = (LinesCRLF, LinesLF, Netstrings, LinesOnce, NetstringsOnce)


def serve_controls():
    """Twisted's servers, in a process of their own as ours are."""
    for cls in CONTROLS:
        port = reactor.listenTCP(0, protocol.Factory.forProtocol(cls), interface="127.0.0.1")
        print(f"{cls.__name__} port {port.getHost().port}")
    print("ready", flush=True)
    reactor.run()


@defer.inlineCallbacks
def run(ports):
    jobs = []
    for name, framing, server, segments in CASES:
        jobs.append(probe(ports[server.__name__], segments))
        base, *once = framing.split()
        for mode in ("push", "pull"):
            jobs.append(probe(ports[f"{base}-{mode}" + ("-once" if once else "")], segments))
    results = yield defer.gatherResults(jobs)
    failures = 0
    for i, (name, framing, server, segments) in enumerate(CASES):
        twisted = normalize(framing, server, results[3 * i])
        want = OURS.get(name, twisted)
        for j, mode in enumerate(("push", "pull")):
            got = results[3 * i + 1 + j]
            ok = got == want
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name} ({mode}): ours {got}"
                  + ("" if ok else f", want {want}")
                  + (f" (Twisted: {twisted})" if name in OURS else ""))
    return failures


def start(argv, ports):
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    for line in server.stdout:
        if line.strip() == "ready":
            break
        name, _, port = line.split()
        ports[name] = int(port)
    return server


def main(argv):
    if argv[1:] == ["--control"]:
        return serve_controls()
    ports = {}
    servers = [start([argv[1], str(MAX_LINE), str(MAX_NS)], ports),
               start([sys.executable, __file__, "--control"], ports)]
    try:
        outcome = []

        def done(failures):
            outcome.append(failures)
            reactor.stop()

        def crashed(failure):
            outcome.append(failure)
            reactor.stop()

        reactor.callWhenRunning(lambda: run(ports).addCallbacks(done, crashed))
        reactor.run()
        for server in servers:
            if server.poll() is not None:
                print(f"{server.args[0]} exited with {server.returncode}")
                return 1
    finally:
        for server in servers:
            server.kill()
            server.wait()
    if not outcome or not isinstance(outcome[0], int):
        print(outcome[0] if outcome else "no result")
        return 1
    print(f"{outcome[0]} failed of {2 * len(CASES)}")
    return 1 if outcome[0] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
