"""The one way the server fetches a URL that came from outside (a provider's payload, an import).

A signed webhook proves who sent it, not that the URLs in it are safe to fetch from inside our
network. So, for every hop (the first URL and each redirect, followed here, never by requests):
- only http and https, with a host and no user:password part;
- the host is resolved once and every address it resolves to must be public: loopback, private,
  link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, multicast, reserved and
  unspecified addresses are refused, IPv4-mapped IPv6 addresses judged as the IPv4 they carry;
- the connection goes to the address that was checked (a pinned connection), so a DNS answer that
  changes between the check and the connect (DNS rebinding) cannot point it elsewhere; the Host
  header, TLS SNI and certificate check still use the URL's name;
- at most `max_redirects` hops, and the whole fetch (all hops and the body) within `deadline`
  seconds; the caller caps the size as it reads (`read_capped`).

`FETCH_ALLOW_PRIVATE_HOSTS` names `host:port` pairs that may be private anyway (the test suite's
fake provider on 127.0.0.1); it is empty by default. Proxies from the environment are not used:
they would make the pinned connection meaningless.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import connection as urllib3_connection

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_TIMEOUT = (5, 20)  # connect, read (per chunk)

Auth = Callable[[str], Any]  # the credentials for a URL (requests' `auth`), or None


class FetchRefused(Exception):
    """The URL is not one we fetch (scheme, address, too many redirects): permanent."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class FetchTimedOut(Exception):
    """The fetch as a whole took longer than its deadline: worth a later retry."""


class FetchTooLarge(Exception):
    """The body is over the caller's limit (said by Content-Length or found while reading)."""


def address_refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is anything but a public unicast one."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        not ip.is_global
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_unspecified
    )


def _allowed_private(host: str, port: int) -> bool:
    allowed = {str(entry).strip().lower() for entry in getattr(settings, "FETCH_ALLOW_PRIVATE_HOSTS", None) or ()}
    name = f"[{host}]" if ":" in host else host
    return f"{name}:{port}".lower() in allowed


def resolve_checked(url: str) -> tuple[str, int, str]:
    """(host, port, the address to connect to) for a URL we may fetch; FetchRefused otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchRefused("bad_url", "The URL cannot be parsed.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchRefused("bad_url", f"Only http and https URLs are fetched, not {scheme or 'none'!r}.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise FetchRefused("bad_url", "The URL names no host.")
    if parts.username is not None or parts.password is not None:
        raise FetchRefused("bad_url", "URLs with credentials in them are not fetched.")
    port = port or (443 if scheme == "https" else 80)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise FetchRefused("unresolvable", "The host does not resolve.") from None
        addresses = []
        for info in infos:
            try:
                addresses.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
            except ValueError:
                continue
        if not addresses:
            raise FetchRefused("unresolvable", "The host does not resolve.")
    # Every address must pass: a name resolving to a public and a private address is refused.
    if any(address_refused(a) for a in addresses) and not _allowed_private(host, port):
        raise FetchRefused("address_refused", "The URL points at a private, loopback or reserved address.")
    return host, port, str(addresses[0])


def _pinned(base: type, address: str) -> type:
    """A urllib3 connection class that connects to `address`, whatever its host name resolves to now."""

    def _new_conn(self: HTTPConnection) -> socket.socket:
        try:
            return urllib3_connection.create_connection(
                (address, self.port), self.timeout, source_address=self.source_address, socket_options=self.socket_options
            )
        except OSError as exc:
            # Let urllib3 classify it as it would its own connect failure.
            from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

            if isinstance(exc, TimeoutError):
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from exc
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc

    return type(f"Pinned{base.__name__}", (base,), {"_new_conn": _new_conn})


class PinnedAdapter(HTTPAdapter):
    """A transport adapter whose connections to `host:port` go to the checked `address`."""

    def __init__(self, *, host: str, port: int, address: str):
        self.pinned = (host.lower(), port, address)
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        address = self.pinned[2]
        http_pool = type("PinnedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": _pinned(HTTPConnection, address)})
        https_pool = type("PinnedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": _pinned(HTTPSConnection, address)})
        self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if ((parts.hostname or "").rstrip(".").lower(), port) != self.pinned[:2]:
            raise FetchRefused("bad_url", "A pinned connection was asked for another host.")
        return super().send(request, *args, **kwargs)


class Deadline:
    def __init__(self, seconds: float):
        self.ends = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.ends:
            raise FetchTimedOut("The fetch took too long.")


@contextmanager
def fetch(
    url: str,
    *,
    auth: Auth | None = None,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    max_redirects: int = 5,
    deadline: float = 120,
) -> Iterator[tuple[requests.Response, Deadline]]:
    """GET `url` and its redirects, each hop checked; yields the final (streamed) response and the
    fetch's deadline for the caller's reads. `auth(url)` gives the credentials for one hop (so a
    redirect to another host never carries them). Raises FetchRefused, FetchTimedOut or requests'
    own exceptions (timeouts, connection errors)."""
    limit = Deadline(deadline)
    current = url
    for _hop in range(max_redirects + 1):
        limit.check()
        host, port, address = resolve_checked(current)
        session = requests.Session()
        session.trust_env = False  # no proxies or .netrc from the environment
        adapter = PinnedAdapter(host=host, port=port, address=address)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        try:
            response = session.get(
                current, auth=auth(current) if auth else None, stream=True, timeout=timeout, allow_redirects=False
            )
        except BaseException:
            session.close()
            raise
        if response.status_code in REDIRECT_STATUSES and response.headers.get("Location"):
            current = urljoin(current, response.headers["Location"])
            response.close()
            session.close()
            continue
        try:
            yield response, limit
        finally:
            response.close()
            session.close()
        return
    raise FetchRefused("too_many_redirects", f"More than {max_redirects} redirects.")


def read_capped(response: requests.Response, *, limit: int, deadline: Deadline, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """The body in chunks, stopping with FetchTooLarge past `limit` bytes and FetchTimedOut past the deadline."""
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > limit:
        raise FetchTooLarge(f"The file is {int(length)} bytes; the limit is {limit}.")
    size = 0
    for piece in response.iter_content(chunk):
        size += len(piece)
        if size > limit:
            raise FetchTooLarge(f"The file is over the {limit}-byte limit.")
        deadline.check()
        yield piece
