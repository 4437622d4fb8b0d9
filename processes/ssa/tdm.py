"""CCSDS Tracking Data Message (TDM 1.0/2.0) reader and writers, KVN and XML.

Only TIME_SYSTEM = UTC is accepted. Every error names the line, the keyword and the reason.
XML is streamed (lxml iterparse, hardened like ``safexml.parse_xml``): memory stays flat.
Epochs are kept to the microsecond; values are floats written back with ``repr`` (exact).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from lxml import etree

from processes.ssa.epochs import format_epoch, parse_epoch
from processes.ssa.errors import MessageError, MessageTooLargeError
from processes.ssa.records import AngleFrame, Observation, Tdm, TdmSegment
from processes.ssa.safexml import iter_xml, local_name, text_of
from processes.ssa.textio import (
    DEFAULT_MAX_BYTES,
    MAX_LINE_CHARS,
    comment_text,
    decode_message,
    is_xml,
    split_keyword,
)

DEFAULT_MAX_OBSERVATIONS = 5_000_000
VERSIONS = ("1.0", "2.0")
HEADER_KEYWORDS = ("CREATION_DATE", "ORIGINATOR", "MESSAGE_ID")
_N = range(1, 6)
# Metadata keywords of TDM 2.0 (503.0-B-2) in the order of the standard (and of the XML schema).
METADATA_KEYWORDS: tuple[str, ...] = (
    "TRACK_ID",
    "DATA_TYPES",
    "TIME_SYSTEM",
    "START_TIME",
    "STOP_TIME",
    *(f"PARTICIPANT_{i}" for i in _N),
    "MODE",
    "PATH",
    "PATH_1",
    "PATH_2",
    *(f"EPHEMERIS_NAME_{i}" for i in _N),
    "TRANSMIT_BAND",
    "RECEIVE_BAND",
    "TURNAROUND_NUMERATOR",
    "TURNAROUND_DENOMINATOR",
    "TIMETAG_REF",
    "INTEGRATION_INTERVAL",
    "INTEGRATION_REF",
    "FREQ_OFFSET",
    "RANGE_MODE",
    "RANGE_MODULUS",
    "RANGE_UNITS",
    "ANGLE_TYPE",
    "REFERENCE_FRAME",
    "INTERPOLATION",
    "INTERPOLATION_DEGREE",
    "DOPPLER_COUNT_BIAS",
    "DOPPLER_COUNT_SCALE",
    "DOPPLER_COUNT_ROLLOVER",
    *(f"TRANSMIT_DELAY_{i}" for i in _N),
    *(f"RECEIVE_DELAY_{i}" for i in _N),
    "DATA_QUALITY",
    "CORRECTION_ANGLE_1",
    "CORRECTION_ANGLE_2",
    "CORRECTION_DOPPLER",
    "CORRECTION_MAG",
    "CORRECTION_RANGE",
    "CORRECTION_RCS",
    "CORRECTION_RECEIVE",
    "CORRECTION_TRANSMIT",
    "CORRECTION_ABERRATION_YEARLY",
    "CORRECTION_ABERRATION_DIURNAL",
    "CORRECTIONS_APPLIED",
)
TDM2_ONLY_METADATA = frozenset(
    {
        "TRACK_ID",
        "DATA_TYPES",
        *(f"EPHEMERIS_NAME_{i}" for i in _N),
        "INTERPOLATION",
        "INTERPOLATION_DEGREE",
        "DOPPLER_COUNT_BIAS",
        "DOPPLER_COUNT_SCALE",
        "DOPPLER_COUNT_ROLLOVER",
        "CORRECTION_MAG",
        "CORRECTION_RCS",
        "CORRECTION_ABERRATION_YEARLY",
        "CORRECTION_ABERRATION_DIURNAL",
    }
)
_METADATA_SET = frozenset(METADATA_KEYWORDS)
DATA_KEYWORDS: frozenset[str] = frozenset(
    {
        "ANGLE_1",
        "ANGLE_2",
        "CARRIER_POWER",
        "CLOCK_BIAS",
        "CLOCK_DRIFT",
        "DOPPLER_COUNT",
        "DOPPLER_INSTANTANEOUS",
        "DOPPLER_INTEGRATED",
        "DOR",
        "MAG",
        "PC_N0",
        "PR_N0",
        "PRESSURE",
        "RANGE",
        "RCS",
        "RECEIVE_FREQ",
        *(f"RECEIVE_FREQ_{i}" for i in _N),
        *(f"RECEIVE_PHASE_CT_{i}" for i in _N),
        "RHUMIDITY",
        "STEC",
        "TEMPERATURE",
        *(f"TRANSMIT_FREQ_{i}" for i in _N),
        *(f"TRANSMIT_FREQ_RATE_{i}" for i in _N),
        *(f"TRANSMIT_PHASE_CT_{i}" for i in _N),
        "TROPO_DRY",
        "TROPO_WET",
        "VLBI_DELAY",
    }
)
TDM2_ONLY_DATA = frozenset(
    {
        "DOPPLER_COUNT",
        "MAG",
        "RCS",
        *(f"RECEIVE_PHASE_CT_{i}" for i in _N),
        *(f"TRANSMIT_PHASE_CT_{i}" for i in _N),
    }
)
_ENUMS: dict[str, frozenset[str]] = {
    "ANGLE_TYPE": frozenset({"AZEL", "RADEC", "XEYN", "XSYE"}),
    "DATA_QUALITY": frozenset({"RAW", "VALIDATED", "DEGRADED"}),
    "RANGE_UNITS": frozenset({"KM", "RU", "S"}),
    "MODE": frozenset({"SEQUENTIAL", "SINGLE_DIFF"}),
    "TIMETAG_REF": frozenset({"TRANSMIT", "RECEIVE"}),
    "INTEGRATION_REF": frozenset({"START", "MIDDLE", "END"}),
    "CORRECTIONS_APPLIED": frozenset({"YES", "NO"}),
}


# --------------------------------------------------------------------------- reading


def read_tdm(
    data: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_observations: int = DEFAULT_MAX_OBSERVATIONS,
) -> Tdm:
    """Read a TDM in KVN or XML (detected from the first character)."""
    if not isinstance(data, str) and data.lstrip()[:1] == b"<":
        return _read_xml(data, max_bytes, max_observations)
    text = decode_message(data, max_bytes)
    if is_xml(text):
        return _read_xml(text, max_bytes, max_observations)
    return _read_kvn(text, max_observations)


class _Checker:
    """Per-segment validation shared by the KVN and XML readers."""

    def __init__(self, max_observations: int) -> None:
        self.max_observations = max_observations
        self.count = 0
        self.time_systems: list[tuple[int, str]] = []

    def metadata(self, seg: TdmSegment, line: int, key: str, value: str) -> None:
        if key not in _METADATA_SET:
            raise MessageError(line, key, "not a TDM metadata keyword")
        if key in seg.metadata:
            raise MessageError(line, key, "keyword repeated in the same metadata block")
        allowed = _ENUMS.get(key)
        if allowed is not None and value.upper() not in allowed:
            raise MessageError(line, key, f"value {value!r} not one of {', '.join(sorted(allowed))}")
        if key in ("START_TIME", "STOP_TIME"):
            parse_epoch(value, line, key)
        if key == "TIME_SYSTEM":
            self.time_systems.append((line, value.upper()))
        seg.metadata[key] = value

    def close_metadata(self, seg: TdmSegment, line: int) -> None:
        for required in ("TIME_SYSTEM", "PARTICIPANT_1"):
            if required not in seg.metadata:
                raise MessageError(line, required, "mandatory metadata keyword missing")
        ts = seg.metadata["TIME_SYSTEM"].upper()
        line = self.time_systems[-1][0] or line
        if ts != "UTC":
            utc = [ln for ln, name in self.time_systems if name == "UTC"]
            if utc:
                raise MessageError(
                    line,
                    "TIME_SYSTEM",
                    f"mixed time systems (UTC at line {utc[0]}, {ts} here): only UTC is supported",
                )
            raise MessageError(line, "TIME_SYSTEM", f"time system {ts} is not supported: only UTC")
        if any(name != "UTC" for _, name in self.time_systems):
            bad = next((ln, name) for ln, name in self.time_systems if name != "UTC")
            raise MessageError(
                bad[0], "TIME_SYSTEM", f"mixed time systems ({bad[1]} and UTC): only UTC is supported"
            )

    def value(self, seg: TdmSegment, key: str, value: float, line: int, frame: bool) -> None:
        """Check one measurement's range; ``frame``: RADEC/AZEL angles (ANGLE_2 within +-90)."""
        if key == "ANGLE_2":
            if frame and not -90.0 <= value <= 90.0:
                raise MessageError(
                    line, key, f"{value} out of [-90, 90] degrees for {seg.angle_frame} angles"
                )
            if not -180.0 <= value <= 360.0:
                raise MessageError(line, key, f"{value} out of [-180, 360] degrees")
        elif key == "ANGLE_1":
            if not -180.0 <= value <= 360.0:
                raise MessageError(line, key, f"{value} out of [-180, 360] degrees")
        elif (key == "RCS" or key == "RANGE") and value < 0.0:
            raise MessageError(line, key, f"{value} must not be negative")

    def add(self, seg: TdmSegment, epoch: datetime, key: str, value: float, line: int, frame: bool) -> None:
        """Validate and store one measurement (the XML reader's path; KVN inlines this)."""
        self.value(seg, key, value, line, frame)
        self.count += 1
        if self.count > self.max_observations:
            raise MessageTooLargeError(
                line, key, f"more than {self.max_observations} observations in one message"
            )
        seg.epochs.append(epoch)
        seg.keywords.append(key)
        seg.values.append(value)
        seg.lines.append(line)
        seg.uncertainties.append(None)


