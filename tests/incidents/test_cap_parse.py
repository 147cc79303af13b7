"""Parsing CAP 1.2 alerts: regions in the API's shape, and a precise CapError for bad input."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from backend.incidents import cap
from backend.incidents.cap import KIND_BY_CATEGORY, CapError, CapReference, parse_cap

SAMPLES = Path(__file__).parent / "cap_samples"
PARIS_RING = "48.8800,2.3550 48.8800,2.3900 48.8530,2.3900 48.8530,2.3550 48.8800,2.3550"
FIRST_PARIS_ALERT = CapReference(
    sender="alertes@prefecture-police.example.fr",
    identifier="FR-PP-2015-11-13-001",
    sent=datetime(2015, 11, 13, 21, 5, tzinfo=UTC),
)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def paris_with(old: str, new: str) -> bytes:
    """Return the Paris sample with one piece of text replaced."""
    xml = sample("paris_polygon.xml")
    assert old.encode() in xml
    return xml.replace(old.encode(), new.encode())


def test_polygon_alert_reads_header_and_infos():
    alert = parse_cap(sample("paris_polygon.xml"))

    assert alert.identifier == "FR-PP-2015-11-13-001"
    assert alert.sender == "alertes@prefecture-police.example.fr"
    assert (alert.status, alert.msg_type, alert.scope) == ("Actual", "Alert", "Public")
    assert alert.references == []
    assert [info.language for info in alert.infos] == ["fr-FR", "en-GB"]
    info = alert.infos[0]
    assert info.category == ["Security"]
    assert info.event == "Attaques terroristes"
    assert (info.urgency, info.severity, info.certainty) == ("Immediate", "Extreme", "Observed")
    assert info.description == "Plusieurs fusillades sont en cours dans l'est de Paris."
    assert info.instruction.startswith("Restez à l'abri.")


def test_sent_is_aware_and_converted_to_utc():
    alert = parse_cap(sample("paris_polygon.xml"))

    assert alert.sent == datetime(2015, 11, 13, 21, 5, tzinfo=UTC)
    assert alert.sent.tzinfo is UTC


def test_sent_accepts_z_for_utc():
    assert parse_cap(sample("drill.xml")).sent == datetime(2024, 3, 12, 10, 0, tzinfo=UTC)


def test_polygon_becomes_geojson_with_lon_lat_order():
    area = parse_cap(sample("paris_polygon.xml")).infos[0].areas[0]

    assert area.description == "Paris 10e et 11e arrondissements"
    assert area.unsupported == []
    assert area.regions == [
        {
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[2.355, 48.88], [2.39, 48.88], [2.39, 48.853], [2.355, 48.853], [2.355, 48.88]]
                ],
            }
        }
    ]


def test_circle_becomes_center_and_radius_in_metres():
    alert = parse_cap(sample("circle.xml"))

    assert alert.infos[0].areas[0].regions == [
        {"center": {"lat": 49.454, "lon": 1.064}, "radius_m": 5500.0}
    ]


def test_circle_radius_converts_to_metres_without_float_noise():
    alert = parse_cap(
        paris_with(f"<polygon>{PARIS_RING}</polygon>", "<circle>48.86,2.37 1.1</circle>")
    )

    assert alert.infos[0].areas[0].regions[0]["radius_m"] == 1100.0


def test_info_language_defaults_to_en_us_and_keeps_every_category():
    info = parse_cap(sample("circle.xml")).infos[0]

    assert info.language == "en-US"
    assert info.category == ["Fire", "CBRNE"]
    assert info.headline == ""


def test_several_areas_in_one_info_each_keep_their_regions():
    areas = parse_cap(sample("multi_area.xml")).infos[0].areas

    assert [area.description for area in areas] == [
        "Paris centre",
        "Versailles",
        "City of Paris and Yolo County",
    ]
    assert areas[0].regions[0]["geometry"]["type"] == "Polygon"
    assert areas[1].regions == [{"center": {"lat": 48.8049, "lon": 2.1204}, "radius_m": 3000.0}]


def test_several_polygons_and_circles_in_one_area_are_all_kept():
    xml = paris_with(
        f"<polygon>{PARIS_RING}</polygon>",
        f"<polygon>{PARIS_RING}</polygon><polygon>{PARIS_RING}</polygon>"
        "<circle>48.86,2.37 2</circle>",
    )

    regions = parse_cap(xml).infos[0].areas[0].regions

    assert [next(iter(region)) for region in regions] == ["geometry", "geometry", "center"]


def test_unmapped_geocodes_are_listed_as_unsupported():
    area = parse_cap(sample("multi_area.xml")).infos[0].areas[2]

    assert area.regions == []
    assert area.unsupported == [
        "geocode INSEE=75056 is not supported (no mapping configured)",
        "geocode SAME=006113 is not supported (no mapping configured)",
    ]


def test_mapped_geocode_becomes_a_region_and_others_stay_unsupported():
    paris = {"center": {"lat": 48.8566, "lon": 2.3522}, "radius_m": 9000.0}

    area = (
        parse_cap(sample("multi_area.xml"), geocodes={("INSEE", "75056"): paris}).infos[0].areas[2]
    )

    assert area.regions == [paris]
    assert area.unsupported == ["geocode SAME=006113 is not supported (no mapping configured)"]


def test_mapped_geocode_region_is_a_copy_of_the_table_entry():
    paris = {"center": {"lat": 48.8566, "lon": 2.3522}, "radius_m": 9000.0}
    alert = parse_cap(sample("multi_area.xml"), geocodes={("INSEE", "75056"): paris})

    alert.infos[0].areas[2].regions[0]["center"]["lat"] = 0.0

    assert paris["center"]["lat"] == 48.8566


def test_update_references_the_first_alert():
    alert = parse_cap(sample("update.xml"))

    assert alert.msg_type == "Update"
    assert alert.references == [FIRST_PARIS_ALERT]


def test_cancel_references_every_earlier_alert():
    alert = parse_cap(sample("cancel.xml"))

    assert alert.msg_type == "Cancel"
    assert alert.references == [
        FIRST_PARIS_ALERT,
        CapReference(
            sender="alertes@prefecture-police.example.fr",
            identifier="FR-PP-2015-11-13-002",
            sent=datetime(2015, 11, 13, 22, 30, tzinfo=UTC),
        ),
    ]


@pytest.mark.parametrize(
    ("status", "is_drill"), [("Test", True), ("Exercise", True), ("Actual", False)]
)
def test_is_drill_for_test_and_exercise_only(status, is_drill):
    alert = parse_cap(paris_with("<status>Actual</status>", f"<status>{status}</status>"))

    assert alert.is_drill is is_drill


def test_drill_sample_is_a_drill():
    assert parse_cap(sample("drill.xml")).is_drill is True


def test_title_is_first_headline_or_else_event():
    assert parse_cap(sample("paris_polygon.xml")).title == (
        "Attaques en cours à Paris, 10e et 11e arrondissements"
    )
    assert parse_cap(sample("circle.xml")).title == "Industrial fire"


@pytest.mark.parametrize(("category", "kind"), list(KIND_BY_CATEGORY.items()))
def test_kind_maps_first_category_of_first_info(category, kind):
    alert = parse_cap(
        paris_with("<category>Security</category>", f"<category>{category}</category>")
    )

    assert alert.kind == kind


def test_kind_uses_the_first_category_only():
    assert parse_cap(sample("circle.xml")).kind == "fire"


def test_category_table_covers_all_cap_categories():
    assert set(KIND_BY_CATEGORY) == {
        "Geo", "Met", "Safety", "Security", "Rescue", "Fire",
        "Health", "Env", "Transport", "Infra", "CBRNE", "Other",
    }  # fmt: skip


DTD_REFUSED = (
    "XML document type declarations (<!DOCTYPE>) and entities are not allowed: "
    "they enable entity expansion (billion laughs) and external references (XXE)"
)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("not_xml.txt", "not well-formed XML: syntax error: line 1, column 0"),
        ("malformed.xml", "not well-formed XML: mismatched tag: line 3, column 21"),
        ("xxe.xml", DTD_REFUSED),
        ("billion_laughs.xml", DTD_REFUSED),
        ("wrong_root.xml", "root element is <feed>, expected <alert>"),
        (
            "no_namespace.xml",
            '<alert> has no namespace; expected xmlns="urn:oasis:names:tc:emergency:cap:1.2"'
            " (CAP 1.2)",
        ),
        (
            "wrong_namespace.xml",
            "<alert> has namespace urn:oasis:names:tc:emergency:cap:1.1;"
            ' expected xmlns="urn:oasis:names:tc:emergency:cap:1.2" (CAP 1.2)',
        ),
        ("missing_identifier.xml", "alert: missing <identifier>"),
        ("missing_sender.xml", "alert: missing <sender>"),
        ("missing_sent.xml", "alert: missing <sent>"),
        ("missing_status.xml", "alert: missing <status>"),
        ("missing_msgType.xml", "alert: missing <msgType>"),
        ("missing_scope.xml", "alert: missing <scope>"),
        (
            "identifier_with_space.xml",
            "alert: <identifier> 'BAD 1' must not contain spaces, commas, < or &",
        ),
        (
            "sent_without_timezone.xml",
            "alert: <sent> '2015-11-13T22:05:00' has no time zone offset",
        ),
        (
            "bad_status.xml",
            "alert: <status> is 'Real'; expected one of Actual, Exercise, System, Test, Draft",
        ),
        (
            "bad_msgtype.xml",
            "alert: <msgType> is 'Notice'; expected one of Alert, Update, Cancel, Ack, Error",
        ),
        (
            "bad_scope.xml",
            "alert: <scope> is 'Everyone'; expected one of Public, Restricted, Private",
        ),
        (
            "update_without_references.xml",
            "alert: msgType Update needs <references> naming the earlier alert",
        ),
        (
            "cancel_without_references.xml",
            "alert: msgType Cancel needs <references> naming the earlier alert",
        ),
        (
            "bad_reference.xml",
            "alert: reference 'tests@safe-and-sound.example,BAD-0' is not 'sender,identifier,sent'",
        ),
        ("no_info.xml", "alert: no <info> block; an alert must describe an event and its area"),
        (
            "bad_category.xml",
            "info 1: <category> is 'Zombies'; expected one of Geo, Met, Safety, Security,"
            " Rescue, Fire, Health, Env, Transport, Infra, CBRNE, Other",
        ),
        (
            "bad_urgency.xml",
            "info 1: <urgency> is 'Now'; expected one of Immediate, Expected, Future, Past,"
            " Unknown",
        ),
        ("info_without_area.xml", "info 1: no <area>; we need to know where the alert applies"),
        ("area_without_shape.xml", "info 1, area 1: no <polygon>, <circle> or <geocode>"),
        (
            "polygon_non_numeric.xml",
            "info 1, area 1: polygon 1: '48.88,east' is not a numeric 'lat,lon' pair",
        ),
        (
            "polygon_lat_out_of_range.xml",
            "info 1, area 1: polygon 1: latitude 91.0 is outside [-90, 90]",
        ),
        (
            "polygon_lon_out_of_range.xml",
            "info 1, area 1: polygon 1: longitude 180.5 is outside [-180, 180]",
        ),
        (
            "polygon_too_few_points.xml",
            "info 1, area 1: polygon 1 has 3 points; at least 4 are needed,"
            " the last equal to the first",
        ),
        (
            "polygon_not_closed.xml",
            "info 1, area 2: polygon 1 is not closed"
            " (first point 48.8,2.3 differs from last 48.9,2.4)",
        ),
        (
            "circle_zero_radius.xml",
            "info 1, area 1: circle 1 has radius 0 km; it must be greater than 0",
        ),
        (
            "circle_negative_radius.xml",
            "info 1, area 1: circle 1 has radius -2 km; it must be greater than 0",
        ),
        (
            "circle_malformed.xml",
            "info 1, area 1: circle 1 '49.454,1.064' is malformed; expected 'lat,lon radius_km'",
        ),
    ],
)
def test_invalid_sample_is_rejected_with_a_precise_message(name, message):
    with pytest.raises(CapError) as excinfo:
        parse_cap(sample(f"invalid/{name}"))

    assert str(excinfo.value) == message


def test_xxe_never_leaks_the_referenced_file():
    with pytest.raises(CapError) as excinfo:
        parse_cap(sample("invalid/xxe.xml"))

    assert "root:" not in str(excinfo.value)
    assert excinfo.value.__cause__ is None


def test_cap_error_is_a_value_error():
    assert issubclass(CapError, ValueError)


def test_body_over_max_bytes_is_rejected_before_parsing(monkeypatch):
    def fail_parse(xml: bytes) -> None:
        raise AssertionError("parsed an oversized body")

    monkeypatch.setattr(cap, "_parse_xml", fail_parse)

    with pytest.raises(
        CapError, match=r"^alert is 1,000,001 bytes, over the 1,000,000-byte limit$"
    ):
        parse_cap(b" " * 1_000_001)


def test_body_of_exactly_max_bytes_is_parsed():
    xml = sample("paris_polygon.xml")

    assert parse_cap(xml, max_bytes=len(xml)).identifier == "FR-PP-2015-11-13-001"
    with pytest.raises(CapError, match="over the"):
        parse_cap(xml, max_bytes=len(xml) - 1)


def ring_of(vertices: int) -> str:
    """Return a closed CAP ring with the given number of points, the last equal to the first."""
    points = [f"48.{index:05d},2.3" for index in range(vertices - 1)]
    return " ".join([*points, points[0]])


def test_polygon_of_exactly_the_vertex_limit_is_accepted():
    xml = paris_with(PARIS_RING, ring_of(cap.MAX_POLYGON_VERTICES))

    ring = parse_cap(xml, max_bytes=10_000_000).infos[0].areas[0].regions[0]["geometry"]
    assert len(ring["coordinates"][0]) == 10_000


def test_polygon_over_the_vertex_limit_is_rejected_before_reading_points(monkeypatch):
    def fail_point(pair: str, where: str) -> None:
        raise AssertionError("read a point of an oversized polygon")

    monkeypatch.setattr(cap, "_point", fail_point)
    xml = paris_with(PARIS_RING, ring_of(cap.MAX_POLYGON_VERTICES + 1))

    with pytest.raises(CapError) as excinfo:
        parse_cap(xml, max_bytes=10_000_000)

    assert str(excinfo.value) == "info 1, area 1: polygon 1 has more than 10,000 points"


@pytest.mark.parametrize("coordinate", ["nan", "inf", "1_0", "0x10", "", "4e1"])
def test_coordinates_must_be_plain_decimal_numbers(coordinate):
    ring = PARIS_RING.replace("48.8800,2.3900", f"{coordinate},2.3900")

    with pytest.raises(CapError, match=r"is not a numeric 'lat,lon' pair$"):
        parse_cap(paris_with(PARIS_RING, ring))


def test_polygon_closed_with_differently_written_equal_numbers_is_accepted():
    ring = PARIS_RING.rsplit(" ", 1)[0] + " 48.88,2.355"

    assert parse_cap(paris_with(PARIS_RING, ring)).infos[0].areas[0].regions


def test_circle_centre_is_range_checked():
    xml = paris_with(f"<polygon>{PARIS_RING}</polygon>", "<circle>95,2.3 1</circle>")

    with pytest.raises(CapError, match=r"^info 1, area 1: circle 1: latitude 95 is outside"):
        parse_cap(xml)


def test_errors_in_a_later_info_name_that_info():
    xml = sample("paris_polygon.xml").replace(b"<event>Terrorist attacks</event>", b"")

    with pytest.raises(CapError, match=r"^info 2: missing <event>$"):
        parse_cap(xml)


def test_reference_with_a_bad_sent_time_is_rejected():
    xml = sample("update.xml").replace(b"001,2015-11-13T22:05:00+01:00", b"001,yesterday")

    with pytest.raises(CapError) as excinfo:
        parse_cap(xml)

    assert str(excinfo.value) == (
        "alert: reference 'alertes@prefecture-police.example.fr,FR-PP-2015-11-13-001,yesterday'"
        ": sent is 'yesterday', not a date-time like 2015-11-13T21:20:00+01:00"
    )


def test_sender_with_a_comma_is_rejected():
    xml = paris_with("alertes@prefecture", "alertes,x@prefecture")

    with pytest.raises(CapError, match=r"^alert: <sender> 'alertes,x@prefecture"):
        parse_cap(xml)


def test_unknown_declared_encoding_is_a_cap_error():
    xml = paris_with('encoding="UTF-8"', 'encoding="klingon"')

    with pytest.raises(CapError, match=r"^not well-formed XML: unknown encoding"):
        parse_cap(xml)


def test_elements_from_other_namespaces_are_ignored():
    xml = paris_with(
        "<scope>Public</scope>", '<scope>Public</scope><x:note xmlns:x="urn:x">hi</x:note>'
    )

    assert parse_cap(xml).scope == "Public"


def test_alert_is_immutable():
    alert = parse_cap(sample("paris_polygon.xml"))

    with pytest.raises(AttributeError):
        alert.status = "Test"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("<category>Security</category>", "", "info 1: missing <category>"),
        (
            "<areaDesc>Paris 10e et 11e arrondissements</areaDesc>",
            "",
            "info 1, area 1: missing <areaDesc>",
        ),
        (
            f"<polygon>{PARIS_RING}</polygon>",
            "<geocode><valueName>SAME</valueName></geocode>",
            "info 1, area 1: geocode: missing <value>",
        ),
    ],
)
def test_missing_info_and_area_fields_are_named(old, new, message):
    with pytest.raises(CapError) as excinfo:
        parse_cap(paris_with(old, new))

    assert str(excinfo.value) == message
