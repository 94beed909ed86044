"""Identifier forms of CONTRACT §1, as reusable pydantic types."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

FACILITY_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
DEVICE_ID_RE = FACILITY_ID_RE
PERSON_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
METRIC_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
COUNTY_RE = re.compile(r"^[0-9]{6}$")
TOWNSHIP_RE = re.compile(r"^[0-9]{9}$")

FacilityId = Annotated[str, StringConstraints(pattern=FACILITY_ID_RE.pattern)]
DeviceId = Annotated[str, StringConstraints(pattern=DEVICE_ID_RE.pattern)]
PersonId = Annotated[str, StringConstraints(pattern=PERSON_ID_RE.pattern)]
# PostgreSQL text (and jsonb) cannot hold a NUL character: a message carrying one is refused at the
# door with a reason, not by the database in the middle of a batch (CONTRACT §2 Bad input).
NO_NUL = r"^[^\x00]*$"
MsgId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)]
MetricName = Annotated[str, StringConstraints(pattern=METRIC_RE.pattern)]
CountyCode = Annotated[str, StringConstraints(pattern=COUNTY_RE.pattern)]
TownshipCode = Annotated[str, StringConstraints(pattern=TOWNSHIP_RE.pattern)]