def _float(text: str, line: int, key: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise MessageError(line, key, f"value {text!r} is not a number") from None
    if value != value or value - value != 0.0:
        raise MessageError(line, key, f"value {text!r} is not finite")
    return value


_CHECKED = frozenset({"ANGLE_1", "ANGLE_2", "RANGE", "RCS"})


def _no_append(_value: object) -> None:
    raise AssertionError("data line outside a DATA block")


def _data_line(line: str, lineno: int) -> tuple[str, list[str]]:
    """Slow path of a data line (``KEY=epoch value`` spacing variants): ('', []) if not one."""
    if len(line) > MAX_LINE_CHARS:
        raise MessageTooLargeError(lineno, "", f"line longer than {MAX_LINE_CHARS} characters")
    eq = line.find("=")
    if eq <= 0:
        return "", []
    key = line[:eq].rstrip()
    rest = line[eq + 1 :].split()
    if key not in DATA_KEYWORDS:
        raise MessageError(lineno, key, "not a TDM data keyword")
    if len(rest) != 2:
        raise MessageError(lineno, key, f"expected '{key} = epoch value', got {line!r}")
    return key, [key, "=", *rest]


def _read_kvn(text: str, max_observations: int) -> Tdm:
    lines = text.split("\n")
    tdm = Tdm(version="")
    check = _Checker(max_observations)
    seg: TdmSegment | None = None
    state = "start"  # start, header, meta, between, data
    frame = False
    count = 0
    last_epoch_text = ""
    last_epoch = datetime(1970, 1, 1)
    e_app: Callable[[datetime], None] = _no_append
    k_app: Callable[[str], None] = _no_append
    v_app: Callable[[float], None] = _no_append
    l_app: Callable[[int], None] = _no_append
    u_app: Callable[[float | None], None] = _no_append
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if state == "data":
            assert seg is not None
            parts = line.split()
            if (
                len(parts) == 4
                and parts[1] == "="
                and parts[0] in DATA_KEYWORDS
                and len(line) <= MAX_LINE_CHARS
            ):
                key = parts[0]
            else:
                key, parts = _data_line(line, lineno)
                if not key:
                    if line.startswith("COMMENT") and (len(line) == 7 or line[7] in " \t"):
                        seg.data_comments.append(comment_text(line))
                        continue
                    if line == "DATA_STOP":
                        if not seg.keywords:
                            raise MessageError(
                                lineno, "DATA_STOP", "empty DATA block: at least one data line is required"
                            )
                        check.count = count
                        tdm.segments.append(seg)
                        seg = None
                        state = "header"
                        continue
                    if line == "META_START":
                        raise MessageError(lineno, "DATA_STOP", "missing DATA_STOP before META_START")
                    raise MessageError(lineno, line.split(" ", 1)[0], "unexpected line in DATA block")
            etext = parts[2]
            if etext != last_epoch_text:
                last_epoch = parse_epoch(etext, lineno, key)
                last_epoch_text = etext
            try:
                num = float(parts[3])
            except ValueError:
                raise MessageError(lineno, key, f"value {parts[3]!r} is not a number") from None
            if num - num != 0.0:
                raise MessageError(lineno, key, f"value {parts[3]!r} is not finite")
            if key in _CHECKED:
                check.value(seg, key, num, lineno, frame)
            count += 1
            if count > max_observations:
                raise MessageTooLargeError(
                    lineno, key, f"more than {max_observations} observations in one message"
                )
            e_app(last_epoch)
            k_app(key)
            v_app(num)
            l_app(lineno)
            u_app(None)
            continue
        if state == "start":
            key, value = split_keyword(line, lineno)
            if key != "CCSDS_TDM_VERS":
                raise MessageError(lineno, key, "a TDM must start with CCSDS_TDM_VERS")
            if value not in VERSIONS:
                raise MessageError(lineno, key, f"version {value!r} not supported (1.0 or 2.0)")
            tdm.version = value
            state = "header"
            continue
        if line.startswith("COMMENT") and (len(line) == 7 or line[7] in " \t"):
            if state == "header" and not tdm.segments:
                tdm.header_comments.append(comment_text(line))
            elif state == "meta":
                assert seg is not None
                seg.metadata_comments.append(comment_text(line))
            else:
                raise MessageError(lineno, "COMMENT", "comment outside a header, metadata or data block")
            continue
        if state == "header":
            if line == "META_START":
                if not tdm.segments:
                    for required in ("CREATION_DATE", "ORIGINATOR"):
                        if required not in tdm.header:
                            raise MessageError(lineno, required, "mandatory header keyword missing")
                seg = TdmSegment(metadata={}, meta_line=lineno)
                state = "meta"
                continue
            if line in ("DATA_START", "DATA_STOP", "META_STOP"):
                raise MessageError(lineno, line, "block keyword out of order (expected META_START)")
            key, value = split_keyword(line, lineno)
            if tdm.segments or key not in HEADER_KEYWORDS:
                raise MessageError(lineno, key, "not a TDM header keyword here")
            if key in tdm.header:
                raise MessageError(lineno, key, "header keyword repeated")
            if key == "CREATION_DATE":
                parse_epoch(value, lineno, key)
            tdm.header[key] = value
            continue
        if state == "meta":
            assert seg is not None
            if line == "META_STOP":
                check.close_metadata(seg, lineno)
                state = "between"
                continue
            if line in ("META_START", "DATA_START", "DATA_STOP"):
                raise MessageError(lineno, "META_STOP", f"missing META_STOP before {line}")
            key, value = split_keyword(line, lineno)
            check.metadata(seg, lineno, key, value)
            continue
        if state == "between":
            assert seg is not None
            if line != "DATA_START":
                raise MessageError(lineno, line.split(" ", 1)[0], "expected DATA_START after META_STOP")
            seg.data_line = lineno
            frame = seg.angle_frame is not None
            e_app, k_app, v_app = seg.epochs.append, seg.keywords.append, seg.values.append
            l_app, u_app = seg.lines.append, seg.uncertainties.append
            last_epoch_text = ""
            state = "data"
            continue
    end = len(lines)
    if state == "start":
        raise MessageError(1, "CCSDS_TDM_VERS", "empty message: a TDM must start with CCSDS_TDM_VERS")
    if state == "data":
        raise MessageError(end, "DATA_STOP", "missing DATA_STOP at end of message")
    if state in ("meta", "between"):
        raise MessageError(
            end, "META_STOP" if state == "meta" else "DATA_START", "message ends inside a segment"
        )
    if not tdm.segments:
        raise MessageError(end, "META_START", "a TDM needs at least one segment")
    return tdm


_XML_PARENTS = {
    "tdm": ("", "ndm"),
    "header": ("tdm",),
    "body": ("tdm",),
    "segment": ("body",),
    "metadata": ("segment",),
    "data": ("segment",),
    "observation": ("data",),
}


def _read_xml(data: bytes | str, max_bytes: int, max_observations: int) -> Tdm:
    """Stream a TDM in NDM/XML: each <observation> is consumed and freed as soon as it ends."""
    tdm: Tdm | None = None
    check = _Checker(max_observations)
    seg: TdmSegment | None = None
    frame = False
    seen: dict[str, int] = {}
    stack: list[str] = []
    for event, el in iter_xml(data, max_bytes):
        name = local_name(el)
        line = el.sourceline or 0
        if event == "start":
            parent = stack[-1] if stack else ""
            stack.append(name)
            if len(stack) == 1 and name not in ("tdm", "ndm"):
                raise MessageError(line, name, "root element must be <tdm>")
            allowed = _XML_PARENTS.get(name)
            if allowed is not None and parent not in allowed:
                raise MessageError(line, name, f"<{name}> is not allowed inside <{parent or 'the document'}>")
            if allowed is None and parent in ("tdm", "body", "segment", "data"):
                raise MessageError(line, name, f"unexpected <{name}> inside <{parent}>")
            if name == "tdm":
                if tdm is not None:
                    raise MessageError(line, "tdm", "an <ndm> wrapper must hold exactly one <tdm>")
                version = el.get("version", "")
                if el.get("id") != "CCSDS_TDM_VERS" or version not in VERSIONS:
                    raise MessageError(
                        line, "CCSDS_TDM_VERS", f"id/version attributes not a supported TDM ({version!r})"
                    )
                tdm = Tdm(version=version)
            elif name == "body" and "header" not in seen:
                raise MessageError(line, "header", "<tdm> must contain <header> then <body>")
            elif name == "segment":
                seen.pop("metadata", None)
                seen.pop("data", None)
            elif name == "data":
                if seg is None or "metadata" not in seen:
                    raise MessageError(line, "metadata", "<segment> must contain <metadata> then <data>")
                seg.data_line = line
            continue
        stack.pop()
        parent = stack[-1] if stack else ""
        seen[name] = line
        if name == "observation":
            assert seg is not None
            items = [c for c in el if local_name(c)]
            if len(items) != 2 or local_name(items[0]) != "EPOCH":
                raise MessageError(line, "observation", "<observation> must hold <EPOCH> and one measurement")
            kw = local_name(items[1])
            vline = items[1].sourceline or line
            if kw not in DATA_KEYWORDS:
                raise MessageError(vline, kw, "not a TDM data keyword")
            epoch = parse_epoch(text_of(items[0]), items[0].sourceline or line, "EPOCH")
            check.add(seg, epoch, kw, _float(text_of(items[1]), vline, kw), vline, frame)
            _release(el)
        elif name == "COMMENT" and parent == "data":
            assert seg is not None
            seg.data_comments.append(el.text or "")
            _release(el)
        elif name == "header":
            assert tdm is not None
            for child in el:
                key = local_name(child)
                if key == "COMMENT":
                    tdm.header_comments.append(child.text or "")
                elif key in HEADER_KEYWORDS and key not in tdm.header:
                    if key == "CREATION_DATE":
                        parse_epoch(text_of(child), child.sourceline or 0, key)
                    tdm.header[key] = text_of(child)
                elif key:
                    raise MessageError(child.sourceline or 0, key, "not a TDM header keyword here")
            for required in ("CREATION_DATE", "ORIGINATOR"):
                if required not in tdm.header:
                    raise MessageError(line, required, "mandatory header keyword missing")
        elif name == "metadata":
            seg = TdmSegment(metadata={}, meta_line=line)
            for child in el:
                key = local_name(child)
                if key == "COMMENT":
                    seg.metadata_comments.append(child.text or "")
                elif key:
                    check.metadata(seg, child.sourceline or 0, key, text_of(child))
            check.close_metadata(seg, line)
            frame = seg.angle_frame is not None
        elif name == "data":
            assert seg is not None
            if not seg.keywords:
                raise MessageError(line, "data", "empty <data>: at least one observation is required")
        elif name == "segment":
            if "data" not in seen or seg is None:
                raise MessageError(line, "segment", "<segment> must contain <metadata> then <data>")
            assert tdm is not None
            tdm.segments.append(seg)
            seg = None
            _release(el)
        elif name == "body":
            assert tdm is not None
            if not tdm.segments:
                raise MessageError(line, "body", "a TDM needs at least one segment")
        elif name == "tdm" and "body" not in seen:
            raise MessageError(line, "body", "<tdm> must contain <header> then <body>")
    if tdm is None:
        raise MessageError(0, "tdm", "no <tdm> element")
    return tdm


def _release(el: etree._Element) -> None:
    """Free a consumed element and the siblings before it (streaming reads keep memory flat)."""
    el.clear()
    parent = el.getparent()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]


