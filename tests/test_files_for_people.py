"""Files for people, end to end on the sample: a run writes them after serving, stamped with its
publication; a rerun leaves them alone; a new publication replaces them; `explain` lets a reader
redo the numbers; the pages render offline in headless Chromium without CJK system fonts."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from etsflow import settings

ETSFLOW = str(Path(sys.executable).with_name("etsflow"))
CHROMIUM = shutil.which("chromium")


def etsflow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ETSFLOW, *args], capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"}
    )


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> dict:
    wh = tmp_path_factory.mktemp("people") / "warehouse.duckdb"
    # --allow-quarantine: the files for people do not depend on whether every sample row passes
    # the ledger rules of the day (rows rejected there only leave their units unallocated)
    args = ["run", "--year", "2022", "--inbox", str(settings.SAMPLE_INBOX), "--warehouse", str(wh)]
    args.append("--allow-quarantine")
    first = etsflow(*args, "--as-of", "2024-04-01")
    assert first.returncode == 0, first.stderr
    return {"wh": wh, "args": args, "first": first, "out": wh.parent / "out" / "2022"}


def _run_id(stdout: str) -> str:
    return re.search(r"2022 run ([0-9a-f]{12})", stdout).group(1)


def test_a_run_writes_the_files_for_people_stamped_with_its_publication(published) -> None:
    first, out = published["first"], published["out"]
    run_id = _run_id(first.stdout)
    last = first.stdout.strip().splitlines()[-1]
    assert last.startswith(f"Files for people: {out} — current for publication {run_id}")
    assert first.stderr == ""  # not a terminal: no progress lines
    stamp = json.loads((out / "publication.json").read_text(encoding="utf-8"))
    assert stamp["publication"]["run_id"] == run_id and stamp["publication"]["as_of"] == "2024-04-01"
    notices = sorted(p.stem for p in (out / "notices").glob("*.xlsx"))
    # every unit of the year has a notice (issue 18): the allocated ones carry a digest in the stamp
    assert sorted(f"notices/{n}.xlsx" for n in notices) == sorted(stamp["files"][1:])
    assert set(stamp["notices"]) < set(notices) and len(stamp["notices"]) > 300
    report = (out / "report-2022.html").read_text(encoding="utf-8")
    assert f"发布批次 Publication: run {run_id}，统计日期 as of 2024-04-01" in report
    assert len(list((out / "parquet").glob("*.parquet"))) == 5

    # raw.* columns carry comments like every other column (item 6)
    con = duckdb.connect(str(published["wh"]), read_only=True)
    try:
        comments = dict(
            con.sql(
                "SELECT column_name, comment FROM duckdb_columns() WHERE schema_name = 'raw' "
                "AND table_name = 'enterprises'"
            ).fetchall()
        )
    finally:
        con.close()
    assert comments["enterprise_id"].startswith("单位编号 — ") and "as ingested" in comments["enterprise_id"]
    assert comments["_row"].startswith("行号 — ") and all(comments.values())


def test_a_rerun_keeps_current_files_and_a_new_publication_replaces_them(published) -> None:
    out, args = published["out"], published["args"]
    notice = out / "notices" / "CQ001.xlsx"
    before = notice.stat().st_mtime_ns
    same = etsflow(*args, "--as-of", "2024-04-01")
    assert same.returncode == 0, same.stderr
    assert same.stdout.strip().splitlines()[-1].endswith("unchanged, already current).")
    assert notice.stat().st_mtime_ns == before

    later = etsflow(*args, "--as-of", "2024-05-01")
    assert later.returncode == 0, later.stderr
    run_id = _run_id(later.stdout)
    assert f"current for publication {run_id}" in later.stdout.strip().splitlines()[-1]
    report = (out / "report-2022.html").read_text(encoding="utf-8")
    assert (
        f"run {run_id}，统计日期 as of 2024-05-01" in report and "2024-04-01" not in report.split("<main>")[0]
    )
    assert json.loads((out / "publication.json").read_text())["publication"]["as_of"] == "2024-05-01"


def test_only_changed_notices_are_rewritten_and_stale_ones_removed(published) -> None:
    from exports.people import STAMP, Publication, write_files_for_people
    from policies import policy_for_year

    out = published["out"]
    stamp = json.loads((out / STAMP).read_text(encoding="utf-8"))
    stamp["notices"]["CQ002"]["digest"] = "changed"
    (out / STAMP).write_text(json.dumps(stamp), encoding="utf-8")
    (out / "notices" / "CQ999.xlsx").write_bytes(b"left over from an older publication")
    untouched = (out / "notices" / "CQ003.xlsx").stat().st_mtime_ns
    pub = Publication(
        2022, "feedbeef0001", "another-fingerprint", "2024-05-01", stamp["publication"]["policy_version"]
    )
    files = write_files_for_people(published["wh"], 2022, policy_for_year(2022), pub)
    unallocated = len(stamp["files"]) - 1 - len(stamp["notices"])  # their notices are always rewritten
    assert unallocated >= 1
    assert files["status"] == "written" and files["notices_written"] == 1 + unallocated
    assert files["notices_removed"] == 1
    assert not (out / "notices" / "CQ999.xlsx").exists()
    assert (out / "notices" / "CQ003.xlsx").stat().st_mtime_ns == untouched
    new = json.loads((out / STAMP).read_text(encoding="utf-8"))
    assert new["notices"]["CQ002"]["run_id"] == "feedbeef0001"  # rewritten: shows this publication
    assert new["notices"]["CQ003"]["run_id"] == stamp["notices"]["CQ003"]["run_id"]  # figures unchanged


def test_explain_lets_a_reader_redo_the_numbers(published) -> None:
    wh = str(published["wh"])
    r = etsflow(
        "explain", " ｃｑ０５１ ", "--year", "2022", "--warehouse", wh
    )  # full-width, lower case, spaces
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert text.startswith("CQ051 ")
    table = text[text.index("CQ051-L2 base years") :]
    assert re.search(r"2019 .* 165 .* 200 days shut > 183 .* dropped", table)
    assert re.search(r"2020 .* 366 .* 0 days shut ≤ 183 ok .* kept", table)
    assert "baseline D = ΣE / Σdays over the kept years 2020、2021 = 39,040.1800 / 655 = 59.603328" in text
    assert "→ published 59.6033" in text

    r = etsflow("explain", "cq001", "--year", "2022", "--warehouse", wh)
    assert (
        "weighted mean of the usable years Ī = ΣE / ΣQ = 58,876.7693 / 1,706,272.5100 = 0.034506" in r.stdout
    )
    assert re.search(
        r"2019 .* 18,241.7344 .* 528,537.3200 .* 0.034514 .* 328 .* \+0.02% .* < ±20% ok .* kept", r.stdout
    )

    r = etsflow("explain", "CQ210", "--year", "2022", "--warehouse", wh)
    assert "adjusted by 22,527.2119 t for gap exemption (share of E)" in r.stdout
    assert "gap_exemption_share" not in r.stdout and "调整依据：缺口上限豁免（按排放量比例）" in r.stdout


# ---------------------------------------------------------------------------------------------
# Offline rendering: no network, no CJK system font
# ---------------------------------------------------------------------------------------------
OFFLINE = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--proxy-server=127.0.0.1:9",  # nothing answers there: no page can load anything from outside
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--hide-scrollbars",
]


def chromium(page: Path, profile: Path, *args: str) -> str:
    r = subprocess.run(
        [CHROMIUM, *OFFLINE, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return r.stdout


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (.ci/run installs it in CI)")
def test_pages_render_offline_with_the_embedded_font(published, tmp_path: Path) -> None:
    from exports.notice_pdf import sheet_html, write_pdfs

    out = published["out"]
    # the report's Chinese text is drawn with the embedded font, loaded from the page itself
    probe = tmp_path / "report-probe.html"
    probe.write_text(
        (out / "report-2022.html")
        .read_text(encoding="utf-8")
        .replace(
            "</body>",
            "<script>document.fonts.load('16px \"etsflow Noto Sans SC\"', '重庆市碳排放配额').then("
            "function (f) { document.body.setAttribute('data-font', f.length + ':' + f[0].status); });</script></body>",
        ),
        encoding="utf-8",
    )
    dom = chromium(probe, tmp_path / "p1", "--virtual-time-budget=5000", "--dump-dom")
    assert 'data-font="1:loaded"' in dom

    # pixels: the embedded font against a family nobody has (boxes without a CJK system font)
    shots = {}
    for family in ("etsflow Noto Sans SC", "no such font"):
        page = tmp_path / f"{family.replace(' ', '-')}.html"
        html = (out / "report-2022.html").read_text(encoding="utf-8")
        style = html[html.index("<style>") + 7 : html.index("</style>")]
        page.write_text(
            f'<!DOCTYPE html><meta charset="utf-8"><style>{style} body {{ font-family: "{family}"; }}</style>'
            '<p style="font-size:40px">重庆市碳排放配额分配</p>',
            encoding="utf-8",
        )
        shot = tmp_path / f"{page.stem}.png"
        chromium(page, tmp_path / f"p-{page.stem}", f"--screenshot={shot}", "--window-size=800,300")
        shots[family] = shot.read_bytes()
    no_cjk_font = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout.strip() == ""
    if no_cjk_font:
        assert shots["etsflow Noto Sans SC"] != shots["no such font"]  # glyphs, not boxes

    # the Data Docs index lists every validation with its scripts served by the site itself
    dom = chromium(
        out / "data-docs" / "index.html", tmp_path / "p2", "--virtual-time-budget=8000", "--dump-dom"
    )
    assert dom.count('data-index="') >= 5  # bootstrap-table rendered the list (it needs jquery & co.)

    # a notice as a page (from the workbook) and as PDF with its font embedded
    notice = out / "notices" / "CQ001.xlsx"
    page = tmp_path / "notice.html"
    page.write_text(sheet_html(notice), encoding="utf-8")
    dom = chromium(page, tmp_path / "p3", "--dump-dom")
    assert "重庆市生态环境局" in dom and "（盖章 seal）" in dom and "url(data:font/woff;base64," in dom
    pdfs, why = write_pdfs([notice])
    assert why is None and pdfs == [notice.with_suffix(".pdf")]
    data = pdfs[0].read_bytes()
    assert data.startswith(b"%PDF")
    # the glyphs travel inside the PDF (Chromium embeds the web font, as Type3 outlines)
    fonts = re.findall(rb"/Subtype /(\w+)", data)
    assert b"Type3" in fonts or b"/FontFile" in data
    assert (
        b"/BaseFont /Helvetica" not in data and b"/BaseFont /SimSun" not in data
    )  # nothing left to the reader
