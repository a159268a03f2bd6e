#!/usr/bin/env python3
"""Fetch the JavaScript the static book needs to render offline, into `_vendor/` (not committed).

The HTML book embeds the state of its ipywidgets and typesets maths in the browser. By default Jupyter
Book loads the widget manager, require.js and MathJax from public CDNs, so a reader without internet
would see neither widgets nor maths. This script takes pinned versions from the npm registry with
`npm pack` (the npm client verifies them; the SHA-512 below is checked again) and extracts only the
files the book serves:

    _vendor/widgets/require.js        requirejs 2.3.8 (MIT)
    _vendor/widgets/embed-amd.js      @jupyter-widgets/html-manager 1.0.15 (BSD-3-Clause): the manager for
                                      ipywidgets 8 with @jupyter-widgets/base, controls and output built in,
                                      and the Font Awesome files its CSS names
    _vendor/widgets/setup.js          a few lines: the manager takes those fonts from widgets/, and its
                                      MathJax 2 typesetting calls go to MathJax 3
    _vendor/mathjax/tex-chtml-full.js MathJax 3.2.2 (Apache-2.0), every TeX extension built in,
    _vendor/mathjax/output/chtml/fonts/woff-v2/*.woff   and its fonts

`_config.yml` adds `_vendor/` to the static files (served as `_static/...`) and points
`nb_ipywidgets_js` and `mathjax_path` at these copies. The book build calls `ensure()` through the
local Sphinx extension `scripts/offline_assets.py`, so `jupyter-book build .` fetches them when missing.

Usage: python scripts/fetch_vendor_js.py [--force] [--dest _vendor]   (needs Node.js's `npm`)
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

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEST = ROOT / "_vendor"

# Font Awesome 5 files that the html-manager bundle's CSS names (woff2, with woff as the fallback).
FONT_AWESOME = ("1551f4f60c37af51121f.woff2", "7a3337626410ca2f4071.woff2", "d878b0a6a1144760244f.woff2",
                "2285773e6b4b172f07d9.woff", "bb58e57c48a3e911f15f.woff", "eeccf4f66002c6f2ba24.woff")
# Loaded after require.js and before embed-amd.js: (1) the manager's CSS names its font files relative to the
# require.js module that holds it, which by default resolves against the page's folder; map that module (and
# the manager's own assets path) to widgets/, where the fonts are. (2) The manager typesets widget labels
# with the MathJax 2 call MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the book loads MathJax 3,
# which has no Hub, so forward that call to MathJax 3's typesetPromise.
SETUP_JS = """// Written by scripts/fetch_vendor_js.py: set up the widget manager for this book.
(function () {
  var here = document.currentScript.src.replace(/[^/]*$/, "");
  window.__jupyter_widgets_assets_path__ = here;
  window.requirejs.config({paths: {"@jupyter-widgets/html-manager/dist": here.replace(/\\/$/, "")}});
  window.addEventListener("load", function () {
    var mj = window.MathJax;
    if (!mj || mj.Hub) { return; }
    mj.Hub = {Queue: function (command) {
      var element = command && command[2];
      if (!element || !mj.typesetPromise) { return; }
      var ready = (mj.startup && mj.startup.promise) || Promise.resolve();
      ready.then(function () { return mj.typesetPromise([element]); });
    }};
  });
})();
"""

# name@version -> (npm integrity, license, {path in the tarball (file, or folder ending in "/"): path under dest})
PACKAGES: dict[str, tuple[str, str, dict[str, str]]] = {
    "requirejs@2.3.8": (
        "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==", "MIT",
        {"package/require.js": "widgets/require.js"}),
    "@jupyter-widgets/html-manager@1.0.15": (
        "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==", "BSD-3-Clause",
        {"package/dist/embed-amd.js": "widgets/embed-amd.js",
         "package/dist/embed.js.LICENSE.txt": "widgets/embed-amd.js.LICENSE.txt",
         **{f"package/dist/{font}": f"widgets/{font}" for font in FONT_AWESOME}}),
    "mathjax@3.2.2": (
        "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==", "Apache-2.0",
        {"package/es5/tex-chtml-full.js": "mathjax/tex-chtml-full.js",
         "package/es5/output/chtml/fonts/woff-v2/": "mathjax/output/chtml/fonts/woff-v2/",
         "package/LICENSE": "mathjax/LICENSE"}),
}
STAMP = "VERSIONS.json"


class VendorError(RuntimeError):
    """The offline JavaScript could not be fetched."""


def wanted() -> dict[str, str]:
    return {spec: integrity for spec, (integrity, _, _) in PACKAGES.items()}


def is_complete(dest: Path = DEFAULT_DEST) -> bool:
    """True if dest holds every file of the pinned versions."""
    stamp = dest / STAMP
    if not stamp.is_file():
        return False
    try:
        if json.loads(stamp.read_text()).get("packages") != wanted():
            return False
    except ValueError:
        return False
    if not (dest / "widgets" / "setup.js").is_file():
        return False
    for _, _, files in PACKAGES.values():
        for target in files.values():
            p = dest / target
            if not (p.is_dir() and any(p.iterdir()) if target.endswith("/") else p.is_file()):
                return False
    return True


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def _npm_pack(spec: str, workdir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise VendorError("the offline book needs `npm` (Node.js) once, to fetch the widget manager, require.js and "
                          "MathJax: install Node.js (e.g. `conda install nodejs`, `apt install npm`), then run "
                          "`python scripts/fetch_vendor_js.py`")
    run = subprocess.run([npm, "pack", spec, "--json", "--silent"], cwd=workdir, capture_output=True, text=True)
    if run.returncode != 0:
        raise VendorError(f"`npm pack {spec}` failed (is the npm registry reachable?):\n{run.stderr.strip()[-2000:]}")
    try:
        filename = json.loads(run.stdout)[0]["filename"]
    except (ValueError, LookupError, TypeError):
        tgz = sorted(workdir.glob("*.tgz"), key=lambda p: p.stat().st_mtime)
        if not tgz:
            raise VendorError(f"`npm pack {spec}` wrote no tarball; output:\n{run.stdout[-2000:]}") from None
        return tgz[-1]
    return workdir / filename.replace("@", "").replace("/", "-")


def _extract(tgz: Path, files: dict[str, str], dest: Path) -> None:
    with tarfile.open(tgz) as tar:
        members = tar.getmembers()
        for source, target in files.items():
            picked = [m for m in members if m.isfile() and (m.name.startswith(source) if source.endswith("/")
                                                             else m.name == source)]
            if not picked:
                raise VendorError(f"{tgz.name} has no {source}")
            for m in picked:
                out = dest / (target + m.name[len(source):] if source.endswith("/") else target)
                out.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(m) as f:
                    out.write_bytes(f.read())


def fetch(dest: Path = DEFAULT_DEST, force: bool = False, quiet: bool = False) -> Path:
    """Fetch every pinned package into dest (a no-op when dest is already complete). Returns dest."""
    dest = Path(dest)
    if not force and is_complete(dest):
        return dest
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        for spec, (integrity, license_, files) in PACKAGES.items():
            if not quiet:
                print(f"fetching {spec} ({license_}) with npm pack", file=sys.stderr)
            tgz = _npm_pack(spec, Path(tmp))
            got = _integrity(tgz)
            if got != integrity:
                raise VendorError(f"{spec}: tarball integrity {got} differs from the pinned {integrity}")
            _extract(tgz, files, staging)
    (staging / "widgets" / "setup.js").write_text(SETUP_JS)
    notice = ["# Third-party JavaScript served by the book (fetched by scripts/fetch_vendor_js.py)", ""]
    notice += [f"- `{spec}` ({license_}), from the npm registry: " + ", ".join(f"`{t}`" for t in files.values())
               for spec, (_, license_, files) in PACKAGES.items()]
    notice += ["", "The .woff/.woff2 files under widgets/ are Font Awesome Free 5 fonts (SIL OFL 1.1), as bundled by "
               "the html-manager. widgets/setup.js is this project's own (see scripts/fetch_vendor_js.py)."]
    (staging / "NOTICE.md").write_text("\n".join(notice) + "\n")
    (staging / STAMP).write_text(json.dumps({"packages": wanted()}, indent=2) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    if not quiet:
        size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
        print(f"wrote {dest} ({size / 1e6:.1f} MB)", file=sys.stderr)
    return dest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="output folder (default: _vendor)")
    parser.add_argument("--force", action="store_true", help="fetch again even if complete")
    args = parser.parse_args(argv)
    try:
        fetch(args.dest, force=args.force)
    except VendorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
