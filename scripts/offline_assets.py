"""Sphinx extension (loaded from `_config.yml`): make the HTML book work without internet.

- before the build: make sure `_vendor/` holds the pinned widget manager, require.js and MathJax
  (fetching them with `scripts/fetch_vendor_js.py` when missing), or stop with the fix;
- after the build: warn about any page that still loads a script or stylesheet from the network, and
  about figures that reached a page only as text ("<Figure size ...>", as happens when MPLBACKEND is set
  to a non-interactive backend); with `jupyter-book build -W` either fails the build.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fetch_vendor_js  # noqa: E402

logger = logging.getLogger(__name__)
REMOTE = re.compile(r"<(?:script[^>]*\ssrc|link[^>]*\shref)=\"(https?:)?//[^\"]+\"[^>]*>", re.IGNORECASE)
REMOTE_LINK_OK = re.compile(r"rel=\"(?:canonical|alternate|author|license|prev|next)\"", re.IGNORECASE)
FIGURE_AS_TEXT = re.compile(r"&lt;Figure size [^&]*&gt;")


def ensure_vendor(app: Sphinx, config) -> None:
    dest = Path(app.srcdir) / "_vendor"
    if fetch_vendor_js.is_complete(dest):
        return
    logger.info("offline_assets: fetching the widget manager, require.js and MathJax into _vendor/ ...")
    try:
        fetch_vendor_js.fetch(dest)
    except fetch_vendor_js.VendorError as err:
        raise ExtensionError(f"offline_assets: {err}") from None


def check_offline(app: Sphinx, exception) -> None:
    if exception is not None or app.builder is None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    for page in sorted(out.rglob("*.html")):
        html = page.read_text(encoding="utf-8", errors="replace")
        remote = [m.group(0) for m in REMOTE.finditer(html) if not REMOTE_LINK_OK.search(m.group(0))]
        if remote:
            logger.warning("offline_assets: %s loads from the network: %s", page.relative_to(out),
                           "; ".join(r[:160] for r in remote[:3]))
        lost = FIGURE_AS_TEXT.findall(html)
        if lost:
            logger.warning("offline_assets: %s shows %d figure(s) only as text (%s): unset MPLBACKEND so that "
                           "notebooks use the inline backend", page.relative_to(out), len(lost), lost[0])


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", ensure_vendor)
    app.connect("build-finished", check_offline)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
