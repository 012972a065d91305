"""Serve Leaflet's files from this machine (never from a CDN).

Streamlit serves ``dashboard/static/`` at ``/app/static/`` (``server.enableStaticServing``). At
start-up the Leaflet files installed with the Python packages are copied into
``dashboard/static/vendor/`` (git-ignored); map iframes then load them from the dashboard's own
server. Where that folder cannot be written (a read-only install), the files are inlined into
the page as ``data:`` URLs instead.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

from analytics.maps import AssetUrls, leaflet_files

STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
#: From inside a component iframe (``/component/<name>/index.html``) to the app's static files.
_FROM_COMPONENT = "../../app/static/vendor"


def _copy_if_changed(src: Path, dst: Path) -> None:
    if dst.exists() and dst.stat().st_size == src.stat().st_size:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(dst.suffix + ".tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dst)


def install_vendor_files(target: Path = VENDOR_DIR) -> Path:
    """Copy Leaflet (js, css, images) and Leaflet.heat into ``target``; returns ``target``."""
    files = leaflet_files()
    _copy_if_changed(files["leaflet_js"], target / "leaflet.js")
    _copy_if_changed(files["leaflet_css"], target / "leaflet.css")
    _copy_if_changed(files["heat_js"], target / "leaflet-heat.js")
    for image in files["leaflet_images"].glob("*.png"):
        _copy_if_changed(image, target / "images" / image.name)
    return target


def _data_url(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def asset_urls() -> AssetUrls:
    """URLs of Leaflet's files for maps shown inside the dashboard."""
    try:
        install_vendor_files()
    except OSError:
        files = leaflet_files()
        return AssetUrls(
            leaflet_js=_data_url(files["leaflet_js"], "text/javascript"),
            leaflet_css=_data_url(files["leaflet_css"], "text/css"),
            heat_js=_data_url(files["heat_js"], "text/javascript"),
        )
    return AssetUrls(
        leaflet_js=f"{_FROM_COMPONENT}/leaflet.js",
        leaflet_css=f"{_FROM_COMPONENT}/leaflet.css",
        heat_js=f"{_FROM_COMPONENT}/leaflet-heat.js",
    )
