"""CCSDS Orbit Mean-elements Message (OMM 2.0/3.0): KVN, XML, JSON and CSV.

JSON and CSV use the CelesTrak / Space-Track field names; constant metadata they omit
(CENTER_NAME, REF_FRAME, TIME_SYSTEM, MEAN_ELEMENT_THEORY) defaults to EARTH, TEME, UTC, SGP4.
Unknown JSON/CSV fields (Space-Track's OBJECT_TYPE, COUNTRY_CODE, ...) are kept in
``Orbit.extra`` and written back by the JSON/CSV writers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from lxml import etree

from processes.ssa.epochs import format_epoch, parse_epoch
from processes.ssa.errors import MessageError, MessageTooLargeError
from processes.ssa.records import MAX_NORAD_ID, Orbit
from processes.ssa.safexml import local_name, parse_xml, text_of
from processes.ssa.textio import (
    DEFAULT_MAX_BYTES,
    comment_text,
    decode_message,
    parse_float,
    parse_int,
    split_keyword,
    strip_units,
)

DEFAULT_MAX_RECORDS = 200_000
HEADER = ("CLASSIFICATION", "CREATION_DATE", "ORIGINATOR", "MESSAGE_ID")
METADATA = (
    "OBJECT_NAME",
    "OBJECT_ID",
    "CENTER_NAME",
    "REF_FRAME",
    "REF_FRAME_EPOCH",
    "TIME_SYSTEM",
    "MEAN_ELEMENT_THEORY",
)
MEAN_ELEMENTS = (
    "EPOCH",
    "SEMI_MAJOR_AXIS",
    "MEAN_MOTION",
    "ECCENTRICITY",
    "INCLINATION",
    "RA_OF_ASC_NODE",
    "ARG_OF_PERICENTER",
    "MEAN_ANOMALY",
    "GM",
)
SPACECRAFT = ("MASS", "SOLAR_RAD_AREA", "SOLAR_RAD_COEFF", "DRAG_AREA", "DRAG_COEFF")
TLE_PARAMETERS = (
    "EPHEMERIS_TYPE",
    "CLASSIFICATION_TYPE",
    "NORAD_CAT_ID",
    "ELEMENT_SET_NO",
    "REV_AT_EPOCH",
    "BSTAR",
    "BTERM",
    "MEAN_MOTION_DOT",
    "MEAN_MOTION_DDOT",
    "AGOM",
)
_AXES = ("X", "Y", "Z", "X_DOT", "Y_DOT", "Z_DOT")
COVARIANCE = ("COV_REF_FRAME", *(f"C{_AXES[i]}_{_AXES[j]}" for i in range(6) for j in range(i + 1)))
_BLOCKS: dict[str, tuple[str, ...]] = {
    "meanElements": MEAN_ELEMENTS,
    "spacecraftParameters": SPACECRAFT,
    "tleParameters": TLE_PARAMETERS,
    "covarianceMatrix": COVARIANCE,
}
_KNOWN = frozenset(
    ("CCSDS_OMM_VERS", *HEADER, *METADATA, *MEAN_ELEMENTS, *SPACECRAFT, *TLE_PARAMETERS, *COVARIANCE)
)
# OMM keywords kept verbatim in Orbit.extra (everything not mapped to an Orbit field).
_EXTRA_OMM = frozenset(
    ("REF_FRAME_EPOCH", "CLASSIFICATION", "MESSAGE_ID", "GM", "BTERM", "AGOM", *SPACECRAFT, *COVARIANCE)
)
_NUMERIC_EXTRA = _EXTRA_OMM - {"REF_FRAME_EPOCH", "CLASSIFICATION", "MESSAGE_ID", "COV_REF_FRAME"}
_MANDATORY = (
    "EPOCH",
    "MEAN_MOTION",
    "ECCENTRICITY",
    "INCLINATION",
    "RA_OF_ASC_NODE",
    "ARG_OF_PERICENTER",
    "MEAN_ANOMALY",
)
_KVN_MANDATORY_META = (
    "OBJECT_NAME",
    "OBJECT_ID",
    "CENTER_NAME",
    "REF_FRAME",
    "TIME_SYSTEM",
    "MEAN_ELEMENT_THEORY",
)
# Derived Space-Track fields, recomputed from the elements, never stored.
_DERIVED = frozenset(("SEMIMAJOR_AXIS", "PERIOD", "APOAPSIS", "PERIAPSIS"))
CELESTRAK_FIELDS = (
    "OBJECT_NAME",
    "OBJECT_ID",
    "EPOCH",
    "MEAN_MOTION",
    "ECCENTRICITY",
    "INCLINATION",
    "RA_OF_ASC_NODE",
    "ARG_OF_PERICENTER",
    "MEAN_ANOMALY",
    "EPHEMERIS_TYPE",
    "CLASSIFICATION_TYPE",
    "NORAD_CAT_ID",
    "ELEMENT_SET_NO",
    "REV_AT_EPOCH",
    "BSTAR",
    "MEAN_MOTION_DOT",
    "MEAN_MOTION_DDOT",
)

Item = tuple[int, str, str]  # (line, keyword, raw value)


def parse_norad_id(text: str, line: int, keyword: str = "NORAD_CAT_ID") -> int:
    """A catalogue number of at most 9 digits (leading zeros and '+' allowed)."""
    value = parse_int(text, line, keyword)
    digits = len(text.strip().lstrip("+-").lstrip("0") or "0")
    if digits > 9 or value > MAX_NORAD_ID:
        raise MessageError(
            line, keyword, f"{text.strip()} has {digits} digits: catalogue numbers have at most 9"
        )
    if value <= 0:
        raise MessageError(line, keyword, f"{text.strip()} is not a positive catalogue number")
    return value


def _build(items: Sequence[Item], *, strict: bool, anchor: int) -> Orbit:
    """Make an Orbit from keyword items; ``strict`` applies the KVN/XML mandatory metadata rules."""
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    comments: list[str] = []
    extra: list[tuple[str, str]] = []
    for line, key, value in items:
        if key == "COMMENT":
            comments.append(value)
            continue
        if key in values:
            raise MessageError(line, key, "keyword repeated in one OMM")
        values[key] = value
        lines[key] = line
        if key in _NUMERIC_EXTRA:
            extra.append((key, strip_units(value)))
        elif (
            key in _EXTRA_OMM
            or key.startswith("USER_DEFINED_")
            or (key not in _KNOWN and key not in _DERIVED)
        ):
            extra.append((key, value))
    if strict:
        for key in _KVN_MANDATORY_META:
            if key not in values:
                raise MessageError(anchor, key, "mandatory OMM metadata keyword missing")
    if "MEAN_MOTION" not in values and "SEMI_MAJOR_AXIS" in values:
        raise MessageError(
            lines["SEMI_MAJOR_AXIS"], "SEMI_MAJOR_AXIS", "only the MEAN_MOTION (SGP4) form is supported"
        )
    for key in _MANDATORY:
        if not values.get(key, "").strip():
            raise MessageError(lines.get(key, anchor), key, "mandatory field missing or empty")
    ts = values.get("TIME_SYSTEM", "UTC").strip().upper() or "UTC"
    if ts != "UTC":
        raise MessageError(
            lines["TIME_SYSTEM"], "TIME_SYSTEM", f"time system {ts} is not supported: only UTC"
        )
    center = values.get("CENTER_NAME", "EARTH").strip() or "EARTH"

    def num(key: str, default: float = 0.0) -> float:
        text = values.get(key, "").strip()
        return parse_float(text, lines[key], key) if text else default

    def integer(key: str, default: int) -> int:
        text = values.get(key, "").strip()
        return parse_int(text, lines[key], key) if text else default

    epoch = parse_epoch(values["EPOCH"].strip(), lines["EPOCH"], "EPOCH")
    try:
        return Orbit(
            epoch=epoch,
            mean_motion=num("MEAN_MOTION"),
            eccentricity=num("ECCENTRICITY"),
            inclination=num("INCLINATION"),
            ra_of_asc_node=num("RA_OF_ASC_NODE"),
            arg_of_pericenter=num("ARG_OF_PERICENTER"),
            mean_anomaly=num("MEAN_ANOMALY"),
            norad_id=parse_norad_id(values["NORAD_CAT_ID"], lines["NORAD_CAT_ID"])
            if values.get("NORAD_CAT_ID", "").strip()
            else None,
            object_name=values.get("OBJECT_NAME", "").strip(),
            object_id=values.get("OBJECT_ID", "").strip(),
            bstar=num("BSTAR"),
            mean_motion_dot=num("MEAN_MOTION_DOT"),
            mean_motion_ddot=num("MEAN_MOTION_DDOT"),
            ephemeris_type=integer("EPHEMERIS_TYPE", 0),
            classification=values.get("CLASSIFICATION_TYPE", "U").strip() or "U",
            element_set_no=integer("ELEMENT_SET_NO", 999),
            rev_at_epoch=integer("REV_AT_EPOCH", 0),
            center_name=center,
            ref_frame=values.get("REF_FRAME", "TEME").strip() or "TEME",
            time_system="UTC",
            mean_element_theory=values.get("MEAN_ELEMENT_THEORY", "SGP4").strip() or "SGP4",
            creation_date=values.get("CREATION_DATE", "").strip(),
            originator=values.get("ORIGINATOR", "").strip(),
            comments=tuple(comments),
            extra=tuple(extra),
        )
    except ValueError as exc:
        key = str(exc).split(" ", 1)[0]
        raise MessageError(lines.get(key, anchor), key if key in lines else "", str(exc)) from None


# --------------------------------------------------------------------------- reading


def detect_format(text: str) -> str:
    """'xml', 'json', 'kvn' or 'csv' from the first non-blank characters."""
    head = text.lstrip()[:200]
    if head.startswith("<"):
        return "xml"
    if head[:1] in "[{":
        return "json"
    if head.startswith(("CCSDS_OMM_VERS", "COMMENT")):
        return "kvn"
    return "csv"


def read_omm(
    data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES, max_records: int = DEFAULT_MAX_RECORDS
) -> list[Orbit]:
    """Read OMM records in KVN, XML, JSON or CSV (detected)."""
    if not isinstance(data, str) and data.lstrip()[:1] == b"<":
        return _read_xml(data, max_bytes, max_records)
    text = decode_message(data, max_bytes)
    fmt = detect_format(text)
    reader = {"xml": _read_xml, "json": _read_json, "kvn": _read_kvn, "csv": _read_csv}[fmt]
    return reader(text, max_bytes, max_records)


def _limit(count: int, max_records: int, line: int) -> None:
    if count > max_records:
        raise MessageTooLargeError(line, "", f"more than {max_records} OMM records in one message")


def _read_kvn(text: str, max_bytes: int, max_records: int) -> list[Orbit]:
    groups: list[tuple[int, list[Item]]] = []
    current: list[Item] | None = None
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("COMMENT") and (len(line) == 7 or line[7] in " \t"):
            if current is None:
                raise MessageError(lineno, "COMMENT", "an OMM must start with CCSDS_OMM_VERS")
            current.append((lineno, "COMMENT", comment_text(line)))
            continue
        key, value = split_keyword(line, lineno)
        if key == "CCSDS_OMM_VERS":
            if value not in ("2.0", "3.0"):
                raise MessageError(lineno, key, f"version {value!r} not supported (2.0 or 3.0)")
            current = []
            groups.append((lineno, current))
            _limit(len(groups), max_records, lineno)
            continue
        if current is None:
            raise MessageError(lineno, key, "an OMM must start with CCSDS_OMM_VERS")
        if key not in _KNOWN and not key.startswith("USER_DEFINED_"):
            raise MessageError(lineno, key, "not an OMM keyword")
        current.append((lineno, key, value))
    if not groups:
        raise MessageError(1, "CCSDS_OMM_VERS", "no OMM found")
    orbits = []
    for anchor, items in groups:
        for required in ("CREATION_DATE", "ORIGINATOR"):
            if not any(k == required for _, k, _ in items):
                raise MessageError(anchor, required, "mandatory header keyword missing")
        orbits.append(_build(items, strict=True, anchor=anchor))
    return orbits


def _xml_items(omm: etree._Element) -> list[Item]:
    items: list[Item] = []

    def walk(el: etree._Element) -> None:
        for child in el:
            key = local_name(child)
            if not key:
                continue
            line = child.sourceline or 0
            if key in ("header", "body", "segment", "metadata", "data", "userDefinedParameters", *_BLOCKS):
                walk(child)
            elif key == "USER_DEFINED":
                items.append((line, "USER_DEFINED_" + child.get("parameter", ""), text_of(child)))
            elif key == "COMMENT":
                items.append((line, key, child.text or ""))
            elif key in _KNOWN:
                items.append((line, key, text_of(child)))
            else:
                raise MessageError(line, key, "not an OMM element")

    walk(omm)
    return items


def _read_xml(data: bytes | str, max_bytes: int, max_records: int) -> list[Orbit]:
    root = parse_xml(data, max_bytes)
    if local_name(root) == "ndm":
        omms = [c for c in root if local_name(c) == "omm"]
        if not omms:
            raise MessageError(root.sourceline or 0, "ndm", "no <omm> inside <ndm>")
    elif local_name(root) == "omm":
        omms = [root]
    else:
        raise MessageError(root.sourceline or 0, local_name(root), "root element must be <omm> or <ndm>")
    _limit(len(omms), max_records, root.sourceline or 0)
    orbits = []
    for omm in omms:
        line = omm.sourceline or 0
        if omm.get("id") != "CCSDS_OMM_VERS" or omm.get("version") not in ("2.0", "3.0"):
            raise MessageError(
                line, "CCSDS_OMM_VERS", "<omm> needs id='CCSDS_OMM_VERS' and version 2.0 or 3.0"
            )
        orbits.append(_build(_xml_items(omm), strict=True, anchor=line))
    return orbits


def _json_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _read_json(text: str, max_bytes: int, max_records: int) -> list[Orbit]:
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    records: list[tuple[int, Any]] = []
    try:
        if text[pos] == "{":
            obj, _ = decoder.raw_decode(text, pos)
            records.append((text.count("\n", 0, pos) + 1, obj))
        else:
            pos += 1
            while True:
                while pos < len(text) and text[pos] in " \t\r\n,":
                    pos += 1
                if pos >= len(text):
                    raise json.JSONDecodeError("array not closed", text, pos)
                if text[pos] == "]":
                    break
                obj, end = decoder.raw_decode(text, pos)
                records.append((text.count("\n", 0, pos) + 1, obj))
                _limit(len(records), max_records, records[-1][0])
                pos = end
            if text[pos + 1 :].strip():
                raise json.JSONDecodeError("extra data after the array", text, pos + 1)
    except json.JSONDecodeError as exc:
        raise MessageError(exc.lineno, "", f"malformed JSON: {exc.msg}") from None
    orbits = []
    for line, obj in records:
        if not isinstance(obj, dict):
            raise MessageError(line, "", "each JSON record must be an object")
        items = _split_comments([(line, str(k), _json_value(v)) for k, v in obj.items()])
        orbits.append(_build(items, strict=False, anchor=line))
    return orbits


def _split_comments(items: list[Item]) -> list[Item]:
    """JSON/CSV carry all comments in one COMMENT field, one per line."""
    out: list[Item] = []
    for line, key, value in items:
        if key == "COMMENT":
            out += [(line, key, c) for c in value.split("\n")] if value else []
        else:
            out.append((line, key, value))
    return out


def _read_csv(text: str, max_bytes: int, max_records: int) -> list[Orbit]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise MessageError(1, "", "empty CSV") from None
    header = [h.strip() for h in header]
    if "EPOCH" not in header or "NORAD_CAT_ID" not in header:
        raise MessageError(
            1, "EPOCH" if "EPOCH" not in header else "NORAD_CAT_ID", "CSV header lacks the column"
        )
    orbits: list[Orbit] = []
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise MessageError(line, "", f"row has {len(row)} fields, the header {len(header)}")
            _limit(len(orbits) + 1, max_records, line)
            items = _split_comments([(line, k, v) for k, v in zip(header, row, strict=True)])
            orbits.append(_build(items, strict=False, anchor=line))
    except csv.Error as exc:
        raise MessageError(reader.line_num, "", f"malformed CSV: {exc}") from None
    if not orbits:
        raise MessageError(1, "", "CSV has a header but no records")
    return orbits


# --------------------------------------------------------------------------- writing


def _fields(o: Orbit) -> dict[str, str]:
    """OMM keyword -> text for the fields every writer carries."""
    return {
        "OBJECT_NAME": o.object_name,
        "OBJECT_ID": o.object_id,
        "CENTER_NAME": o.center_name,
        "REF_FRAME": o.ref_frame,
        "TIME_SYSTEM": o.time_system,
        "MEAN_ELEMENT_THEORY": o.mean_element_theory,
        "EPOCH": format_epoch(o.epoch),
        "MEAN_MOTION": repr(o.mean_motion),
        "ECCENTRICITY": repr(o.eccentricity),
        "INCLINATION": repr(o.inclination),
        "RA_OF_ASC_NODE": repr(o.ra_of_asc_node),
        "ARG_OF_PERICENTER": repr(o.arg_of_pericenter),
        "MEAN_ANOMALY": repr(o.mean_anomaly),
        "EPHEMERIS_TYPE": str(o.ephemeris_type),
        "CLASSIFICATION_TYPE": o.classification,
        "NORAD_CAT_ID": "" if o.norad_id is None else str(o.norad_id),
        "ELEMENT_SET_NO": str(o.element_set_no),
        "REV_AT_EPOCH": str(o.rev_at_epoch),
        "BSTAR": repr(o.bstar),
        "MEAN_MOTION_DOT": repr(o.mean_motion_dot),
        "MEAN_MOTION_DDOT": repr(o.mean_motion_ddot),
    }


def _omm_extra(o: Orbit) -> dict[str, str]:
    return {k: v for k, v in o.extra if k in _EXTRA_OMM or k.startswith("USER_DEFINED_")}


def write_omm_kvn(orbits: Iterable[Orbit]) -> str:
    """Write one KVN OMM per orbit, concatenated (as CelesTrak does for groups).

    Version 3.0 is written when the orbit carries OMM 3.0 header keywords, else 2.0.
    """
    out: list[str] = []
    for o in orbits:
        f, extra = _fields(o), _omm_extra(o)
        v3 = "CLASSIFICATION" in extra or "MESSAGE_ID" in extra
        out.append(f"CCSDS_OMM_VERS = {'3.0' if v3 else '2.0'}")
        if "CLASSIFICATION" in extra:
            out.append(f"CLASSIFICATION = {extra['CLASSIFICATION']}")
        out += [f"COMMENT {c}" for c in o.comments]
        out.append(f"CREATION_DATE = {o.creation_date}")
        out.append(f"ORIGINATOR = {o.originator}")
        if "MESSAGE_ID" in extra:
            out.append(f"MESSAGE_ID = {extra['MESSAGE_ID']}")
        out.append("")
        for key in METADATA:
            value = extra.get(key, f.get(key))
            if value is not None:
                out.append(f"{key:<20} = {value}")
        out.append("")
        for block in (MEAN_ELEMENTS, SPACECRAFT, TLE_PARAMETERS, COVARIANCE):
            lines = [f"{k:<20} = {extra.get(k, f.get(k))}" for k in block if k in f or k in extra]
            if lines:
                out += [*lines, ""]
        user = [(k, v) for k, v in extra.items() if k.startswith("USER_DEFINED_")]
        out += [f"{k} = {v}" for k, v in user]
        if user:
            out.append("")
    return "\n".join(out)


def write_omm_xml(orbits: Iterable[Orbit]) -> bytes:
    """Write an ``<ndm>`` holding one OMM 2.0 per orbit (valid against the NDM/XML schema)."""
    root = etree.Element("ndm")
    for o in orbits:
        f, extra = _fields(o), _omm_extra(o)
        omm = etree.SubElement(root, "omm", id="CCSDS_OMM_VERS", version="2.0")
        header = etree.SubElement(omm, "header")
        for c in o.comments:
            etree.SubElement(header, "COMMENT").text = c
        etree.SubElement(header, "CREATION_DATE").text = o.creation_date
        etree.SubElement(header, "ORIGINATOR").text = o.originator
        segment = etree.SubElement(etree.SubElement(omm, "body"), "segment")
        meta = etree.SubElement(segment, "metadata")
        for key in METADATA:
            value = extra.get(key, f.get(key))
            if value is not None:
                etree.SubElement(meta, key).text = value
        data = etree.SubElement(segment, "data")
        for block, keys in _BLOCKS.items():
            present = [k for k in keys if (k in f or k in extra) and k not in ("BTERM", "AGOM")]
            if present:
                el = etree.SubElement(data, block)
                for k in present:
                    if k == "NORAD_CAT_ID" and o.norad_id is None:
                        continue  # OMM 3.0 allows its absence; the 2.0 schema does not
                    etree.SubElement(el, k).text = extra.get(k, f.get(k))
        user = [(k, v) for k, v in extra.items() if k.startswith("USER_DEFINED_")]
        if user:
            ud = etree.SubElement(data, "userDefinedParameters")
            for k, v in user:
                etree.SubElement(ud, "USER_DEFINED", parameter=k.removeprefix("USER_DEFINED_")).text = v
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _record(o: Orbit) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "OBJECT_NAME": o.object_name,
        "OBJECT_ID": o.object_id,
        "EPOCH": format_epoch(o.epoch),
        "MEAN_MOTION": o.mean_motion,
        "ECCENTRICITY": o.eccentricity,
        "INCLINATION": o.inclination,
        "RA_OF_ASC_NODE": o.ra_of_asc_node,
        "ARG_OF_PERICENTER": o.arg_of_pericenter,
        "MEAN_ANOMALY": o.mean_anomaly,
        "EPHEMERIS_TYPE": o.ephemeris_type,
        "CLASSIFICATION_TYPE": o.classification,
        "NORAD_CAT_ID": o.norad_id,
        "ELEMENT_SET_NO": o.element_set_no,
        "REV_AT_EPOCH": o.rev_at_epoch,
        "BSTAR": o.bstar,
        "MEAN_MOTION_DOT": o.mean_motion_dot,
        "MEAN_MOTION_DDOT": o.mean_motion_ddot,
    }
    for key, value in (
        ("CENTER_NAME", o.center_name),
        ("REF_FRAME", o.ref_frame),
        ("MEAN_ELEMENT_THEORY", o.mean_element_theory),
    ):
        if value != {"CENTER_NAME": "EARTH", "REF_FRAME": "TEME", "MEAN_ELEMENT_THEORY": "SGP4"}[key]:
            rec[key] = value
    if o.creation_date:
        rec["CREATION_DATE"] = o.creation_date
    if o.originator:
        rec["ORIGINATOR"] = o.originator
    if o.comments:
        rec["COMMENT"] = "\n".join(o.comments)
    rec.update(dict(o.extra))
    return rec


def write_omm_json(orbits: Iterable[Orbit]) -> str:
    """CelesTrak-style JSON array (numbers as numbers); extra fields written as strings."""
    return json.dumps([_record(o) for o in orbits], indent=1)


def write_omm_csv(orbits: Iterable[Orbit]) -> str:
    """CelesTrak-style CSV; columns beyond CelesTrak's appear after them in first-seen order."""
    recs = [_record(o) for o in orbits]
    columns = list(CELESTRAK_FIELDS)
    for rec in recs:
        columns += [k for k in rec if k not in columns]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for rec in recs:
        writer.writerow([_json_value(rec.get(k)) for k in columns])
    return buf.getvalue()


def with_source(orbits: Iterable[Orbit], source: str) -> list[Orbit]:
    return [replace(o, source=source) for o in orbits]
