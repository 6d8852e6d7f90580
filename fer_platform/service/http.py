"""uvicorn's h11 protocol with a deadline on a new connection's request headers.

uvicorn times out idle keep-alive connections but not one that sends half its
headers and stops (slowloris): each such connection would be held forever.
Here a connection that has not delivered a complete request head within
``FER_HEADER_TIMEOUT_S`` of connecting is closed.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderTimeoutH11(H11Protocol):
    header_timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.header_deadline = self.loop.call_later(self.header_timeout_s, self.close_without_request)

    def close_without_request(self) -> None:
        if self.cycle is None and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.header_deadline.cancel()
        super().connection_lost(exc)


def header_timeout_protocol(seconds: float) -> type[HeaderTimeoutH11]:
    """The protocol class uvicorn instantiates per connection, with this deadline."""
    return type("HeaderTimeoutH11", (HeaderTimeoutH11,), {"header_timeout_s": seconds})
