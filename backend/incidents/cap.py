"""Parse OASIS CAP 1.2 alerts safely into plain, frozen dataclasses.

Nothing here touches the database: the CAP importer turns a `CapAlert` into an incident.
Every problem raises `CapError` with a message precise enough for a 400 response body.
Regions come out in the API's shape, so the importer hands them straight to the geo code.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
MAX_POLYGON_VERTICES = 10_000

STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPES = ("Alert", "Update", "Cancel", "Ack", "Error")
SCOPES = ("Public", "Restricted", "Private")
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
KIND_BY_CATEGORY: dict[str, str] = {
    "Geo": "natural",
    "Met": "weather",
    "Safety": "other",
    "Security": "attack",
    "Rescue": "other",
    "Fire": "fire",
    "Health": "health",
    "Env": "environmental",
    "Transport": "transport",
    "Infra": "infrastructure",
    "CBRNE": "cbrne",
    "Other": "other",
}

Region = dict[str, Any]

# float() alone would also accept "nan", "inf" and "1_0", none of which is a coordinate.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_FORBIDDEN_IN_IDENTIFIER = re.compile(r"[\s,<&]")


class CapError(ValueError):
    """A CAP document that is unsafe, malformed or invalid; the message says where and why."""


@dataclass(frozen=True)
class CapReference:
    sender: str
    identifier: str
    sent: datetime


@dataclass(frozen=True)
class CapArea:
    description: str
    regions: list[Region]
    unsupported: list[str]


@dataclass(frozen=True)
class CapInfo:
    language: str
    category: list[str]
    event: str
    headline: str
    description: str
    instruction: str
    urgency: str
    severity: str
    certainty: str
    areas: list[CapArea]


@dataclass(frozen=True)
class CapAlert:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    references: list[CapReference]
    infos: list[CapInfo]

    @property
    def is_drill(self) -> bool:
        """Return whether the alert is a test or an exercise rather than a real event."""
        return self.status in ("Test", "Exercise")

    @property
    def title(self) -> str:
        """Return the first info's headline, or its event when it has no headline."""
        return self.infos[0].headline or self.infos[0].event

    @property
    def kind(self) -> str:
        """Return our incident kind for the first info's first category."""
        return KIND_BY_CATEGORY[self.infos[0].category[0]]


def parse_cap(
    xml: bytes,
    *,
    max_bytes: int = 1_000_000,
    geocodes: Mapping[tuple[str, str], Region] | None = None,
) -> CapAlert:
    """Parse and validate one CAP 1.2 alert, raising CapError on anything unsafe or invalid.

    `geocodes` maps (valueName, value) to a region; unmapped geocodes are reported in
    `CapArea.unsupported` instead of failing, so an alert with a polygon still imports.
    """
    if len(xml) > max_bytes:
        raise CapError(f"alert is {len(xml):,} bytes, over the {max_bytes:,}-byte limit")
    root = _parse_xml(xml)
    namespace, _, local_name = (
        root.tag[1:].rpartition("}") if root.tag[:1] == "{" else ("", "", root.tag)
    )
    if local_name != "alert":
        raise CapError(f"root element is <{local_name}>, expected <alert>")
    if namespace != CAP_NAMESPACE:
        found = f"namespace {namespace}" if namespace else "no namespace"
        raise CapError(f'<alert> has {found}; expected xmlns="{CAP_NAMESPACE}" (CAP 1.2)')

    identifier = _identifier(root, "identifier")
    sender = _identifier(root, "sender")
    sent = _datetime(_required(root, "sent", "alert"), "alert: <sent>")
    status = _enum(root, "status", STATUSES, "alert")
    msg_type = _enum(root, "msgType", MSG_TYPES, "alert")
    scope = _enum(root, "scope", SCOPES, "alert")
    references = _references(_optional(root, "references"))
    if msg_type in ("Update", "Cancel") and not references:
        raise CapError(f"alert: msgType {msg_type} needs <references> naming the earlier alert")
    table = geocodes or {}
    infos = [
        _info(element, f"info {number}", table)
        for number, element in enumerate(root.findall(_q("info")), 1)
    ]
    if not infos:
        raise CapError("alert: no <info> block; an alert must describe an event and its area")
    return CapAlert(identifier, sender, sent, status, msg_type, scope, references, infos)


