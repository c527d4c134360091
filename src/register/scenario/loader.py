"""Scenario files (YAML) into scenario values, or a ScenarioError naming the file, the line and the field.

```yaml
scenario: A member who refused paper gets the e-receipt and no paper
tags: [suppression]
steps:
  - sell: {items: ["4600000000011x2"], card: "7000000000001"}
    expect: {printed: false, paper: 0, reason: refused-paper-loyalty, contact: anna@example.ru, emails: 1}
  - fault: {printer: paper-out}
  - sell: {items: ["4600000000028"], card: "7000000000004", buyer: declined}
    expect: {error: printer not ready}
  - clear: printer
  - refund: {original: "@1"}
  - mode: OFD
  - refuse-paper: {card: "7000000000004"}
  - reprint: {printed: 1}
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from register.scenario.model import (
    DEVICES,
    Action,
    Clear,
    Expect,
    Fault,
    Mode,
    Refund,
    RefusePaper,
    Reprint,
    Scenario,
    Sell,
    Step,
    Where,
)

MAX_BYTES = 1_000_000


class ScenarioError(ValueError):
    """A scenario file that cannot be played; the message starts with ``file:line:``."""


class _Map(dict[str, Any]):
    line: int = 0


class _Loader(yaml.SafeLoader):
    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:  # type: ignore[override]
        if self.check_event(yaml.events.AliasEvent):  # an alias can expand a small file beyond any memory
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a scenario", mark
            )
        return super().compose_node(parent, index)  # type: ignore[arg-type]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> _Map:  # type: ignore[override]
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice", key_node.start_mark
                )
            seen.add(key)
        mapping = _Map(super().construct_mapping(node, deep=True))
        mapping.line = node.start_mark.line + 1
        return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)


def load_scenario(path: Path) -> Scenario:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise ScenarioError(f"{path}: {len(raw)} bytes: a scenario file is at most {MAX_BYTES}")
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=_Loader)
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise ScenarioError(f"{path}:{line}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    return _scenario(path, data)


def _scenario(path: Path, data: object) -> Scenario:
    top = Where(path, getattr(data, "line", 1))
    body = _mapping(data, top, "the scenario", {"scenario", "description", "tags", "steps"})
    name = _text(body.get("scenario"), top, "scenario (its name)")
    steps_raw = body.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise ScenarioError(f"{top}: steps: a list of at least one step is needed")
    steps = tuple(_step(path, number, raw) for number, raw in enumerate(steps_raw, start=1))
    for step in steps:
        if isinstance(step.action, Refund) and step.action.original.startswith("@"):
            _check_reference(step, steps)
    tags = body.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ScenarioError(f"{top}: tags: a list of words")
    return Scenario(name, path, steps, str(body.get("description") or ""), tuple(tags))


def _step(path: Path, number: int, raw: object) -> Step:
    where = Where(path, getattr(raw, "line", 0))
    body = _mapping(raw, where, f"step {number}", None)
    kinds = [key for key in body if key != "expect"]
    if len(kinds) != 1:
        known = "sell, refund, fault, clear, mode, refuse-paper, reprint"
        raise ScenarioError(
            f"{where}: step {number}: one action ({known}) and optionally expect, got {kinds}"
        )
    kind = kinds[0]
    value = body[kind]
    what = f"step {number} ({kind})"
    action = _action(kind, value, where, what)
    expect = None
    if "expect" in body:
        if not isinstance(action, Sell | Refund):
            raise ScenarioError(f"{where}: {what}: only sell and refund take expect")
        expect = _expect(body["expect"], Where(path, getattr(body["expect"], "line", where.line)), what)
    return Step(number, action, expect, where)


def _action(kind: str, value: Any, where: Where, what: str) -> Action:
    if kind == "sell":
        body = _mapping(value, where, what, {"items", "card", "phone", "pay", "buyer"})
        items = body.get("items")
        if not isinstance(items, list) or not items or not all(isinstance(i, str | int) for i in items):
            raise ScenarioError(f'{where}: {what}: items: a list of barcodes ("BARCODE" or "BARCODExQTY")')
        if body.get("card") and body.get("phone"):
            raise ScenarioError(f"{where}: {what}: card or phone, not both")
        pay = body.get("pay", "cash")
        if pay not in ("cash", "card"):
            raise ScenarioError(f"{where}: {what}: pay: cash or card, got {pay!r}")
        return Sell(
            tuple(str(i) for i in items),
            _optional_text(body.get("card"), where, f"{what}: card"),
            _optional_text(body.get("phone"), where, f"{what}: phone"),
            pay,
            _buyer(body.get("buyer"), where, what),
        )
    if kind == "refund":
        body = _mapping(value, where, what, {"original", "buyer"})
        original = _text(body.get("original"), where, f"{what}: original (@STEP or an FD number)")
        if not (original.isdigit() or (original.startswith("@") and original[1:].isdigit())):
            raise ScenarioError(f"{where}: {what}: original: @STEP or an FD number, got {original!r}")
        return Refund(original, _buyer(body.get("buyer", "declined"), where, what))
    if kind == "fault":
        body = _mapping(value, where, what, set(DEVICES))
        if len(body) != 1:
            raise ScenarioError(f"{where}: {what}: one device ({', '.join(DEVICES)}) and its fault")
        ((device, spec),) = body.items()
        return Fault(device, _text(spec, where, f"{what}: {device}"))
    if kind == "clear":
        device = _text(value, where, what)
        if device not in DEVICES:
            raise ScenarioError(f"{where}: {what}: a device ({', '.join(DEVICES)}), got {device!r}")
        return Clear(device)
    if kind == "mode":
        if value not in ("LOYALTY", "OFD"):
            raise ScenarioError(f"{where}: {what}: LOYALTY or OFD, got {value!r}")
        return Mode(value)
    if kind == "refuse-paper":
        body = _mapping(value, where, what, {"card", "refused"})
        refused = body.get("refused", True)
        if not isinstance(refused, bool):
            raise ScenarioError(f"{where}: {what}: refused: true or false")
        return RefusePaper(_text(body.get("card"), where, f"{what}: card"), refused)
    if kind == "reprint":
        body = _mapping(value or {}, where, what, {"printed"})
        return Reprint(_optional_count(body.get("printed"), where, f"{what}: printed"))
    known = "sell, refund, fault, clear, mode, refuse-paper, reprint"
    raise ScenarioError(f"{where}: {what}: unknown action {kind!r} (known: {known})")


def _buyer(value: Any, where: Where, what: str) -> dict[str, Any] | str | None:
    if value is None or value == "declined":
        return value
    body = _mapping(value, where, f"{what}: buyer", {"e-receipt", "also-paper"})
    _text(body.get("e-receipt"), where, f"{what}: buyer: e-receipt (the contact)")
    if not isinstance(body.get("also-paper", False), bool):
        raise ScenarioError(f"{where}: {what}: buyer: also-paper: true or false")
    return dict(body)


_EXPECT_FIELDS = {"printed", "paper", "reason", "sender", "contact", "emails", "problems", "error"}


def _expect(value: Any, where: Where, what: str) -> Expect:
    body = _mapping(value, where, f"{what}: expect", _EXPECT_FIELDS)
    printed = body.get("printed")
    if printed is not None and not isinstance(printed, bool):
        raise ScenarioError(f"{where}: {what}: expect: printed: true or false")
    problems = body.get("problems", [])
    if problems == "none":
        problems, no_problems = (), True
    elif isinstance(problems, list) and all(isinstance(p, str) for p in problems):
        no_problems = False
    else:
        raise ScenarioError(f"{where}: {what}: expect: problems: a list of texts, or none")
    return Expect(
        printed=printed,
        paper=_optional_count(body.get("paper"), where, f"{what}: expect: paper"),
        reason=_optional_text(body.get("reason"), where, f"{what}: expect: reason"),
        sender=_optional_text(body.get("sender"), where, f"{what}: expect: sender"),
        contact=_contact(body.get("contact", False), where, what),
        emails=_optional_count(body.get("emails"), where, f"{what}: expect: emails"),
        problems=tuple(problems),
        no_problems=no_problems,
        error=_optional_text(body.get("error"), where, f"{what}: expect: error"),
    )


def _contact(value: object, where: Where, what: str) -> str | bool | None:
    if value is False or value is None:
        return value
    return _text(value, where, f"{what}: expect: contact (tag 1008; null: none)")


def _check_reference(step: Step, steps: tuple[Step, ...]) -> None:
    assert isinstance(step.action, Refund)
    target = int(step.action.original[1:])
    if not 1 <= target < step.number or not isinstance(steps[target - 1].action, Sell):
        raise ScenarioError(
            f"{step.where}: step {step.number} (refund): original {step.action.original}: "
            "must name an earlier sell step"
        )


def _mapping(value: object, where: Where, what: str, allowed: set[str] | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: {what}: expected a mapping (key: value), got {_kind(value)}")
    if allowed is not None:
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise ScenarioError(
                f"{where}: {what}: unknown field {unknown[0]!r} (known: {', '.join(sorted(allowed))})"
            )
    return value


def _text(value: object, where: Where, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"{where}: {what}: text is needed, got {_kind(value)}")
    return value.strip()


def _optional_text(value: object, where: Where, what: str) -> str | None:
    return None if value is None else _text(value, where, what)


def _optional_count(value: object, where: Where, what: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ScenarioError(f"{where}: {what}: a whole number ≥ 0, got {value!r}")
    return value


def _kind(value: object) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"[:80]
