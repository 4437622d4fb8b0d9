"""``wps-server calibrate``: measure S2P here for ``s2p_estimate``, plugged into the service's
command through the ``wps_server.commands`` entry point."""

from __future__ import annotations

from pathlib import Path

import click

from wps_server.cli_context import Context


@click.command()
@click.argument(
    "images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--roi", help="x,y,w,h on the first image (default: the whole overlap).")
@click.option("--tile-size", type=click.IntRange(100, 5000), default=300, show_default=True)
@click.option("--s2p-options", help="A JSON object of S2P settings, as s2p_stereo takes them.")
@click.option("--profile", default="local", show_default=True, help="The cluster profile to measure on.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it (default: [cluster] calibration_file, else DATA_DIR/calibration.json).",
)
@click.pass_obj
def calibrate(
    obj: Context,
    images: tuple[Path, ...],
    roi: str | None,
    tile_size: int,
    s2p_options: str | None,
    profile: str,
    output: Path | None,
) -> None:
    """Measure S2P's seconds per tile per stage here, for s2p_estimate (a real run of IMAGES)."""
    from tqdm import tqdm

    from cluster.errors import ClusterError
    from cluster.profiles import load_profiles
    from processes.s2p.calibration import measure
    from processes.s2p.errors import S2PError
    from processes.s2p.inputs import parse_s2p_options

    settings = obj.settings()
    section = settings.section("cluster")
    target = output or Path(section.get("calibration_file") or settings.data_dir / "calibration.json")
    with tqdm(total=100, unit="%", desc="calibrating") as bar:

        def advance(percent: float, message: str) -> None:
            bar.set_postfix_str(message[:40])
            bar.update(max(0.0, percent - bar.n))

        try:
            chosen = load_profiles(section.get("profiles_file") or None, missing_ok=True).get(profile)
            options = parse_s2p_options(s2p_options) if s2p_options else None
            result = measure(
                list(images),
                target,
                chosen,
                roi_pixels=roi,
                tile_size=tile_size,
                s2p_options=options,
                progress=advance,
            )
        except (S2PError, ClusterError) as exc:
            raise click.ClickException(str(exc)) from None
    side = result.tile_size_px
    for stage, seconds in result.stages.items():
        click.echo(f"{stage:<34} {seconds:8.2f} s per tile of {side}x{side} px")
    for stage, seconds in result.job_stages.items():
        click.echo(f"{stage:<34} {seconds:8.2f} s per job")
    click.echo(f"written to {target}; set [cluster] calibration_file to it if it is not already")