def _parse_xml(xml: bytes) -> Element:
    try:
        return SafeElementTree.fromstring(
            xml, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException:
        raise CapError(
            "XML document type declarations (<!DOCTYPE>) and entities are not allowed: "
            "they enable entity expansion (billion laughs) and external references (XXE)"
        ) from None
    except (SafeElementTree.ParseError, LookupError) as exc:  # LookupError: unknown encoding
        raise CapError(f"not well-formed XML: {exc}") from None


def _q(name: str) -> str:
    return f"{{{CAP_NAMESPACE}}}{name}"


def _optional(parent: Element, name: str) -> str:
    element = parent.find(_q(name))
    return "" if element is None else (element.text or "").strip()


def _required(parent: Element, name: str, where: str) -> str:
    value = _optional(parent, name)
    if not value:
        raise CapError(f"{where}: missing <{name}>")
    return value


def _identifier(parent: Element, name: str) -> str:
    # References are "sender,identifier,sent" triples separated by spaces, hence the rule.
    value = _required(parent, name, "alert")
    if _FORBIDDEN_IN_IDENTIFIER.search(value):
        raise CapError(f"alert: <{name}> {value!r} must not contain spaces, commas, < or &")
    return value


def _enum(parent: Element, name: str, allowed: tuple[str, ...], where: str) -> str:
    value = _required(parent, name, where)
    if value not in allowed:
        raise CapError(f"{where}: <{name}> is {value!r}; expected one of {', '.join(allowed)}")
    return value


def _datetime(text: str, where: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CapError(
            f"{where} is {text!r}, not a date-time like 2015-11-13T21:20:00+01:00"
        ) from None
    if value.tzinfo is None:
        raise CapError(f"{where} {text!r} has no time zone offset")
    return value.astimezone(UTC)


def _references(text: str) -> list[CapReference]:
    references = []
    for triple in text.split():
        parts = triple.split(",")
        if len(parts) != 3 or not all(parts):
            raise CapError(f"alert: reference {triple!r} is not 'sender,identifier,sent'")
        sent = _datetime(parts[2], f"alert: reference {triple!r}: sent")
        references.append(CapReference(parts[0], parts[1], sent))
    return references


def _info(element: Element, where: str, geocodes: Mapping[tuple[str, str], Region]) -> CapInfo:
    categories = [(child.text or "").strip() for child in element.findall(_q("category"))]
    if not categories:
        raise CapError(f"{where}: missing <category>")
    for category in categories:
        if category not in KIND_BY_CATEGORY:
            expected = ", ".join(KIND_BY_CATEGORY)
            raise CapError(f"{where}: <category> is {category!r}; expected one of {expected}")
    event = _required(element, "event", where)
    urgency = _enum(element, "urgency", URGENCIES, where)
    severity = _enum(element, "severity", SEVERITIES, where)
    certainty = _enum(element, "certainty", CERTAINTIES, where)
    areas = [
        _area(child, f"{where}, area {number}", geocodes)
        for number, child in enumerate(element.findall(_q("area")), 1)
    ]
    if not areas:
        raise CapError(f"{where}: no <area>; we need to know where the alert applies")
    return CapInfo(
        language=_optional(element, "language") or "en-US",  # the CAP 1.2 default
        category=categories,
        event=event,
        headline=_optional(element, "headline"),
        description=_optional(element, "description"),
        instruction=_optional(element, "instruction"),
        urgency=urgency,
        severity=severity,
        certainty=certainty,
        areas=areas,
    )


def _area(element: Element, where: str, geocodes: Mapping[tuple[str, str], Region]) -> CapArea:
    description = _required(element, "areaDesc", where)
    polygons = element.findall(_q("polygon"))
    circles = element.findall(_q("circle"))
    codes = element.findall(_q("geocode"))
    if not (polygons or circles or codes):
        raise CapError(f"{where}: no <polygon>, <circle> or <geocode>")
    regions: list[Region] = []
    for number, polygon in enumerate(polygons, 1):
        ring = _ring((polygon.text or "").strip(), f"{where}: polygon {number}")
        regions.append({"geometry": {"type": "Polygon", "coordinates": [ring]}})
    for number, circle in enumerate(circles, 1):
        regions.append(_circle((circle.text or "").strip(), f"{where}: circle {number}"))
    unsupported = []
    for code in codes:
        key = (
            _required(code, "valueName", f"{where}: geocode"),
            _required(code, "value", f"{where}: geocode"),
        )
        if key in geocodes:
            regions.append(copy.deepcopy(geocodes[key]))  # callers may mutate what we return
        else:
            unsupported.append(
                f"geocode {key[0]}={key[1]} is not supported (no mapping configured)"
            )
    return CapArea(description, regions, unsupported)


def _ring(text: str, where: str) -> list[list[float]]:
    # Each vertex holds exactly one comma: counting them bounds the work before any list exists.
    if text.count(",") > MAX_POLYGON_VERTICES:
        raise CapError(f"{where} has more than {MAX_POLYGON_VERTICES:,} points")
    pairs = text.split()
    if len(pairs) < 4:
        raise CapError(
            f"{where} has {len(pairs)} points; at least 4 are needed, the last equal to the first"
        )
    points = [_point(pair, where) for pair in pairs]
    if points[0] != points[-1]:
        raise CapError(
            f"{where} is not closed (first point {pairs[0]} differs from last {pairs[-1]})"
        )
    return [[lon, lat] for lat, lon in points]  # CAP says "lat,lon"; GeoJSON wants [lon, lat]


def _circle(text: str, where: str) -> Region:
    parts = text.split()
    if len(parts) != 2 or not _NUMBER.fullmatch(parts[1]):
        raise CapError(f"{where} {text!r} is malformed; expected 'lat,lon radius_km'")
    lat, lon = _point(parts[0], where)
    radius_km = Decimal(parts[1])
    if radius_km <= 0:
        raise CapError(f"{where} has radius {parts[1]} km; it must be greater than 0")
    return {"center": {"lat": lat, "lon": lon}, "radius_m": float(radius_km * 1000)}


def _point(pair: str, where: str) -> tuple[float, float]:
    parts = pair.split(",")
    if len(parts) != 2 or not all(_NUMBER.fullmatch(part) for part in parts):
        raise CapError(f"{where}: {pair!r} is not a numeric 'lat,lon' pair")
    lat, lon = float(parts[0]), float(parts[1])
    if not -90 <= lat <= 90:
        raise CapError(f"{where}: latitude {parts[0]} is outside [-90, 90]")
    if not -180 <= lon <= 180:
        raise CapError(f"{where}: longitude {parts[1]} is outside [-180, 180]")
    return lat, lon
