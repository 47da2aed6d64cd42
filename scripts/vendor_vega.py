"""Vendored JavaScript for browsers (Vega, Vega-Lite, vega-embed, marked, DOMPurify): check it, or fetch it again.

The browser tests (tests/e2e/test_charts_browser.py) and the web console (console/) draw charts with the same
JavaScript the server renders with: vl-convert-python 1.9.0 bundles Vega 6.2.0 and Vega-Lite 6.4.1 (and
vega-embed 7.0.2), so these are the versions pinned here. The console also renders the answers' markdown with
marked and sanitizes the HTML with DOMPurify before it reaches the page (an answer is model output).
``console/vendor/manifest.json`` records, per package, the npm tarball, its registry integrity, its licence and
the sha256 of each file copied out of it (every file under console/vendor/ is one of them, licences included).

    python scripts/vendor_vega.py          # check the committed files against the manifest (no network)
    python scripts/vendor_vega.py --fetch  # npm pack each pinned version, verify it, copy the files again

Fetching uses ``npm pack`` (the registry's ordinary client), checks the tarball against the integrity
the registry published and each extracted file against the manifest's sha256 (``--update`` rewrites
those when a version is bumped on purpose).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[1] / "console" / "vendor"
MANIFEST = VENDOR / "manifest.json"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check(manifest: dict) -> list[str]:
    """Problems with the committed files (empty when every file is there with its recorded sha256)."""
    problems = []
    listed = {target for package in manifest["packages"].values() for target in package["files"]}
    for path in sorted(VENDOR.rglob("*")):
        target = path.relative_to(VENDOR).as_posix()
        if path.is_file() and path != MANIFEST and target not in listed:
            problems.append(f"{target} is not in the manifest")
    for name, package in manifest["packages"].items():
        for target, digest in package["files"].items():
            path = VENDOR / target
            if not path.is_file():
                problems.append(f"{name}: {target} is missing")
            elif sha256(path) != digest:
                problems.append(f"{name}: {target} has sha256 {sha256(path)}, the manifest says {digest}")
    return problems


def fetch(manifest: dict, update: bool) -> None:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is needed to fetch the vendored files (apt-get install npm)")
    with tempfile.TemporaryDirectory() as work:
        for name, package in manifest["packages"].items():
            spec = f"{name}@{package['version']}"
            out = subprocess.run([npm, "pack", spec, "--json", "--pack-destination", work], check=True,
                                 capture_output=True, text=True)
            info = json.loads(out.stdout)[0]
            tarball = Path(work) / info["filename"]
            integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
            if integrity != package["integrity"]:
                sys.exit(f"{spec}: the tarball's integrity {integrity} is not the pinned {package['integrity']}")
            with tarfile.open(tarball) as archive:
                for target, source in package["from"].items():
                    member = archive.extractfile(f"package/{source}")
                    if member is None:
                        sys.exit(f"{spec}: {source} is not in the tarball")
                    data = member.read()
                    digest = hashlib.sha256(data).hexdigest()
                    if digest != package["files"].get(target) and not update:
                        sys.exit(f"{spec}: {source} has sha256 {digest}, the manifest says "
                                 f"{package['files'].get(target)} (use --update to accept it)")
                    package["files"][target] = digest
                    (VENDOR / target).parent.mkdir(parents=True, exist_ok=True)
                    (VENDOR / target).write_bytes(data)
            print(f"{spec}: {len(package['from'])} files verified and copied")
    if update:
        MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fetch", action="store_true", help="npm pack the pinned versions and copy them again")
    parser.add_argument("--update", action="store_true", help="with --fetch: record new sha256 digests")
    args = parser.parse_args(argv)
    manifest = json.loads(MANIFEST.read_text())
    if args.fetch:
        fetch(manifest, args.update)
    problems = check(manifest)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"console/vendor: {sum(len(p['files']) for p in manifest['packages'].values())} files match "
              "the manifest")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
