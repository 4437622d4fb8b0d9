"""Two- and three-line element sets: Alpha-5 catalogue numbers, checksums, reading and writing.

Values follow the OMM convention (MEAN_MOTION_DOT and _DDOT as printed). Writing truncates the
eccentricity to 7 digits and rounds BSTAR and the second derivative half-up to a 5-digit
mantissa, as CelesTrak does; a TLE read and written again gives the same values.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from processes.ssa.errors import ExportError, MessageError
from processes.ssa.records import Orbit
from processes.ssa.textio import DEFAULT_MAX_BYTES, decode_message

ALPHA5_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # A=10 ... Z=33; I and O are not used
MAX_ALPHA5 = 339_999
_US_PER_UNIT = 864  # 1e-8 day = 864 microseconds exactly


def alpha5_encode(number: int) -> str:
    """Five-character catalogue field: digits below 100,000, Alpha-5 up to 339,999."""
    if not 0 <= number <= MAX_ALPHA5:
        raise ExportError(
            f"catalogue number {number} cannot be written in a TLE (Alpha-5 allows 0..{MAX_ALPHA5})"
        )
    if number < 100_000:
        return f"{number:05d}"
    head, tail = divmod(number, 10_000)
    return f"{ALPHA5_LETTERS[head - 10]}{tail:04d}"


def alpha5_decode(field: str, line: int = 0) -> int:
    """Inverse of :func:`alpha5_encode`; leading blanks are accepted for numbers below 10,000."""
    text = field.strip()
    if len(field) != 5 or not text:
        raise MessageError(line, "NORAD_CAT_ID", f"catalogue field {field!r} must be 5 characters")
    head = text[0]
    if head.isdigit() and text.isdigit():
        return int(text)
    if head in ALPHA5_LETTERS and len(text) == 5 and text[1:].isdigit():
        return (ALPHA5_LETTERS.index(head) + 10) * 10_000 + int(text[1:])
    raise MessageError(line, "NORAD_CAT_ID", f"catalogue field {field!r} is neither digits nor Alpha-5")


def checksum(line: str) -> int:
    """Modulo-10 checksum of the first 68 columns: digits count their value, '-' counts 1."""
    total = 0
    for ch in line[:68]:
        if ch.isdigit():
            total += ord(ch) - 48
        elif ch == "-":
            total += 1
    return total % 10


# --------------------------------------------------------------------------- reading


def read_tle(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Orbit]:
    """Read TLE (2LE) or 3LE text (name lines optional, Space-Track's '0 ' prefix accepted)."""
    text = decode_message(data, max_bytes)
    lines = [(n, raw.rstrip()) for n, raw in enumerate(text.split("\n"), start=1)]
    lines = [(n, s) for n, s in lines if s.strip()]
    orbits: list[Orbit] = []
    name = ""
    i = 0
    while i < len(lines):
        n, s = lines[i]
        if s.startswith("1 ") and len(s) >= 60:
            if i + 1 >= len(lines) or not lines[i + 1][1].startswith("2 "):
                raise MessageError(n, "line 2", "line 1 is not followed by line 2")
            orbits.append(parse_tle_lines(name, s, lines[i + 1][1], n))
            name = ""
            i += 2
            continue
        if s.startswith("2 ") and len(s) >= 60:
            raise MessageError(n, "line 1", "line 2 without a line 1 before it")
        if name:
            raise MessageError(n, "OBJECT_NAME", f"two name lines in a row ({name!r}, {s.strip()!r})")
        name = s[2:].strip() if s.startswith("0 ") else s.strip()
        if len(name) > 80:
            raise MessageError(n, "OBJECT_NAME", "name line longer than 80 characters")
        i += 1
    if name:
        raise MessageError(lines[-1][0], "line 1", f"name {name!r} is not followed by an element set")
    if not orbits:
        raise MessageError(1, "line 1", "no element set found")
    return orbits


def _field_float(text: str, line: int, keyword: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise MessageError(line, keyword, f"{text.strip()!r} is not a number") from None


def _implied(text: str, line: int, keyword: str) -> float:
    """Decode an implied-decimal field such as ' 11606-4' (0.11606e-4)."""
    s = text.strip()
    if not s:
        return 0.0
    sign = -1.0 if s[0] == "-" else 1.0
    s = s.lstrip("+-")
    if len(s) < 3 or s[-2] not in "+-" or not s[:-2].isdigit() or not s[-1].isdigit():
        raise MessageError(line, keyword, f"{text!r} is not an implied-decimal number like ' 12345-4'")
    return sign * float(f"0.{s[:-2]}e{s[-2:]}")


def _intl_designator(field: str) -> str:
    s = field.strip()
    if len(s) < 5 or not s[:5].isdigit():
        return s
    yy = int(s[:2])
    return f"{1900 + yy if yy >= 57 else 2000 + yy}-{s[2:5]}{s[5:]}"


def parse_tle_lines(name: str, line1: str, line2: str, line: int = 0) -> Orbit:
    """Parse one element set; ``line`` is the file line of line 1 (line 2 is the next one)."""
    l1, l2 = line1.rstrip(), line2.rstrip()
    for k, (text, lno) in enumerate(((l1, line), (l2, line + 1 if line else 0)), start=1):
        if len(text) != 69:
            raise MessageError(lno, f"line {k}", f"TLE line must be 69 characters, got {len(text)}")
        if not text[68].isdigit() or checksum(text) != int(text[68]):
            raise MessageError(
                lno, "checksum", f"line {k} checksum {text[68]!r} != computed {checksum(text)}"
            )
    ln2 = line + 1 if line else 0
    satnum = alpha5_decode(l1[2:7], line)
    if alpha5_decode(l2[2:7], ln2) != satnum:
        raise MessageError(ln2, "NORAD_CAT_ID", "catalogue numbers of line 1 and line 2 differ")
    yy_text, day_text = l1[18:20], l1[20:32].strip()
    if not yy_text.isdigit() or not day_text.replace(".", "", 1).isdigit():
        raise MessageError(line, "EPOCH", f"bad epoch field {l1[18:32]!r}")
    yy = int(yy_text)
    year = 1900 + yy if yy >= 57 else 2000 + yy
    doy_text, _, frac_text = day_text.partition(".")
    doy = int(doy_text)
    if not 1 <= doy <= 366:
        raise MessageError(line, "EPOCH", f"day of year {doy} out of range")
    if len(frac_text) <= 8:
        micros = int((frac_text + "00000000")[:8]) * _US_PER_UNIT
    else:
        micros = int((Decimal("0." + frac_text) * 86_400_000_000).to_integral_value(ROUND_HALF_UP))
    epoch = datetime(year, 1, 1, tzinfo=UTC) + timedelta(days=doy - 1, microseconds=micros)
    ndot_text = l1[33:43]
    eph = l1[62].strip()
    elset = l1[64:68].strip()
    rev = l2[63:68].strip()
    ecc_text = l2[26:33].strip()
    if not ecc_text.isdigit():
        raise MessageError(ln2, "ECCENTRICITY", f"bad eccentricity field {l2[26:33]!r}")
    try:
        return Orbit(
            epoch=epoch,
            mean_motion=_field_float(l2[52:63], ln2, "MEAN_MOTION"),
            eccentricity=float("0." + ecc_text),
            inclination=_field_float(l2[8:16], ln2, "INCLINATION"),
            ra_of_asc_node=_field_float(l2[17:25], ln2, "RA_OF_ASC_NODE"),
            arg_of_pericenter=_field_float(l2[34:42], ln2, "ARG_OF_PERICENTER"),
            mean_anomaly=_field_float(l2[43:51], ln2, "MEAN_ANOMALY"),
            norad_id=satnum,
            object_name=name,
            object_id=_intl_designator(l1[9:17]),
            bstar=_implied(l1[53:61], line, "BSTAR"),
            mean_motion_dot=_field_float(ndot_text, line, "MEAN_MOTION_DOT"),
            mean_motion_ddot=_implied(l1[44:52], line, "MEAN_MOTION_DDOT"),
            ephemeris_type=int(eph) if eph.isdigit() else 0,
            classification=l1[7].strip() or "U",
            element_set_no=int(elset) if elset.isdigit() else 0,
            rev_at_epoch=int(rev) if rev.isdigit() else 0,
            mean_element_theory="SGP4",
        )
    except ValueError as exc:
        raise MessageError(line, "elements", str(exc)) from None


# --------------------------------------------------------------------------- writing


def _implied_field(value: float, keyword: str) -> str:
    """Encode as sign + 5-digit mantissa + signed exponent digit (8 characters)."""
    if value == 0.0:
        return " 00000+0"
    d = abs(Decimal(repr(value)))
    exp = d.adjusted() + 1
    mant = int((d.scaleb(-exp) * 100_000).to_integral_value(ROUND_HALF_UP))
    if mant >= 100_000:
        mant //= 10
        exp += 1
    if exp < -9:
        return " 00000+0"
    if exp > 9:
        raise ExportError(f"{keyword} {value} too large for a TLE field")
    return f"{'-' if value < 0 else ' '}{mant:05d}{'-' if exp < 0 else '+'}{abs(exp)}"


def _tle_epoch(epoch: datetime) -> str:
    epoch = epoch.astimezone(UTC)
    year = epoch.year
    micros = (epoch - datetime(year, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    units = (2 * micros + _US_PER_UNIT) // (2 * _US_PER_UNIT)  # round half up to 1e-8 day
    days, frac = divmod(units, 100_000_000)
    if not 1957 <= year <= 2056:
        raise ExportError(f"epoch year {year} outside the TLE range 1957..2056")
    return f"{year % 100:02d}{days + 1:03d}.{frac:08d}"


def _designator_field(object_id: str) -> str:
    s = object_id.strip()
    if len(s) >= 9 and s[4] == "-" and s[:4].isdigit():
        return f"{s[2:4]}{s[5:]}"[:8].ljust(8)
    return s[:8].ljust(8)


def tle_lines(orbit: Orbit) -> tuple[str, str]:
    """Lines 1 and 2 of ``orbit`` with checksums; ExportError for what a TLE cannot hold."""
    if orbit.norad_id is None:
        raise ExportError("an orbit without NORAD_CAT_ID cannot be written as a TLE")
    sat = alpha5_encode(orbit.norad_id)
    ndot = round(orbit.mean_motion_dot, 8)
    if abs(ndot) >= 1.0:
        raise ExportError(f"MEAN_MOTION_DOT {orbit.mean_motion_dot} too large for a TLE")
    ndot_text = f"{abs(ndot):.8f}"[1:]
    ecc = int((Decimal(repr(orbit.eccentricity)) * 10_000_000).to_integral_value(ROUND_DOWN))
    l1 = (
        f"1 {sat}{orbit.classification[:1] or 'U'} {_designator_field(orbit.object_id)} "
        f"{_tle_epoch(orbit.epoch)} {'-' if ndot < 0 else ' '}{ndot_text} "
        f"{_implied_field(orbit.mean_motion_ddot, 'MEAN_MOTION_DDOT')} "
        f"{_implied_field(orbit.bstar, 'BSTAR')} "
        f"{orbit.ephemeris_type % 10} {orbit.element_set_no % 10000:4d}"
    )
    l2 = (
        f"2 {sat} {orbit.inclination:8.4f} {orbit.ra_of_asc_node % 360.0:8.4f} {ecc:07d} "
        f"{orbit.arg_of_pericenter % 360.0:8.4f} {orbit.mean_anomaly % 360.0:8.4f} "
        f"{orbit.mean_motion:11.8f}{orbit.rev_at_epoch % 100000:5d}"
    )
    if len(l1) != 68 or len(l2) != 68:
        raise ExportError(f"element set of {orbit.norad_id} does not fit the TLE columns")
    return l1 + str(checksum(l1)), l2 + str(checksum(l2))


def write_tle(orbits: list[Orbit], *, names: bool = True) -> str:
    """Write 3LE (``names=True``, names padded to 24 characters) or 2LE text."""
    out: list[str] = []
    for orbit in orbits:
        l1, l2 = tle_lines(orbit)
        if names:
            out.append(orbit.object_name[:24].ljust(24))
        out += [l1, l2]
    return "\n".join(out) + "\n"
