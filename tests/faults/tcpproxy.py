"""A tiny TCP proxy whose link can be cut and restored: the database "unreachable" on demand.

``python -m tests.faults.tcpproxy LISTEN_PORT TARGET_HOST TARGET_PORT``; SIGUSR1 cuts every
connection and refuses new ones, SIGUSR2 restores service.
"""

from __future__ import annotations

import selectors
import signal
import socket
import sys
import threading


class Proxy:
    def __init__(self, listen_port: int, host: str, port: int) -> None:
        self.target = (host, port)
        self.srv = socket.create_server(("127.0.0.1", listen_port), reuse_port=False)
        self.up = True
        self.conns: set[socket.socket] = set()
        self.lock = threading.Lock()

    def cut(self) -> None:
        self.up = False
        with self.lock:
            for c in list(self.conns):
                try:
                    c.close()
                except OSError:
                    pass
            self.conns.clear()

    def restore(self) -> None:
        self.up = True

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while self.up:
                for key, _ in sel.select(0.5):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass
            with self.lock:
                self.conns.discard(a)
                self.conns.discard(b)

    def serve(self) -> None:
        while True:
            client, _ = self.srv.accept()
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=3)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()


def main() -> None:
    p = Proxy(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
    signal.signal(signal.SIGUSR1, lambda *_: p.cut())
    signal.signal(signal.SIGUSR2, lambda *_: p.restore())
    print("proxy up", flush=True)
    p.serve()


if __name__ == "__main__":
    main()
