"""The bench hospital's five modalities: C-ECHO SCPs on the controller.

Usage: python bench/modalities.py ADDRESS PORT [PORT ...]
Listens on ADDRESS:PORT for each port (any called/calling AE title is accepted),
prints "ready" once all are listening and runs until it is terminated.
"""
import signal
import sys
import threading

from pynetdicom import AE
from pynetdicom.sop_class import Verification


def main(argv):
    address, ports = argv[0], [int(p) for p in argv[1:]]
    servers = []
    for port in ports:
        ae = AE(ae_title="BENCH_NODE")
        ae.add_supported_context(Verification)
        servers.append(ae.start_server((address, port), block=False))
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for server in servers:
        server.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
