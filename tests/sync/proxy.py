"""A loopback TCP proxy that can hold a push: its request (the server never sees it) or its
answer (the server committed it, the client never hears). Used to kill a client mid-push."""

from __future__ import annotations

import socket
import threading
from typing import Literal

Mode = Literal["pass", "hold_request", "hold_answer"]


class PushProxy:
    """Forwards 127.0.0.1:<port> to ``upstream``; ``held`` is set when a push was held."""

    def __init__(self, upstream: str, mode: Mode) -> None:
        host, port = upstream.removeprefix("http://").rsplit(":", 1)
        self.upstream = (host, int(port))
        self.mode = mode
        self.held = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            seen = threading.Event()
            threading.Thread(target=self._up, args=(client, server, seen), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, seen), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, seen: threading.Event) -> None:
        try:
            while chunk := client.recv(65536):
                if b"/push HTTP/1.1" in chunk:
                    seen.set()
                    if self.mode == "hold_request":
                        self.held.set()
                        continue
                if seen.is_set() and self.mode == "hold_request":
                    continue
                server.sendall(chunk)
        except OSError:
            pass
        finally:
            server.close()

    def _down(self, server: socket.socket, client: socket.socket, seen: threading.Event) -> None:
        try:
            while chunk := server.recv(65536):
                if seen.is_set() and self.mode == "hold_answer":
                    self.held.set()
                    continue
                client.sendall(chunk)
        except OSError:
            pass
        finally:
            client.close()

    def close(self) -> None:
        self._stop = True
        self._listener.close()
