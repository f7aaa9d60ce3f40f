"""A TCP proxy the test can cut and restore: an engine outage without touching the engine.

The server under test connects to the proxy's port; :meth:`TcpProxy.cut` closes every proxied
connection and refuses new ones (what a crashed or unreachable database looks like from the
client's side), :meth:`TcpProxy.restore` accepts again. The shared MariaDB itself keeps running
for everybody else.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target`` in a background thread."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)

    def start(self) -> TcpProxy:
        """Listen and forward until :meth:`close`."""
        self.restore()
        self._thread.start()
        return self

    def cut(self) -> None:
        """Reset every proxied connection and stop listening: the engine is unreachable."""
        with self._lock:
            if self._listener is not None:
                self._unregister(self._listener)
                self._listener.close()
                self._listener = None
            for sock in list(self._pairs):
                # Linger 0: a reset, as when the far end's host goes away.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                self._drop(sock)

    def restore(self) -> None:
        """Listen again on the same port: the engine is back."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            listener.setblocking(False)
            self._listener = listener
            self._selector.register(listener, selectors.EVENT_READ)

    def close(self) -> None:
        """Cut everything and end the thread."""
        self.cut()
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                ready = self._selector.select(timeout=0) if self._selector.get_map() else []
                for key, _ in ready:
                    self._handle(key.fileobj)  # type: ignore[arg-type]
            self._stop.wait(0.002 if ready else 0.02)

    def _handle(self, sock: socket.socket) -> None:
        if sock is self._listener:
            client, _ = sock.accept()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                return
            for end in (client, upstream):
                end.setblocking(False)
                self._selector.register(end, selectors.EVENT_READ)
            self._pairs[client] = upstream
            self._pairs[upstream] = client
            return
        if sock not in self._pairs:
            return
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(sock)
            return
        peer = self._pairs[sock]
        try:
            peer.setblocking(True)
            peer.sendall(data)
            peer.setblocking(False)
        except OSError:
            self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        peer = self._pairs.pop(sock, None)
        for end in (sock, peer):
            if end is None:
                continue
            self._pairs.pop(end, None)
            self._unregister(end)
            end.close()

    def _unregister(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)
