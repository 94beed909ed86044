"""双随机一公开: the draws, their public record and verdict, a county's published lists (web/draws.py)."""

from __future__ import annotations

from typing import Annotated, NotRequired

from pydantic import ConfigDict, Field
from typing_extensions import TypedDict

from supervision.draw import ALGORITHM, INSPECTORS_PER_FACILITY, MAX_COUNT
from web.schemas.base import Date, OneOf, RequestBody, Time, absent, closed
from web.schemas.ops import COUNTY, Op, path_id

Sha256 = Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
Pair = Annotated[list[str], Field(min_length=2, max_length=2)]  # (id, township) of a listed facility or inspector
Inspectors = Annotated[list[str], Field(min_length=INSPECTORS_PER_FACILITY, max_length=INSPECTORS_PER_FACILITY)]


@closed
class DrawSummary(TypedDict):
    id: int
    county: str
    seq: int
    drawn_by: str
    drawn_level: str
    drawn_at: Time
    planned_for: Date
    count: int
    redraw_of: int | None
    reason: str
    signed: NotRequired[int]


@closed
class Draws(TypedDict):
    """the draws"""

    draws: list[DrawSummary]


@closed
class DrawInputs(TypedDict):
    algorithm: str
    county: str
    facilities: list[Pair]
    inspectors: list[Pair]


@closed
class DrawPick(TypedDict):
    facility_id: str
    inspectors: Inspectors


@closed
class DrawResult(TypedDict):
    facility_id: str
    facility_name: str
    township: NotRequired[str]
    inspection_id: NotRequired[int]
    inspectors: NotRequired[Inspectors]
    planned_for: Date
    status: str
    inspected_on: NotRequired[Date | None]
    failed_items: NotRequired[int | None]
    orders: NotRequired[int]
    orders_accepted: NotRequired[int]


@closed
class Draw(TypedDict):
    """the draw"""

    id: int
    county: str
    seq: int
    algorithm: Annotated[str, OneOf((ALGORITHM,))]
    drawn_level: NotRequired[str]
    drawn_by: NotRequired[str]
    drawn_at: Time
    planned_for: Date
    count: int
    inputs: DrawInputs
    inputs_sha256: Sha256
    previous_seed: NotRequired[Sha256 | None]
    seed: Sha256
    picks: NotRequired[list[DrawPick]]
    redraw_of: NotRequired[int | None]
    reason: NotRequired[str]
    results: NotRequired[list[DrawResult]]


@closed
class ListedFacility(TypedDict):
    id: str
    name: str
    township: str


@closed
class ListedInspector(TypedDict):
    username: str
    display_name: NotRequired[str]
    township: str
    available: bool
    reason: NotRequired[str]
    changed_by: NotRequired[str | None]
    changed_at: NotRequired[Time | None]


@closed
class DrawLists(TypedDict):
    """the lists"""

    county: str
    facilities: list[ListedFacility]
    inspectors: list[ListedInspector]
    inputs_sha256: Sha256


@closed
class Verdict(TypedDict):
    """the verdict"""

    id: int
    ok: bool
    problems: list[str]


class DrawIn(RequestBody):
    """A draw: how many facilities of the county, planned for a day; a second draw of a month needs a reason."""

    model_config = ConfigDict(extra="forbid")

    county: Annotated[str, Field(pattern="^[0-9]{6}$")] = absent()
    count: Annotated[int, Field(ge=1, le=MAX_COUNT)]
    planned_for: Date
    reason: Annotated[str, Field(max_length=500)] = absent()


class Availability(RequestBody):
    """Available or not, with a reason for not."""

    available: bool
    reason: Annotated[str, Field(max_length=500)] = absent()


_DRAW = (path_id("draw_id"),)
_USERNAME = {
    "name": "username",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.@-]{1,64}$"},
}
OPERATIONS: dict[str, dict[str, Op]] = {
    "/api/v1/draws": {
        "get": Op("The draws (双随机), newest first; inspectors and admins only", Draws, (400, 404), (COUNTY,)),
        "post": Op(
            "Draw facilities of a county and two inspectors each (a county's or the city's inspector); "
            "the seed is derived, never given; a second draw of a county's month needs a reason",
            Draw,
            (400, 403, 404, 409),
            request=DrawIn,
            status=201,
        ),
    },
    "/api/v1/draws/lists": {
        "get": Op(
            "A county's published lists (facilities, inspectors and their availability) and their hash",
            DrawLists,
            (400, 404),
            (COUNTY,),
        )
    },
    "/api/v1/draws/{draw_id}": {
        "get": Op("One draw: its public record (inputs, seed, picks), who drew it, its results", Draw, (404,), _DRAW)
    },
    "/api/v1/draws/{draw_id}/verify": {
        "get": Op(
            "Re-run the draw from its published inputs and compare with its record and inspections",
            Verdict,
            (404,),
            _DRAW,
        )
    },
    "/api/v1/draws/inspectors/{username}/availability": {
        "post": Op(
            "Mark a county's inspector available for draws or not (with a reason); never oneself",
            DrawLists,
            (400, 403, 404),
            (_USERNAME,),
            Availability,
            said="the county's lists",
        )
    },
}
