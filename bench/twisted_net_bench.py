"""Twisted's peers for bench/bench_net.c: tcp_rtt (an Echo protocol and a
pinging client on one reactor), tcp_throughput (a pull producer writing 64 KiB
chunks), tcp_accept (connect + accept + close in a row).  One JSON line each:
{"bench", "impl": "twisted", "n", "ns_per_op"[, "mb_per_s"]}.

    /usr/bin/python3 bench/twisted_net_bench.py RTT_N THROUGHPUT_BYTES ACCEPT_N
Each runs in a child process of its own (a reactor runs once)."""
import json
import subprocess
import sys
import time

CHUNK = 64 * 1024


def rtt(n):
    from twisted.internet import protocol, reactor

    class Echo(protocol.Protocol):
        def dataReceived(self, data):
            self.transport.write(data)

    class Ping(protocol.Protocol):
        count = 0

        def connectionMade(self):
            self.transport.setTcpNoDelay(True)
            result["t0"] = time.perf_counter()
            self.transport.write(b"x")

        def dataReceived(self, data):
            self.count += 1
            if self.count < n:
                self.transport.write(b"x")
            else:
                result["t1"] = time.perf_counter()
                reactor.stop()

    result = {}
    port = reactor.listenTCP(0, protocol.Factory.forProtocol(Echo), interface="127.0.0.1")
    protocol.ClientCreator(reactor, Ping).connectTCP("127.0.0.1", port.getHost().port)
    reactor.run()
    return result["t1"] - result["t0"]


def throughput(n):
    from twisted.internet import protocol, reactor
    from zope.interface import implementer
    from twisted.internet.interfaces import IPullProducer

    class Count(protocol.Protocol):
        got = 0

        def dataReceived(self, data):
            self.got += len(data)
            if self.got >= n:
                result["t1"] = time.perf_counter()
                reactor.stop()

    chunk = b"z" * CHUNK

    @implementer(IPullProducer)
    class Producer:
        def __init__(self, transport):
            self.transport, self.sent = transport, 0

        def resumeProducing(self):
            if self.sent < n:
                self.transport.write(chunk)
                self.sent += CHUNK
            else:
                self.transport.unregisterProducer()

        def stopProducing(self):
            pass

    class Writer(protocol.Protocol):
        def connectionMade(self):
            result["t0"] = time.perf_counter()
            self.transport.registerProducer(Producer(self.transport), False)

    result = {}
    port = reactor.listenTCP(0, protocol.Factory.forProtocol(Count), interface="127.0.0.1")
    protocol.ClientCreator(reactor, Writer).connectTCP("127.0.0.1", port.getHost().port)
    reactor.run()
    return result["t1"] - result["t0"]


def accept(n):
    from twisted.internet import protocol, reactor

    class Drop(protocol.Protocol):
        def connectionMade(self):
            self.transport.loseConnection()

    port = reactor.listenTCP(0, protocol.Factory.forProtocol(protocol.Protocol),
                             interface="127.0.0.1")
    creator = protocol.ClientCreator(reactor, Drop)
    result = {"count": 0}

    def again(_=None):
        if result["count"] == n:
            result["t1"] = time.perf_counter()
            reactor.stop()
            return
        result["count"] += 1
        creator.connectTCP("127.0.0.1", port.getHost().port).addBoth(again)

    def start():
        result["t0"] = time.perf_counter()
        again()

    reactor.callWhenRunning(start)
    reactor.run()
    return result["t1"] - result["t0"]


def child(name, n):
    secs = {"rtt": rtt, "throughput": throughput, "accept": accept}[name](n)
    print(secs)


def main():
    if sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
        return
    plan = [("tcp_rtt", "rtt", int(sys.argv[1])),
            ("tcp_throughput", "throughput", int(sys.argv[2])),
            ("tcp_accept", "accept", int(sys.argv[3]))]
    for bench, name, n in plan:
        best = min(float(subprocess.check_output([sys.executable, __file__, "--child", name,
                                                  str(n)])) for _ in range(3))
        row = {"bench": bench, "impl": "twisted", "n": n, "ns_per_op": round(best / n * 1e9, 1)}
        if name == "throughput":
            row = {"bench": bench, "impl": "twisted", "n": n, "ns_per_op": 0,
                   "mb_per_s": round(n / best / 1e6, 1)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
