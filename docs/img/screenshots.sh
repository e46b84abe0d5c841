#!/usr/bin/env bash
# Screenshots of the files for people, taken offline (no network: every request goes to a closed
# proxy port) and without CJK system fonts (`fc-list :lang=zh` prints nothing on the machine).
# Usage: docs/img/screenshots.sh var/out/2022   (after `etsflow run` or `make demo`)
set -euo pipefail
out=${1:-var/out/2022}
img=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "CJK system fonts: $(fc-list :lang=zh | wc -l)"
shot() {  # page size file
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --proxy-server=127.0.0.1:9 --host-resolver-rules='MAP * ~NOTFOUND' --hide-scrollbars \
    --user-data-dir="$tmp/profile-$3" --virtual-time-budget=8000 --window-size="$2" \
    --screenshot="$img/$3" "file://$(realpath "$1")" 2>/dev/null
}
shot "$out"/report-*.html 1280,2600 report-2022.png
.venv/bin/python -c "import sys; from pathlib import Path; from exports.notice_pdf import sheet_html; \
Path(sys.argv[2]).write_text(sheet_html(Path(sys.argv[1])), encoding='utf-8')" "$out/notices/CQ001.xlsx" "$tmp/notice.html"
shot "$tmp/notice.html" 2000,1720 notice.png
shot "$out/data-docs/index.html" 1280,900 data-docs-index.png
ls -la "$img"/*.png
