"""Twisted's peers for bench/bench_net.c, doing the same work (see its
header): tcp_rtt (an Echo protocol and a pinging client on one reactor),
tcp_throughput (a pull producer writing 64 KiB chunks, the transport reading
64 KiB at a time), tcp_accept (connect + accept + close in a row, both ends
closing).  One run per process (a reactor runs once), one JSON line:
{"bench", "impl": "twisted", "n", "ns_per_op", "cpu_ns_per_op"} or, for
throughput, "mb_per_s" and "cpu_mb_per_s".

    /usr/bin/python3 bench/twisted_net_bench.py BENCH N
"""
import json
import resource
import sys
import time


def clock():
    """(wall, CPU) seconds; CPU is user + system of this process."""
    u = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), u.ru_utime + u.ru_stime

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
            result["t0"] = clock()
            self.transport.write(b"x")

        def dataReceived(self, data):
            self.count += 1
            if self.count < n:
                self.transport.write(b"x")
            else:
                result["t1"] = clock()
                reactor.stop()

    result = {}
    port = reactor.listenTCP(0, protocol.Factory.forProtocol(Echo), interface="127.0.0.1")
    protocol.ClientCreator(reactor, Ping).connectTCP("127.0.0.1", port.getHost().port)
    reactor.run()
    return result["t0"], result["t1"]


def throughput(n):
    from twisted.internet import protocol, reactor
    from zope.interface import implementer
    from twisted.internet.interfaces import IPullProducer

    class Count(protocol.Protocol):
        got = 0

        def dataReceived(self, data):
            self.got += len(data)
            if self.got >= n:
                result["t1"] = clock()
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
            self.transport.setTcpNoDelay(True)
            result["t0"] = clock()
            self.transport.registerProducer(Producer(self.transport), False)

    result = {}
    port = reactor.listenTCP(0, protocol.Factory.forProtocol(Count), interface="127.0.0.1")
    protocol.ClientCreator(reactor, Writer).connectTCP("127.0.0.1", port.getHost().port)
    reactor.run()
    return result["t0"], result["t1"]


def accept(n):
    from twisted.internet import protocol, reactor

    class Drop(protocol.Protocol):
        def connectionMade(self):
            self.transport.loseConnection()

    port = reactor.listenTCP(0, protocol.Factory.forProtocol(Drop), interface="127.0.0.1")
    creator = protocol.ClientCreator(reactor, Drop)
    result = {"count": 0}

    def again(_=None):
        if result["count"] == n:
            result["t1"] = clock()
            reactor.stop()
            return
        result["count"] += 1
        creator.connectTCP("127.0.0.1", port.getHost().port).addBoth(again)

    def start():
        result["t0"] = clock()
        again()

    reactor.callWhenRunning(start)
    reactor.run()
    return result["t0"], result["t1"]


def main():
    bench, n = sys.argv[1], int(sys.argv[2])
    run = {"tcp_rtt": rtt, "tcp_throughput": throughput, "tcp_accept": accept}[bench]
    (w0, c0), (w1, c1) = run(n)
    if bench == "tcp_throughput":
        row = {"mb_per_s": round(n / (w1 - w0) / 1e6, 1),
               "cpu_mb_per_s": round(n / max(c1 - c0, 1e-9) / 1e6, 1)}
    else:
        row = {"ns_per_op": round((w1 - w0) / n * 1e9, 1),
               "cpu_ns_per_op": round((c1 - c0) / n * 1e9, 1)}
    print(json.dumps({"bench": bench, "impl": "twisted", "n": n, **row}), flush=True)


if __name__ == "__main__":
    main()
