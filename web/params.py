"""Reading request input: query parameters, times, codes and ids. Each refusal is an Invalid (400)
or NotFound (404) with the reason, which web.middleware.errors turns into the response."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any

from aiohttp import web

from web.errors import Invalid, NotFound
from web.keys import TRUSTED_PROXIES

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # nothing CareWatch stores is older; keeps arithmetic in range
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def qp(query: Mapping[str, str], name: str) -> str:
    """A query parameter: "" when absent; present but empty is a 400 (the document gives each a
    pattern, enum or format that "" does not meet)."""
    v = query.get(name)
    if v == "":
        raise Invalid(f"{name} is empty: leave it out or give a value")
    return v or ""


def parse_time(q: str, name: str) -> datetime | None:
    """An RFC 3339 time with its offset (the OpenAPI `date-time` format), between 2000 and 2100."""
    if not q:
        return None
    if not _RFC3339.fullmatch(q):
        raise Invalid(f"{name} must be an RFC 3339 time, e.g. 2026-11-28T08:00:00Z")
    frac = re.search(r"\.(\d+)", q)
    if frac and len(frac.group(1)) > 6:  # Python keeps microseconds
        q = q.replace(frac.group(0), frac.group(0)[:7])
    try:
        t = datetime.fromisoformat(q.replace("Z", "+00:00").replace("z", "+00:00").replace("t", "T"))
    except ValueError:
        raise Invalid(f"{name} must be an RFC 3339 time, e.g. 2026-11-28T08:00:00Z") from None
    if not _EARLIEST <= t < _LATEST:
        raise Invalid(f"{name} must be between 2000 and 2100")
    return t


def one_of(q: str, name: str, allowed: set[str]) -> str | None:
    if q and q not in allowed:
        raise Invalid(f"{name} must be one of {', '.join(sorted(allowed))}")
    return q or None


def code(q: str, name: str, digits: int) -> str | None:
    if q and not re.fullmatch(rf"[0-9]{{{digits}}}", q):
        raise Invalid(f"{name} must be {digits} digits")
    return q or None


_ID = re.compile(r"[0-9]{1,18}")  # ASCII digits only: "²".isdigit() is True, and int("²") fails
DEAD_LETTER_REASON = re.compile(r"[a-z_]{1,32}")


def as_id(s: str) -> int | None:
    """A row id (a 63-bit positive integer) written in ASCII digits, or None."""
    return int(s) if _ID.fullmatch(s) else None


def path_id(s: str) -> int:
    """A path id: anything that is not a 63-bit positive integer cannot exist."""
    found = as_id(s)
    if found is None:
        raise NotFound("no such alert")
    return found


def cursor(query: Mapping[str, str], name: str, what: str) -> int | None:
    """A paging parameter (`before`): absent is None, anything but an id is a 400."""
    raw = qp(query, name)
    if not raw:
        return None
    found = as_id(raw)
    if found is None:
        raise Invalid(f"{name} must be {what}")
    return found


async def json_body(request: web.Request, shape: str) -> Any:
    """The request's JSON body; a 400 naming the expected `shape` when it is not JSON (or is nested
    too deeply to parse, which would otherwise raise RecursionError: a 500)."""
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise Invalid(f"body must be JSON: {shape}") from None


# A path on this site: one "/" then printable ASCII, no backslash, no colon. Browsers drop tabs, CR and
# LF anywhere in a URL and spaces around it, and read a backslash as "/": "/<tab>/evil.example" and
# "/<backslash>evil" both lead to //evil.example, another site. No path the pages make has these.
_LOCAL_PATH = re.compile(r"/(?![/\\])[!-~]*")


def local_path(target: str, default: str) -> str:
    """A redirect target from a form: a path on this site, else `default` (no open redirect to
    `//evil.example`, `https://…`, `/\\evil` or `/<tab>/evil`)."""
    if _LOCAL_PATH.fullmatch(target) and "\\" not in target and ":" not in target:
        return target
    return default


def proxy_networks(spec: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """`10.0.0.5, 172.28.0.0/16` as networks; ValueError for anything that is not an address or network."""
    return tuple(ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


def client_address(request: web.Request) -> str:
    """The client's address: the connection's, unless it comes from a trusted reverse proxy; then the
    nearest address in X-Forwarded-For that is not itself a trusted proxy (what the proxy appended, not
    what the client wrote in front of it). Never the header of an untrusted peer: anyone can write one."""
    peer = request.remote or "-"
    trusted = request.app[TRUSTED_PROXIES]
    if not _among(_address(peer), trusted):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    for hop in reversed(hops):
        ip = _address(hop)
        if ip is None:
            return peer  # not an address: nothing a trusted proxy wrote
        if not _among(ip, trusted):
            return str(ip)
    return peer


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text)
    except ValueError:
        return None


def _among(ip: IPv4Address | IPv6Address | None, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    return ip is not None and any(ip in n for n in networks)
