"""An alert's life after the rules opened it: what a maintenance window may silence (issue #36's
alert-lifecycle module; escalation and acknowledgement move here next). Pure decisions, no I/O."""

from __future__ import annotations

from contract.rules import MAINTENANCE_MUTES


def may_mute(rule: str) -> bool:
    """Whether a maintenance window over the device may keep this alert from the people notified of it:
    only the health of the devices under work (contract.rules.MAINTENANCE_MUTES), never a life-safety
    alert or a lapse. A muted alert is still recorded, shown and counted."""
    return rule in MAINTENANCE_MUTES