# --------------------------------------------------------------------------- writing


def _ordered_metadata(metadata: dict[str, str]) -> list[tuple[str, str]]:
    return [(k, metadata[k]) for k in METADATA_KEYWORDS if k in metadata]


def write_tdm_kvn(tdm: Tdm) -> str:
    """Write a TDM as KVN. Header and metadata keep their order; values are exact (``repr``)."""
    out: list[str] = [f"CCSDS_TDM_VERS = {tdm.version or '2.0'}"]
    out += [f"COMMENT {c}" for c in tdm.header_comments]
    for key in HEADER_KEYWORDS:
        if key in tdm.header:
            out.append(f"{key} = {tdm.header[key]}")
    for seg in tdm.segments:
        out.append("")
        out.append("META_START")
        out += [f"COMMENT {c}" for c in seg.metadata_comments]
        width = max((len(k) for k in seg.metadata), default=0)
        out += [f"{k:<{width}} = {v}" for k, v in seg.metadata.items()]
        out.append("META_STOP")
        out.append("")
        out.append("DATA_START")
        out += [f"COMMENT {c}" for c in seg.data_comments]
        last: datetime | None = None
        etext = ""
        for epoch, key, value in zip(seg.epochs, seg.keywords, seg.values, strict=True):
            if epoch is not last:
                etext = format_epoch(epoch)
                last = epoch
            out.append(f"{key} = {etext} {value!r}")
        out.append("DATA_STOP")
    out.append("")
    return "\n".join(out)


