"""A server on 127.0.0.1 answering each request with exact bytes, for HTTP client tests."""

import socket
import ssl
import threading
from dataclasses import dataclass, field


@dataclass
class Reply:
    """Bytes sent as they are in answer to one request; `close` hangs up after them.

    `flood` is then sent again and again until the client hangs up.
    """

    data: bytes
    close: bool = False
    flood: bytes = b""


@dataclass
class ScriptedServer:
    """Answer each request on 127.0.0.1 with the next scripted reply (a thread per connection).

    `tls` wraps every connection in TLS; `tunnel` first expects a proxy's CONNECT.
    """

    replies: list[Reply]
    tls: ssl.SSLContext | None = None
    tunnel: bool = False
    requests: list[bytes] = field(default_factory=list)  # request heads, in arrival order
    connections: int = 0
    hung_up: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    server_names: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        if self.tls is not None:
            self.tls.sni_callback = lambda sock, name, context: self.server_names.append(name)
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            if self.tunnel:
                self.requests.append(_read_request(sock))
                sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            while True:
                self.requests.append(_read_request(sock))
                with self._lock:
                    reply = self.replies.pop(0) if self.replies else Reply(b"", close=True)
                sock.sendall(reply.data)
                while reply.flood:
                    sock.sendall(reply.flood)
                if reply.close:
                    break
        except (OSError, EOFError):
            pass
        finally:
            sock.close()
            self.hung_up.release()


def _read_request(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError
        body += chunk
    return head
