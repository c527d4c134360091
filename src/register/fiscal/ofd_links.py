"""Receipt links of the OFDs (ffd-receipt.md §10) and of the lab's OFD emulator, built and matched.

A template is a URL with placeholders: ``{fn}`` FN number (16 digits), ``{fd}`` FD number, ``{fp}`` the
decimal 4-byte fiscal sign, ``{inn}`` user INN, ``{rnm}`` KKT registration number (padding spaces
stripped), ``{qr}`` the receipt QR string (ffd-receipt.md §7), ``{http}`` HOST:PORT of the lab emulator's
HTTP server. Templates are named in LINK_TEMPLATES; a string containing ``{`` is taken as a template.
None of the real OFD templates is documented or guaranteed by the OFDs (§10).

The register builds links with ``receipt_link``; the lab emulator serves them and recognises its own
links with ``match_link``, so both sides use one template syntax.
"""

from __future__ import annotations

import re
import string
from urllib.parse import parse_qsl, quote, unquote, urlsplit

LINK_TEMPLATES: dict[str, str] = {
    "lab": "http://{http}/rec/{fn}/{fd}/{fp}",
    "ofd.ru": "https://ofd.ru/rec/{inn}/{rnm}/{fn}/{fd}/{fp}",
    "check.ofd.ru": "https://check.ofd.ru/rec/{inn}/{rnm}/{fn}/{fd}/{fp}",
    "check.ofd.ru-short": "https://check.ofd.ru/rec/{fn}/{fd}/{fp}",
    "1-ofd": "https://consumer.1-ofd.ru/v1?{qr}",
    "1-ofd-test": "https://test-consumer.1-ofd.ru/v1?{qr}",
    "platformaofd": "https://lk.platformaofd.ru/web/noauth/cheque?fn={fn}&fp={fp}&i={fd}",
    "taxcom": "https://receipt.taxcom.ru/v01/show?fp={fp}&fn={fn}&fd={fd}",
    "kontur": "https://cash.kontur.ru/?fnSerialNumber={fn}&fiscalDocumentNumber={fd}&fiscalSignature={fp}",
    "ofd-ya": "https://ofd-ya.ru/getFiscalDoc?kktRegId={rnm}&fiscalSign={fp}",
}
LAB_TEMPLATE = LINK_TEMPLATES["lab"]
FIELDS = frozenset({"fn", "fd", "fp", "inn", "rnm", "qr", "http"})

_FN_PATTERN = re.compile(r"[0-9]{16}")
_INN_PATTERN = re.compile(r"[0-9]{10}|[0-9]{12}")
_U32_MAX = 0xFFFF_FFFF
_FIELD_VALUE = "[^/?&#]+"  # one path segment or one query value


class LinkTemplateError(ValueError):
    """A link template that cannot be used, or a value that cannot go into it."""


def resolve_template(name_or_template: str) -> str:
    """The template for a name in LINK_TEMPLATES, or the argument itself when it is a template."""
    if "{" in name_or_template:
        template_fields(name_or_template)
        return name_or_template
    try:
        return LINK_TEMPLATES[name_or_template]
    except KeyError:
        known = ", ".join(sorted(LINK_TEMPLATES))
        raise LinkTemplateError(
            f"receipt link template {name_or_template!r} is neither a known name ({known}) "
            "nor a template with {fn}, {fd}, {fp} … placeholders"
        ) from None


def template_fields(template: str) -> frozenset[str]:
    """The placeholders of a template; LinkTemplateError for unknown ones or format specs."""
    found: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise LinkTemplateError(f"receipt link template {template!r}: {exc}") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in FIELDS or spec or conversion:
            raise LinkTemplateError(
                f"receipt link template {template!r}: placeholder {{{name}}} is not one of "
                f"{', '.join('{' + f + '}' for f in sorted(FIELDS))}"
            )
        found.add(name)
    return frozenset(found)


def receipt_link(
    template: str,
    *,
    fn: str,
    fd: int,
    fp: int,
    inn: str | None = None,
    rnm: str | None = None,
    qr: str | None = None,
    http: str | None = None,
) -> str:
    """The receipt's link by a template or a template name; a field the template needs must be given."""
    resolved = resolve_template(template)
    if _FN_PATTERN.fullmatch(fn) is None:
        raise LinkTemplateError(f"receipt link: FN number must be 16 digits, got {fn!r}")
    if not 1 <= fd <= _U32_MAX:
        raise LinkTemplateError(f"receipt link: FD number must be a positive Uint32, got {fd}")
    if not 0 <= fp <= _U32_MAX:
        raise LinkTemplateError(f"receipt link: fiscal sign must be the 4-byte FP (a Uint32), got {fp}")
    if inn is not None and _INN_PATTERN.fullmatch(inn) is None:
        raise LinkTemplateError(f"receipt link: INN must be 10 or 12 digits, got {inn!r}")
    values: dict[str, str | None] = {
        "fn": fn,
        "fd": str(fd),
        "fp": str(fp),
        "inn": inn,
        "rnm": quote(rnm.strip(), safe="") if rnm is not None else None,
        "qr": qr,
        "http": http,
    }
    missing = sorted(name for name in template_fields(resolved) if not values[name])
    if missing:
        raise LinkTemplateError(f"receipt link template {resolved!r} needs {', '.join(missing)}: not given")
    return resolved.format(**{name: value or "" for name, value in values.items()})


def match_link(template: str, path_and_query: str) -> dict[str, str] | None:
    """The placeholder values of a request path (with its query) that fits the template, else None.

    Only the path and the query are compared (the host is the server's own). Query parameters may come
    in any order and extra ones are ignored. A template whose whole query is ``{qr}`` gives the request's
    query as ``qr``.
    """
    resolved = resolve_template(template)
    template_path, template_query = _split_template(resolved)
    got = urlsplit(path_and_query)
    values = _match_path(template_path, got.path or "/")
    if values is None:
        return None
    if template_query == "{qr}":
        if not got.query:
            return None
        values["qr"] = unquote(got.query)
        return values
    if not template_query:
        return values
    query = dict(parse_qsl(got.query, keep_blank_values=True))
    for key, pattern in parse_qsl(template_query, keep_blank_values=True):
        value = query.get(key)
        if value is None:
            return None
        field = _placeholder(pattern)
        if field is None:
            if value != pattern:
                return None
        elif not value or values.setdefault(field, value) != value:
            return None
    return values


def _split_template(template: str) -> tuple[str, str]:
    """The path and the query of a template (split by hand: placeholders may sit in the host)."""
    _, sep, rest = template.partition("://")
    rest = rest if sep else template
    rest = rest.partition("#")[0]
    start = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    path, _, query = rest[start:].partition("?")
    return path or "/", query


def _placeholder(text: str) -> str | None:
    if text.startswith("{") and text.endswith("}") and text[1:-1] in FIELDS:
        return text[1:-1]
    return None


def _match_path(template_path: str, path: str) -> dict[str, str] | None:
    pattern = ""
    seen: set[str] = set()
    for literal, name, _, _ in string.Formatter().parse(template_path):
        pattern += re.escape(literal)
        if name is not None:
            pattern += f"(?P={name})" if name in seen else f"(?P<{name}>{_FIELD_VALUE})"
            seen.add(name)
    match = re.fullmatch(pattern, path)
    if match is None:
        return None
    return {name: unquote(value) for name, value in match.groupdict().items()}
