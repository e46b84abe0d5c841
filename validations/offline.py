"""Great Expectations Data Docs that work without internet.

GE's pages load 9 scripts and 6 style sheets from public CDNs (and a logo from S3). On the
bureau's intranet the index then shows two links and no list. `make_offline(site)` copies the
vendored files of `validations/static/vendor/` (see its README for versions and licences) into
the site and rewrites every page's links to them, relative to the page, so the site also works
when copied elsewhere or opened from `file://`.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

VENDOR = Path(__file__).parent / "static" / "vendor"
SITE_VENDOR = Path("static") / "vendor"  # inside a Data Docs site

# CDN URL in GE's pages → file under VENDOR
CDN = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js-1.12.9/popper.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap-4.3.1/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap-4.3.1/bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table-1.19.1/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table-1.19.1/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome-free-6.6.0/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": "bootstrap-dark-1.1.0/bootstrap-prefers-dark.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega-5.33.1/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite-5.23.0/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed-6.29.0/vega-embed.min.js",
}  # fmt: skip
LOGO = re.compile(
    r"https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/logo-long\.png(\?[^\"']*)?"
)
# what a page loads by itself: <script src>, <link href> (style sheets, icons), <img src>
LOADS = re.compile(r"<(?:script|img)\b[^>]*\bsrc=[\"']([^\"']+)[\"']|<link\b[^>]*\bhref=[\"']([^\"']+)[\"']")


def _relative(page: Path, site: Path, target: Path) -> str:
    return Path(os.path.relpath(site / target, page.parent)).as_posix()


def make_offline(site: Path) -> list[str]:
    """Copy the vendored assets into `site` and point every page at them. Returns the outside
    URLs that pages of the site still load (none with the GE version tested)."""
    site = Path(site)
    shutil.copytree(VENDOR, site / SITE_VENDOR, dirs_exist_ok=True)
    remaining: set[str] = set()
    for page in site.rglob("*.html"):
        if SITE_VENDOR.as_posix() in page.relative_to(site).as_posix():
            continue
        html = page.read_text(encoding="utf-8")
        new = html
        for url, local in CDN.items():
            new = new.replace(f'"{url}"', f'"{_relative(page, site, SITE_VENDOR / local)}"')
        new = LOGO.sub(_relative(page, site, Path("static/images/logo-long.png")), new)
        if new != html:
            tmp = page.with_name(f".{page.name}.tmp")
            tmp.write_text(new, encoding="utf-8")
            os.replace(tmp, page)
        remaining |= outside_loads(new)
    return sorted(remaining)


def outside_loads(html: str) -> set[str]:
    """URLs of scripts, style sheets and images a page would fetch from another host."""
    urls = {a or b for a, b in LOADS.findall(html)}
    return {u for u in urls if u.startswith(("http:", "https:", "//"))}
