"""Interoperability check: Twisted's own protocols against our servers.
A NetstringReceiver sends "cummingsify.<poem>" to our transform server, and
a plain Protocol downloads from our poetry server; prints what came back.

    /usr/bin/python3 twisted_peer.py XFORM_PORT POETRY_PORT"""
import sys

from twisted.internet import defer, protocol, reactor
from twisted.protocols.basic import NetstringReceiver


class Xform(NetstringReceiver):
    def connectionMade(self):
        self.sendString(b"cummingsify.HELLO FROM TWISTED")

    def stringReceived(self, s):
        self.factory.done.callback(s)
        self.transport.loseConnection()


class Download(protocol.Protocol):
    def connectionMade(self):
        self.poem = b""

    def dataReceived(self, data):
        self.poem += data

    def connectionLost(self, reason):
        self.factory.done.callback(self.poem)


def fetch(proto, port):
    f = protocol.ClientFactory.forProtocol(proto)
    f.done = defer.Deferred()
    reactor.connectTCP("127.0.0.1", port, f)
    return f.done


@defer.inlineCallbacks
def main(xform_port, poetry_port):
    try:
        reply = yield fetch(Xform, xform_port)
        print("twisted NetstringReceiver got:", reply.decode())
        poem = yield fetch(Download, poetry_port)
        print("twisted Protocol downloaded %d bytes, first line: %s"
              % (len(poem), poem.decode().splitlines()[0]))
    finally:
        reactor.stop()


reactor.callWhenRunning(main, int(sys.argv[1]), int(sys.argv[2]))
reactor.run()
