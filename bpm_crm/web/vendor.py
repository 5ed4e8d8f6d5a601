"""Browser libraries installed from npm, served from the project's node_modules."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, send_from_directory

bp = Blueprint("vendor", __name__, url_prefix="/vendor")

# URL name -> npm package directory under node_modules.
PACKAGES = {"bootstrap": "bootstrap", "bootstrap-icons": "bootstrap-icons", "bpmn-js": "bpmn-js", "echarts": "echarts",
            "form-js": "@bpmn-io/form-js"}
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


def assets_dir() -> Path:
    """The node_modules directory: ASSETS_DIR if configured, else the one beside the package."""
    configured = current_app.config.get("ASSETS_DIR")
    return Path(configured) if configured else PROJECT_ROOT / "node_modules"


@bp.get("/<package>/<path:filename>")
def asset(package: str, filename: str):
    """One file of an allowed package; send_from_directory refuses paths that leave it."""
    if package not in PACKAGES:
        abort(404)
    return send_from_directory(assets_dir() / PACKAGES[package], filename, max_age=86400)
