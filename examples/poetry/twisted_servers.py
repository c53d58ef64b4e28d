"""Interoperability check, the other way: Twisted's own servers for our client.

    /usr/bin/python3 twisted_servers.py xform
    /usr/bin/python3 twisted_servers.py poetry POEM [NUM_BYTES DELAY]

"xform" serves the seed's transform protocol with a NetstringReceiver: one
netstring "<name>.<poem>" in, the transformed poem back as a netstring, then
the connection closes (an unknown transform closes without a reply).
"poetry" sends POEM slowly, NUM_BYTES every DELAY seconds, then closes.
Each listens on an ephemeral loopback port and prints "port N" first."""
import sys

from twisted.internet import protocol, reactor
from twisted.protocols.basic import NetstringReceiver

TRANSFORMS = {b"cummingsify": bytes.lower}


class Transform(NetstringReceiver):
    def stringReceived(self, request):
        name, dot, poem = request.partition(b".")
        fn = TRANSFORMS.get(name) if dot else None
        if fn is not None:
            self.sendString(fn(poem))
        self.transport.loseConnection()


class SlowPoem(protocol.Protocol):
    def connectionMade(self):
        self.left = self.factory.poem
        self.call = None
        self.send_some()

    def send_some(self):
        chunk, self.left = self.left[:self.factory.num_bytes], self.left[self.factory.num_bytes:]
        if chunk:
            self.transport.write(chunk)
            self.call = reactor.callLater(self.factory.delay, self.send_some)
        else:
            self.call = None
            self.transport.loseConnection()

    def connectionLost(self, reason):
        if self.call is not None and self.call.active():
            self.call.cancel()


def poetry_factory(poem, num_bytes, delay):
    f = protocol.Factory.forProtocol(SlowPoem)
    f.poem, f.num_bytes, f.delay = poem, num_bytes, delay
    return f


def listen(factory):
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    print("port", port.getHost().port, flush=True)


def main(argv):
    if argv[1:2] == ["xform"]:
        listen(protocol.Factory.forProtocol(Transform))
    elif argv[1:2] == ["poetry"] and len(argv) in (3, 5):
        with open(argv[2], "rb") as poem:
            listen(poetry_factory(poem.read(), int(argv[3]) if len(argv) == 5 else 1 << 20,
                                  float(argv[4]) if len(argv) == 5 else 0.0))
    else:
        sys.exit(__doc__)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv)