def tdm2_features(tdm: Tdm) -> list[str]:
    """Keywords used by ``tdm`` that TDM 1.0 does not define (empty: writable as 1.0)."""
    found: set[str] = {k for k in tdm.header if k == "MESSAGE_ID"}
    for seg in tdm.segments:
        found |= TDM2_ONLY_METADATA.intersection(seg.metadata)
        found |= TDM2_ONLY_DATA.intersection(seg.keywords)
    return sorted(found)


def write_tdm_xml(tdm: Tdm, version: str | None = None) -> bytes:
    """Write a TDM as NDM/XML (``<tdm id="CCSDS_TDM_VERS">``), metadata in schema order.

    ``version="1.0"`` writes a document valid against the TDM 1.0 XML schema; it refuses
    TDM 2.0 keywords (MAG, RCS, TRACK_ID...) with ValueError rather than write an invalid file.
    """
    version = version or tdm.version or "2.0"
    if version not in VERSIONS:
        raise ValueError(f"TDM version {version!r} not supported")
    if version == "1.0" and (extra := tdm2_features(tdm)):
        raise ValueError(f"TDM 1.0 cannot carry {', '.join(extra)}; write version 2.0")
    root = etree.Element("tdm", id="CCSDS_TDM_VERS", version=version)
    header = etree.SubElement(root, "header")
    for c in tdm.header_comments:
        etree.SubElement(header, "COMMENT").text = c
    for key in HEADER_KEYWORDS:
        if key in tdm.header and not (key == "MESSAGE_ID" and version == "1.0"):
            etree.SubElement(header, key).text = tdm.header[key]
    body = etree.SubElement(root, "body")
    for seg in tdm.segments:
        seg_el = etree.SubElement(body, "segment")
        meta = etree.SubElement(seg_el, "metadata")
        for c in seg.metadata_comments:
            etree.SubElement(meta, "COMMENT").text = c
        for key, value in _ordered_metadata(seg.metadata):
            etree.SubElement(meta, key).text = value
        data = etree.SubElement(seg_el, "data")
        for c in seg.data_comments:
            etree.SubElement(data, "COMMENT").text = c
        for epoch, key, num in zip(seg.epochs, seg.keywords, seg.values, strict=True):
            obs_el = etree.SubElement(data, "observation")
            etree.SubElement(obs_el, "EPOCH").text = format_epoch(epoch)
            etree.SubElement(obs_el, key).text = repr(num)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def make_segment(
    observations: Iterable[Observation],
    *,
    sensor: str,
    target: str,
    angle_frame: AngleFrame | None = None,
    track_id: str = "",
    quality: str = "",
    extra_metadata: dict[str, str] | None = None,
) -> TdmSegment:
    """Build a UTC segment (PARTICIPANT_1 = sensor, PARTICIPANT_2 = object, PATH 2,1)."""
    obs = list(observations)
    if not obs:
        raise ValueError("a TDM segment needs at least one observation")
    meta: dict[str, str] = {}
    if track_id:
        meta["TRACK_ID"] = track_id
    meta["TIME_SYSTEM"] = "UTC"
    meta["START_TIME"] = format_epoch(min(o.epoch for o in obs))
    meta["STOP_TIME"] = format_epoch(max(o.epoch for o in obs))
    meta["PARTICIPANT_1"] = sensor
    meta["PARTICIPANT_2"] = target
    meta["MODE"] = "SEQUENTIAL"
    meta["PATH"] = "2,1"
    if any(o.type == "RANGE" for o in obs):
        meta["RANGE_UNITS"] = "km"
    if angle_frame is not None:
        meta["ANGLE_TYPE"] = angle_frame.value
        if angle_frame is AngleFrame.RADEC:
            meta["REFERENCE_FRAME"] = "EME2000"
    if quality:
        meta["DATA_QUALITY"] = quality
    meta.update(extra_metadata or {})
    return TdmSegment.from_observations({k: meta[k] for k in METADATA_KEYWORDS if k in meta}, obs)
