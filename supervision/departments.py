"""Departments (部门, issue #40 item 6 and issue #39 item 5): who inspects what, and whose orders are whose.

The plan divides the inspection of a childcare facility between 卫健 (the lead), 消防, 市场监管 (food),
公安 (技防), 教育 (托幼一体 only) and 卫生保健 (妇幼保健 / 疾控 / 卫生监督). An inspector account belongs to
one (storage.users; 卫健 unless created otherwise); the area (Scope) is another dimension and stays as it
was. The rules, as pure functions (migration 043 holds the signing and issuing ones in the database too):

- an inspection is of its planner's department (an admin plans 卫健's; a draw 双随机 and a 复查 plan
  the department of what they follow: 卫健's, and the order's). The facility does not choose it, nor
  which checklist: the record holds that department's items (contract/inspection.py CHECKLISTS) and is
  signed with every one of them;
- 教育 inspects 托幼一体 facilities (kindergarten nursery classes) only;
- **joint inspections** (联合检查): the planner names the departments of one visit, their own among them
  (it leads); each department's part is an inspection of its own (its checklist, its two officers, its
  orders), and the joint inspection is signed when every part is;
- an inspector records, signs and seconds only their own department's inspections (admins: any);
- **orders**: an order from a record is of the record's department, and only that department's
  inspectors issue it. With no record: on an alert, 卫健 (the lead) or the department whose items the
  alert's rule concerns (RULE_DEPARTMENT: a fire alarm is 消防's too, a panic button 公安's, a missing
  health-care worker 卫生保健's), as an order of the issuer's department; by hand (no record, no
  alert), 卫健 only, as before departments. An admin issues as 卫健 (or as the record's department).
  Reviewing an order (accept, send back, 复查) is its department's, at its level or above (admins: any).
"""

from __future__ import annotations

from contract.inspection import DEFAULT_DEPARTMENT, DEPARTMENTS, KINDS_INSPECTED
from contract.rules import RULE_ALSO, RULE_DEPARTMENTS
from storage.users import Scope
from supervision.requests import RequestRefused

# the department (other than 卫健, which acts on every alert) whose items an alert's rule concerns: the rule's own
# department (contract/rules.py RULE_DEPARTMENTS, one table with the reason per rule) or the one that also
# orders on it (RULE_ALSO: 教育 on a class over capacity)
RULE_DEPARTMENT: dict[str, str] = {
    str(rule): owner.department for rule, owner in RULE_DEPARTMENTS.items() if owner.department != DEFAULT_DEPARTMENT
} | {str(rule): d for rule, d in RULE_ALSO.items()}


class DepartmentRefused(RequestRefused):
    """A department's act refused: `kind` invalid (400), forbidden (403) or conflict (409); `key` and
    `args_` name the page text (web/i18n.py)."""


def department_of(scope: Scope, department: str) -> str:
    """The department a user acts for: an inspector's own; an admin acts as 卫健."""
    return department if scope.role == "inspector" else DEFAULT_DEPARTMENT


def check_plan(scope: Scope, department: str, facility_kind: str) -> str:
    """The department of an inspection `scope` (of `department`) plans of a facility of `facility_kind`."""
    d = department_of(scope, department)
    kinds = KINDS_INSPECTED.get(d)
    if kinds is not None and facility_kind not in kinds:
        raise DepartmentRefused(
            f"{d} inspects {', '.join(sorted(kinds))} facilities only, not {facility_kind}",
            "err_department_kind",
            "forbidden",
            department=DEPARTMENTS[d][0],
        )
    return d


def may_record(scope: Scope, department: str, inspection_department: str) -> bool:
    """Whether the user records, signs or seconds an inspection of `inspection_department`."""
    return scope.role == "admin" or (scope.role == "inspector" and department == inspection_department)


