"""The JavaScript the browser draws charts with is the JavaScript the server renders with, byte for byte pinned."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "console" / "vendor" / "manifest.json"


def test_the_vendored_files_match_their_manifest_and_carry_their_licences():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "vendor_vega.py")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    manifest = json.loads(MANIFEST.read_text())
    # Each package's licence, and a line of its text that says whose it is.
    owners = {"vega": ("BSD-3-Clause", "University of Washington Interactive Data Lab"),
              "vega-lite": ("BSD-3-Clause", "University of Washington Interactive Data Lab"),
              "vega-embed": ("BSD-3-Clause", "University of Washington Interactive Data Lab"),
              "marked": ("MIT", "Copyright (c) 2018+, MarkedJS"),
              "dompurify": ("Apache-2.0 OR MPL-2.0", "Apache License")}
    assert set(manifest["packages"]) == set(owners)
    for name, package in manifest["packages"].items():
        licence_id, owner = owners[name]
        assert package["integrity"].startswith("sha512-") and package["license"] == licence_id
        folder = REPO / "console" / "vendor" / f"{name}-{package['version']}"
        assert owner in (folder / "LICENSE").read_text()
        assert f"{folder.name}/LICENSE" in package["files"]
    assert "Mozilla Public License Version 2.0" in (REPO / "console" / "vendor" / "dompurify-3.4.18" /
                                                    "LICENSE-MPL").read_text()


def test_every_vendored_file_is_in_the_manifest(tmp_path):
    """A file dropped into console/vendor/ without its sha256 in the manifest fails the check (make setup)."""
    import shutil

    copy = tmp_path / "repo"
    shutil.copytree(REPO / "console" / "vendor", copy / "console" / "vendor")
    (copy / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "vendor_vega.py", copy / "scripts")
    (copy / "console" / "vendor" / "marked-18.2.1" / "extra.js").write_text("alert(1)")
    done = subprocess.run([sys.executable, str(copy / "scripts" / "vendor_vega.py")], capture_output=True, text=True)
    assert done.returncode == 1 and "marked-18.2.1/extra.js is not in the manifest" in done.stderr


def test_the_vendored_versions_are_the_ones_vl_convert_renders_with():
    import vl_convert

    versions = {name: p["version"] for name, p in json.loads(MANIFEST.read_text())["packages"].items()}
    assert versions["vega"] == vl_convert.get_vega_version()
    assert versions["vega-embed"] == vl_convert.get_vega_embed_version()
    bundle = vl_convert.javascript_bundle(vl_version="6.4")
    assert f'"{versions["vega-lite"]}"' in bundle  # Vega-Lite's own version string in vl-convert's bundle
    head = (REPO / "console" / "vendor" / f"vega-lite-{versions['vega-lite']}" / "vega-lite.min.js").read_text()[:400]
    assert f'var n="{versions["vega-lite"]}"' in head
