"""Poetry client 7.0 on Twisted, the peer of examples/poetry/poetry-client.c in
bench/lang/net's poetry row: the same command line and the same work (one
inlineCallbacks coroutine per server address: download the poem, send it to
the transform server as one netstring "cummingsify.<poem>", keep the original
if that fails, print it; stop when every address was heard from).

    /usr/bin/python3 bench/twisted_poetry_client.py XFORM_PORT PORT...
"""
import sys

from twisted.internet import defer, protocol, reactor
from twisted.protocols.basic import NetstringReceiver

HOST = "127.0.0.1"


class Download(protocol.Protocol):
    def connectionMade(self):
        self.parts = []

    def dataReceived(self, data):
        self.parts.append(data)

    def connectionLost(self, reason):
        self.factory.finish(b"".join(self.parts))


class Transform(NetstringReceiver):
    def connectionMade(self):
        self.sendString(self.factory.request)

    def stringReceived(self, reply):
        self.factory.finish(reply)
        self.transport.loseConnection()

    def connectionLost(self, reason):
        self.factory.fail(reason)


class OneShot(protocol.ClientFactory):
    """Connects once; its deferred fires with the protocol's result."""

    def __init__(self, proto, request=None):
        self.protocol, self.request, self.deferred = proto, request, defer.Deferred()

    def finish(self, value):
        if not self.deferred.called:
            self.deferred.callback(value)

    def fail(self, reason):
        if not self.deferred.called:
            self.deferred.errback(reason)

    def clientConnectionFailed(self, connector, reason):
        self.fail(reason)


def fetch(port, factory):
    reactor.connectTCP(HOST, port, factory)
    return factory.deferred


@defer.inlineCallbacks
def get_transformed_poem(xform_port, port):
    try:
        poem = yield fetch(port, OneShot(Download))
    except Exception as err:
        print("The poem download failed:", err, file=sys.stderr)
        raise
    try:
        poem = yield fetch(xform_port, OneShot(Transform, b"cummingsify." + poem))
    except Exception:
        print("Cummingsify failed!", file=sys.stderr)
    return poem


def main():
    xform_port, ports = int(sys.argv[1]), [int(p) for p in sys.argv[2:]]
    left = [len(ports)]

    def got_poem(poem):
        sys.stdout.write(poem.decode("utf-8", "replace") + "\n")

    def poem_done(_):
        left[0] -= 1
        if left[0] == 0:
            reactor.stop()

    for port in ports:
        d = get_transformed_poem(xform_port, port)
        d.addCallbacks(got_poem, lambda _: None)
        d.addBoth(poem_done)
    reactor.run()


if __name__ == "__main__":
    main()