def check_record(scope: Scope, department: str, inspection_department: str) -> None:
    if not may_record(scope, department, inspection_department):
        raise DepartmentRefused(
            f"the inspection is {inspection_department}'s: its officers record it",
            "err_department_record",
            "forbidden",
            department=DEPARTMENTS.get(inspection_department, ("?",))[0],
        )


def order_department(
    scope: Scope, department: str, record_department: str | None = None, alert_rule: str | None = None
) -> str:
    """The department of an order the user (`scope`, `department`) issues: from a record of
    `record_department`, on an alert of `alert_rule`, or by hand (both None). Refused when the user's
    department may not issue it."""
    if scope.role == "admin":
        return record_department or DEFAULT_DEPARTMENT
    d = department_of(scope, department)
    if record_department is not None:
        if d != record_department:
            raise DepartmentRefused(
                f"the record is {record_department}'s: its officers issue its orders",
                "err_department_order",
                "forbidden",
                department=DEPARTMENTS.get(record_department, ("?",))[0],
            )
        return d
    if alert_rule is not None:
        if d not in {DEFAULT_DEPARTMENT, RULE_DEPARTMENT.get(alert_rule)}:
            raise DepartmentRefused(
                f"an alert of {alert_rule} is not {d}'s to order: 卫健 or the department it concerns issues it",
                "err_department_alert",
                "forbidden",
                department=DEPARTMENTS[d][0],
            )
        return d
    if d != DEFAULT_DEPARTMENT:
        raise DepartmentRefused(
            f"{d} issues orders from its inspection records (or the alerts that concern it), not by hand",
            "err_department_manual",
            "forbidden",
            department=DEPARTMENTS[d][0],
        )
    return d


def may_issue(
    scope: Scope, department: str, record_department: str | None = None, alert_rule: str | None = None
) -> bool:
    """Whether `order_department` would let the user issue that order: the pages show an order form only to
    those it would not refuse (a 消防 inspector sees none by hand; on an alert, only if it concerns them). The
    level (an inspector or an admin, the facility in scope) is the caller's to check."""
    try:
        order_department(scope, department, record_department, alert_rule)
    except DepartmentRefused:
        return False
    return True


def may_review(scope: Scope, department: str, order_department_: str) -> bool:
    """Whether the user's department accepts, sends back or re-inspects an order of `order_department_`
    (the level is supervision/orders.may_review's)."""
    return scope.role != "inspector" or department == order_department_


JOINT_MAX = len(DEPARTMENTS)


def joint_choices(scope: Scope, department: str, facility_kind: str) -> list[str]:
    """The departments the planning form offers to join the user's own in a joint inspection."""
    lead = department_of(scope, department)
    return [d for d in DEPARTMENTS if d != lead and facility_kind in KINDS_INSPECTED.get(d, {facility_kind})]


def check_joint(scope: Scope, department: str, departments: object, facility_kind: str) -> list[str]:
    """The departments of a joint inspection (联合检查) the user plans, the planner's own first (it leads):
    a list of two or more known departments, each once, the planner's among them, each inspecting this
    kind of facility."""
    lead = department_of(scope, department)
    if (
        not isinstance(departments, list)
        or not all(isinstance(d, str) and d in DEPARTMENTS for d in departments)
        or len(set(departments)) != len(departments)
        or not 2 <= len(departments) <= JOINT_MAX
        or lead not in departments
    ):
        raise DepartmentRefused(
            f"departments: two or more of {', '.join(DEPARTMENTS)}, each once, yours ({lead}) among them",
            "err_joint_departments",
            department=DEPARTMENTS[lead][0],
        )
    for d in departments:
        kinds = KINDS_INSPECTED.get(d)
        if kinds is not None and facility_kind not in kinds:
            raise DepartmentRefused(
                f"{d} inspects {', '.join(sorted(kinds))} facilities only, not {facility_kind}",
                "err_department_kind",
                "forbidden",
                department=DEPARTMENTS[d][0],
            )
    return [lead, *(d for d in departments if d != lead)]
