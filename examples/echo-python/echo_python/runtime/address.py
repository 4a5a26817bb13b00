# Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
# this folder from the template; your code goes in echo_python/services/.
"""HSU addresses (unit contract, section 2): `unix:/path`, `unix:///path`,
`host:port` and `tcp://host:port`, parsed once and formatted one way."""

from __future__ import annotations

from dataclasses import dataclass, replace

# The kernel's sun_path holds 108 bytes including the terminating NUL.
UNIX_PATH_LIMIT = 108


class AddressError(ValueError):
    """An address that does not follow the unit contract's syntax."""


@dataclass(frozen=True)
class Address:
    """A parsed listen or dial address: a Unix socket path or a TCP host:port."""

    kind: str  # "unix" or "tcp"
    path: str = ""
    host: str = ""
    port: int = 0

    @property
    def is_unix(self) -> bool:
        return self.kind == "unix"

    def with_port(self, port: int) -> Address:
        """The same TCP address with the port the OS actually bound."""
        return replace(self, port=port) if self.kind == "tcp" else self

    def grpc_target(self) -> str:
        """The address in the form grpcio's bind and dial functions accept."""
        return f"unix:{self.path}" if self.is_unix else self._host_port()

    def __str__(self) -> str:
        # The canonical contract form, reported in UnitInfo.address.
        return f"unix:{self.path}" if self.is_unix else self._host_port()

    def _host_port(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_address(text: str) -> Address:
    """Parses an address in the contract's syntax; raises AddressError naming what is wrong."""
    if text == "":
        raise AddressError("the address is empty: use unix:/absolute/path.sock or host:port")
    if text.startswith("unix:"):
        return _parse_unix(text)
    rest = text[len("tcp://"):] if text.startswith("tcp://") else text
    return _parse_tcp(text, rest)


def _parse_unix(text: str) -> Address:
    rest = text[len("unix:"):]
    if rest.startswith("//"):
        rest = rest[2:]
        if not rest.startswith("/"):
            raise AddressError(f"{text!r}: unix:// must be followed by an absolute path (unix:///path.sock)")
    if not rest.startswith("/"):
        raise AddressError(f"{text!r}: a Unix socket path must be absolute (unix:/path.sock)")
    size = len(rest.encode("utf-8"))
    if size >= UNIX_PATH_LIMIT:
        raise AddressError(
            f"{text!r}: the Unix socket path is {size} bytes; it must be shorter than "
            f"{UNIX_PATH_LIMIT} bytes (the kernel's limit). Use a shorter directory."
        )
    return Address(kind="unix", path=rest)


def _parse_tcp(text: str, rest: str) -> Address:
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0 or rest[close + 1:close + 2] != ":":
            raise AddressError(f"{text!r}: an IPv6 address is written [host]:port, e.g. [::1]:0")
        host, port_text = rest[1:close], rest[close + 2:]
    else:
        host, sep, port_text = rest.rpartition(":")
        if sep == "" or ":" in host:
            raise AddressError(f"{text!r}: expected host:port (e.g. 127.0.0.1:0) or unix:/path.sock")
    if host == "":
        raise AddressError(f"{text!r}: the host is empty (e.g. 127.0.0.1:{port_text or 0})")
    if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
        raise AddressError(f"{text!r}: the port must be a number from 0 to 65535")
    return Address(kind="tcp", host=host, port=int(port_text))
