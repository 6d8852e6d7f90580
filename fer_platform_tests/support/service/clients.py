"""How tests and benchmarks talk to the service: multipart uploads of the populated platform's images, and raw
HTTP over a socket (a client that stops sending, or watches for an early answer)."""

import io
import select
import socket
import time


def query_image(search_env, split: str = "test", emotion: str = "happy", name: str = "im0.png") -> bytes:
    return open(f"{search_env['FER_IMAGE_ROOT']}/{split}/{emotion}/{name}", "rb").read()


def upload(data: bytes, name: str = "face.png") -> dict:
    return {"file": (name, io.BytesIO(data), "image/png")}


def raw_request(port: int, head: bytes, body_chunks=(), read_timeout: float = 10) -> tuple[bytes, int]:
    """Send ``head``, then body chunks until the server answers (as a client that watches for an early answer
    does); returns (response bytes, body bytes sent)."""
    sent, answered = 0, False
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        for chunk in body_chunks:
            view = memoryview(chunk)
            while view and not answered:
                readable, writable, _ = select.select([sock], [sock], [], read_timeout)
                answered = bool(readable)
                if writable and not answered:
                    try:
                        count = sock.send(view)
                    except (BrokenPipeError, ConnectionResetError):
                        answered = True
                        break
                    view, sent = view[count:], sent + count
            if answered:
                break
        sock.setblocking(True)
        sock.settimeout(read_timeout)
        response = b""
        try:
            while data := sock.recv(65536):
                response += data
        except (ConnectionResetError, TimeoutError):
            pass
    return response, sent


def chunked(total: int, size: int = 65536):
    for _ in range(total // size):
        yield b"%x\r\n" % size + b"\0" * size + b"\r\n"


def chunk(data: bytes) -> bytes:
    """One chunk of a ``Transfer-Encoding: chunked`` body."""
    return b"%x\r\n" % len(data) + data + b"\r\n"


def chunked_body(total: int, size: int = 65536) -> bytes:
    """Chunks carrying exactly ``total`` body bytes (zeros), without the terminating chunk: the body goes on."""
    full, rest = divmod(total, size)
    return chunk(b"\0" * size) * full + (chunk(b"\0" * rest) if rest else b"")


def answer_within(sock: socket.socket, seconds: float) -> bytes:
    """What the server answers on ``sock`` within ``seconds`` while this client sends nothing (up to the end of
    the response head at least; b"" when it says nothing by then). The connection stays open: a server that waits
    for the rest of the body before it answers never answers here."""
    deadline = time.monotonic() + seconds
    response = b""
    while b"\r\n\r\n" not in response and (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not data:
            break
        response += data
    return response
