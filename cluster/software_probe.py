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


def installed_software() -> dict[str, str]:
    """Versions of Python (major.minor), this project, S2P, Dask, distributed and GDAL in this process.

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
