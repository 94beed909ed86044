"""How much a request may send, per route: small for the login form, JSON and forms, large only for the
few routes that take files (evidence and inspection photos, a registry file).

One limit for every route (8 MiB, the registry's) let anyone, signed in or not, make the server hold
8 MiB per request: 60 parallel posts to /login took the web from 91 MB to 1,080 MB, where it stayed
(issue #38 I). A body declared larger than its route's limit is refused (413) before a byte of it is
read, and the connection closed; one sent without a length is cut at the limit while it is read.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from supervision import circulars
from web.api import MAX_REGISTRY_BYTES
from web.orders import MAX_FILE_BYTES, MAX_FILES

LOGIN_BYTES = 16 * 1024  # a name, a password, a CSRF token
DEFAULT_BYTES = 256 * 1024  # JSON and forms: the largest, an inspection's 12 notes and its notes, is ~60 kB
FORM_OVERHEAD = 256 * 1024  # a multipart form's other fields and boundaries beside its files
EVIDENCE_BYTES = MAX_FILES * MAX_FILE_BYTES + FORM_OVERHEAD
REGISTRY_BYTES = MAX_REGISTRY_BYTES + FORM_OVERHEAD
# a 通报's form at its rules' limits, each Chinese character percent-encoded (9 bytes): about 380 kB
_CIRCULAR_CHARS = circulars.TITLE_MAX + circulars.BODY_MAX + circulars.SUBJECTS_MAX * (circulars.STATEMENT_MAX + 80)
CIRCULAR_BYTES = 9 * _CIRCULAR_CHARS + 16 * 1024

# by the route's path as the router names it (`resource.canonical`); everything else: DEFAULT_BYTES
ROUTE_LIMITS = {
    "/login": LOGIN_BYTES,
    "/logout": LOGIN_BYTES,
    "/orders/{order_id}/answer": EVIDENCE_BYTES,
    "/inspections/{inspection_id}/record": EVIDENCE_BYTES,
    "/facilities/{facility_id}/delegates": EVIDENCE_BYTES,  # a photo and a signed consent form
    "/registry": REGISTRY_BYTES,
    "/circulars": CIRCULAR_BYTES,
    "/circulars/{circular_id}": CIRCULAR_BYTES,
    "/api/v1/registry": REGISTRY_BYTES,
}


def limit_of(request: web.Request) -> int:
    resource = request.match_info.route.resource
    return ROUTE_LIMITS.get(resource.canonical, DEFAULT_BYTES) if resource is not None else DEFAULT_BYTES


@web.middleware
async def body_limit(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """The outermost middleware: the request is read with its route's limit from here on."""
    limit = limit_of(request)
    declared = request.content_length
    if declared is not None and declared > limit:
        return too_large(request, limit)
    # Set on the request itself: aiohttp's `clone(client_max_size=…)` makes a second request whose
    # multipart temporary files the server never closes (it finishes the first), and whose state the
    # middlewares outside this one (the session's) never see.
    request._client_max_size = limit  # no public setter; what post(), json() and read() go by
    return await handler(request)


def too_large(request: web.Request, limit: int) -> web.Response:
    reason = f"request body too large: at most {limit} bytes here"
    if request.path.startswith("/api/"):
        resp = web.Response(text=json.dumps({"error": reason}), status=413, content_type="application/json")
    else:
        resp = web.Response(text=reason, status=413)
    resp.force_close()  # not read: the rest of it is never waited for
    return resp
