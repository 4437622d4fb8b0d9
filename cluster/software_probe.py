"""What software a Python process runs: shipped by value to workers that may not have this package.

Standard library only, and every import inside the function, so that a worker where this project (or
S2P, or rasterio) is missing still answers, saying so, instead of failing to unpickle the probe.
"""

from __future__ import annotations

#: (name reported, distribution, a module that must import): the packages every worker must share.
PACKAGES = (
    ("space-wps", "space-wps", "wps_server"),
    ("s2p", "s2p", "s2p"),
    ("dask", "dask", "dask"),
    ("distributed", "distributed", "distributed"),
)


#: this project's packages, whose source a worker must share exactly (a version number is not bumped
#: by every change, an image built from an older checkout would pass on it alone)
SOURCE_PACKAGES = ("wps_server", "processes", "cluster")
#: compiled tools S2P runs in its steps (its ``bin`` folder beside the package, or the PATH)
S2P_TOOLS = ("homography", "mgm_multi", "plambda", "remove_small_cc", "morsi")


def installed_software() -> dict[str, str]:
    """Versions of Python (major.minor), this project, S2P, Dask, distributed and GDAL in this process,
    a digest of this project's source (``space-wps-source``) and whether S2P's tools are there.

    A package that is not installed, or whose module cannot be found, reads ``absent``; GDAL is the
    library rasterio reads with (``gdal``) and the command-line tools S2P calls (``gdal-tools``).
    """
    import importlib.metadata
    import importlib.util
    import shutil
    import subprocess
    import sys

    found = {"python": f"{sys.version_info.major}.{sys.version_info.minor}"}
    for name, distribution, module in PACKAGES:
        try:
            version = importlib.metadata.version(distribution)
            spec = importlib.util.find_spec(module)
        except (importlib.metadata.PackageNotFoundError, ImportError, ValueError):
            version, spec = "absent", None
        found[name] = version if spec is not None else "absent"
    found["space-wps-source"] = source_digest(SOURCE_PACKAGES)
    found["s2p-tools"] = s2p_tools()
    try:
        import rasterio

        found["gdal"] = str(rasterio.__gdal_version__)
    except Exception:  # a broken rasterio is as good as none for S2P
        found["gdal"] = "absent"
    tool = shutil.which("gdalinfo")
    found["gdal-tools"] = "absent"
    if tool is not None:
        try:
            out = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30, check=True)
            # "GDAL 3.6.2, released 2023/01/02"
            found["gdal-tools"] = out.stdout.split(",")[0].removeprefix("GDAL ").strip() or "absent"
        except (OSError, subprocess.SubprocessError):
            pass
    return found


def source_digest(packages: tuple[str, ...]) -> str:
    """The first 12 hex digits of a SHA-256 over the Python files of ``packages`` (paths and contents);
    ``absent`` when one of them cannot be found."""
    import hashlib
    import importlib.util
    from pathlib import Path

    digest = hashlib.sha256()
    for package in packages:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            return "absent"
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in sorted(root.rglob("*.py")):
            digest.update(f"{package}/{path.relative_to(root).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def s2p_tools() -> str:
    """``ok`` when S2P's compiled tools can be run, else which are missing (``absent``: no S2P)."""
    import importlib.util
    import os
    import shutil
    from pathlib import Path

    try:
        spec = importlib.util.find_spec("s2p")
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        return "absent"
    beside = Path(spec.origin).parent.parent / "bin"  # where S2P puts them, and adds to its PATH
    missing = [t for t in S2P_TOOLS if not os.access(beside / t, os.X_OK) and shutil.which(t) is None]
    return f"missing {', '.join(missing)}" if missing else "ok"
