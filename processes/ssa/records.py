"""Typed records of the SSA domain: objects, sensors, observations, TDM segments and orbits."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

MAX_NORAD_ID = 999_999_999  # CCSDS OMM allows up to nine digits
MU_EARTH_KM3_S2 = 398600.4418
EARTH_RADIUS_KM = 6378.137


class SensorKind(StrEnum):
    OPTICAL = "optical"
    RADAR = "radar"


class AngleFrame(StrEnum):
    RADEC = "RADEC"
    AZEL = "AZEL"


class ObservationType(StrEnum):
    """TDM data keywords the catalogue stores; other TDM keywords are read but not stored."""

    ANGLE_1 = "ANGLE_1"
    ANGLE_2 = "ANGLE_2"
    RANGE = "RANGE"
    DOPPLER_INSTANTANEOUS = "DOPPLER_INSTANTANEOUS"
    MAG = "MAG"
    RCS = "RCS"


class Regime(StrEnum):
    LEO = "LEO"
    MEO = "MEO"
    GEO = "GEO"
    HEO = "HEO"


def check_norad_id(value: int) -> int:
    """Return ``value`` if it is a valid catalogue number (1..999,999,999), else raise ValueError."""
    if isinstance(value, bool) or not 0 < value <= MAX_NORAD_ID:
        raise ValueError(f"NORAD catalogue number {value} out of range 1..{MAX_NORAD_ID} (at most 9 digits)")
    return value


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """A catalogued space object (SATCAT-like)."""

    norad_id: int
    name: str = ""
    cospar_id: str = ""  # international designator, e.g. 1998-067A
    object_type: str = ""  # PAYLOAD, ROCKET BODY, DEBRIS, UNKNOWN ...
    country: str = ""
    launch_date: date | None = None
    decay_date: date | None = None

    def __post_init__(self) -> None:
        check_norad_id(self.norad_id)


@dataclass(frozen=True, slots=True)
class Sensor:
    """A registered optical or radar sensor: its site and observing limits."""

    code: str
    kind: SensorKind
    latitude_deg: float
    longitude_deg: float
    height_m: float = 0.0
    min_elevation_deg: float = 10.0
    max_range_km: float | None = None
    limiting_magnitude: float | None = None
    angle_sigma_deg: float | None = None  # nominal 1-sigma noise, used as observation uncertainty
    range_sigma_km: float | None = None
    doppler_sigma_km_s: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.code or len(self.code) > 64 or self.code.strip() != self.code:
            raise ValueError(f"sensor code {self.code!r} must be 1..64 characters without outer blanks")
        if not -90.0 <= self.latitude_deg <= 90.0:
            raise ValueError(f"sensor {self.code}: latitude {self.latitude_deg} out of [-90, 90]")
        if not -180.0 <= self.longitude_deg <= 360.0:
            raise ValueError(f"sensor {self.code}: longitude {self.longitude_deg} out of [-180, 360]")
        if not -90.0 <= self.min_elevation_deg <= 90.0:
            raise ValueError(f"sensor {self.code}: min elevation {self.min_elevation_deg} out of [-90, 90]")
        object.__setattr__(self, "kind", SensorKind(self.kind))


@dataclass(slots=True)
class Observation:
    """One measurement: a TDM data line, with the context of its segment."""

    epoch: datetime  # aware, UTC
    type: str  # an ObservationType value, or another TDM data keyword
    value: float
    sensor: str = ""  # sensor code (TDM PARTICIPANT_1)
    object: str = ""  # object designator as sent (TDM PARTICIPANT_2): NORAD id, COSPAR id or name
    angle_frame: AngleFrame | None = None
    uncertainty: float | None = None  # 1-sigma, same unit as value
    track: str = ""  # TDM TRACK_ID or catalogue track id
    line: int = field(default=0, compare=False)  # source line, 0 if not from a file


@dataclass(slots=True)
class TdmSegment:
    """A TDM META/DATA block pair: a track of one sensor on one object.

    ``metadata`` keeps every metadata keyword with its raw value, in order, so a segment
    written back carries what it was read with. Data lines are stored column-wise (epochs,
    keywords, values, source lines, uncertainties): compact and fast to ingest;
    :attr:`observations` gives them as :class:`Observation` records.
    """

    metadata: dict[str, str]
    epochs: list[datetime] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    uncertainties: list[float | None] = field(default_factory=list)
    metadata_comments: list[str] = field(default_factory=list)
    data_comments: list[str] = field(default_factory=list)
    meta_line: int = 0  # line of META_START (or <metadata>)
    data_line: int = 0  # line of DATA_START (or <data>)

    @classmethod
    def from_observations(cls, metadata: dict[str, str], observations: Iterable[Observation]) -> TdmSegment:
        seg = cls(metadata=metadata)
        for obs in observations:
            seg.append(obs)
        return seg

    def append(self, obs: Observation) -> None:
        self.epochs.append(obs.epoch)
        self.keywords.append(obs.type)
        self.values.append(obs.value)
        self.lines.append(obs.line)
        self.uncertainties.append(obs.uncertainty)

    def __len__(self) -> int:
        return len(self.keywords)

    @property
    def observations(self) -> list[Observation]:
        sensor, target, frame, track = self.sensor, self.target, self.angle_frame, self.track_id
        return [
            Observation(e, k, v, sensor, target, frame, u, track, n)
            for e, k, v, n, u in zip(
                self.epochs, self.keywords, self.values, self.lines, self.uncertainties, strict=True
            )
        ]

    @property
    def sensor(self) -> str:
        return self.metadata.get("PARTICIPANT_1", "")

    @property
    def target(self) -> str:
        return self.metadata.get("PARTICIPANT_2", "")

    @property
    def time_system(self) -> str:
        return self.metadata.get("TIME_SYSTEM", "")

    @property
    def angle_frame(self) -> AngleFrame | None:
        value = self.metadata.get("ANGLE_TYPE", "").upper()
        return AngleFrame(value) if value in ("RADEC", "AZEL") else None

    @property
    def track_id(self) -> str:
        return self.metadata.get("TRACK_ID", "")

    @property
    def quality(self) -> str:
        return self.metadata.get("DATA_QUALITY", "RAW").upper()


@dataclass(slots=True)
class Tdm:
    """A Tracking Data Message: header keywords and segments."""

    version: str = "2.0"
    header: dict[str, str] = field(default_factory=dict)  # CREATION_DATE, ORIGINATOR, MESSAGE_ID
    header_comments: list[str] = field(default_factory=list)
    segments: list[TdmSegment] = field(default_factory=list)

    def observations(self) -> list[Observation]:
        return [obs for seg in self.segments for obs in seg.observations]


@dataclass(frozen=True, slots=True)
class Orbit:
    """An SGP4 mean element set as carried by an OMM (or a TLE), with derived quantities.

    Mean motion derivatives keep the OMM/TLE convention (the printed dn/2 and ddn/6 values).
    ``extra`` keeps other OMM keywords (GM, spacecraft, covariance, USER_DEFINED_*) as raw text.
    """

    epoch: datetime
    mean_motion: float  # rev/day
    eccentricity: float
    inclination: float  # deg
    ra_of_asc_node: float  # deg
    arg_of_pericenter: float  # deg
    mean_anomaly: float  # deg
    norad_id: int | None = None
    object_name: str = ""
    object_id: str = ""  # COSPAR id
    bstar: float = 0.0  # 1/earth radii
    mean_motion_dot: float = 0.0  # rev/day^2 (as printed: dn/2)
    mean_motion_ddot: float = 0.0  # rev/day^3 (as printed: ddn/6)
    ephemeris_type: int = 0
    classification: str = "U"
    element_set_no: int = 999
    rev_at_epoch: int = 0
    center_name: str = "EARTH"
    ref_frame: str = "TEME"
    time_system: str = "UTC"
    mean_element_theory: str = "SGP4"
    creation_date: str = ""
    originator: str = ""
    comments: tuple[str, ...] = ()
    extra: tuple[tuple[str, str], ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if self.norad_id is not None:
            check_norad_id(self.norad_id)
        if not self.mean_motion > 0:
            raise ValueError(f"MEAN_MOTION {self.mean_motion} must be positive")
        if not 0.0 <= self.eccentricity < 1.0:
            raise ValueError(f"ECCENTRICITY {self.eccentricity} out of [0, 1)")
        if not 0.0 <= self.inclination <= 180.0:
            raise ValueError(f"INCLINATION {self.inclination} out of [0, 180]")

    @property
    def period_min(self) -> float:
        return 1440.0 / self.mean_motion

    @property
    def semi_major_axis_km(self) -> float:
        n_rad_s = self.mean_motion * 2.0 * math.pi / 86400.0
        return float((MU_EARTH_KM3_S2 / n_rad_s**2) ** (1.0 / 3.0))

    @property
    def apogee_km(self) -> float:
        """Apogee altitude above the equatorial radius."""
        return self.semi_major_axis_km * (1.0 + self.eccentricity) - EARTH_RADIUS_KM

    @property
    def perigee_km(self) -> float:
        """Perigee altitude above the equatorial radius."""
        return self.semi_major_axis_km * (1.0 - self.eccentricity) - EARTH_RADIUS_KM

    @property
    def regime(self) -> Regime:
        return classify_regime(self.mean_motion, self.eccentricity)


def classify_regime(mean_motion: float, eccentricity: float) -> Regime:
    """LEO: apogee below 2,000 km; HEO: e >= 0.25 or period above 1,800 min;
    GEO: period 1,300..1,800 min (geosynchronous belt and graveyard); MEO: the rest."""
    period = 1440.0 / mean_motion
    n_rad_s = mean_motion * 2.0 * math.pi / 86400.0
    a = (MU_EARTH_KM3_S2 / n_rad_s**2) ** (1.0 / 3.0)
    if a * (1.0 + eccentricity) - EARTH_RADIUS_KM < 2000.0:
        return Regime.LEO
    if eccentricity >= 0.25 or period > 1800.0:
        return Regime.HEO
    if period >= 1300.0:
        return Regime.GEO
    return Regime.MEO
