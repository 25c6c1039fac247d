"""`convtool run --html`: the page's table is `run --json`, the page stands alone, and a real
headless browser opens it and shows something (skipped where chromium is not installed)."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from convtool.cli import main
from convtool.text import fmt_shape, fmt_size

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
GOOD = [p for p in CONFIGS if p.stem != "mismatch_unet"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Table(HTMLParser):
    """The rows of <table id="layers">: body rows (sections as rows of their own) and the footer."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.part = ""
        self.rows: list[tuple[str, str, list[str]]] = []  # (part, row class, cells)
        self.cell: list[str] | None = None
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attributes = dict(attrs)
        if tag == "table" and attributes.get("id") == "layers":
            self.inside = True
        elif self.inside and tag in ("thead", "tbody", "tfoot"):
            self.part = tag
        elif self.inside and tag == "tr":
            self.rows.append((self.part, attributes.get("class") or "", []))
        elif self.inside and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1][2].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_of(html: str) -> Table:
    parser = Table()
    parser.feed(html)
    return parser


def expected_rows(doc: dict) -> list[list[str]]:
    """The table the page must show, from `run --json`'s values."""
    rows = []
    for layer in doc["layers"]:
        field = layer["receptive_field"]
        rows.append([
            str(layer["index"]), layer["name"] or "", layer["type"], layer["config"], fmt_shape(layer["input"]),
            fmt_shape(layer["output"]), f"{layer['param_count']:,}", f"{layer['macs']:,}",
            "—" if field is None else fmt_size(field), "; ".join(layer["warnings"]),
        ])
    return rows


def assert_table_is_json(html: str, doc: dict) -> None:
    table = table_of(html)
    body = [cells for part, cls, cells in table.rows if part == "tbody" and cls != "section"]
    assert body == expected_rows(doc)
    # and the numbers read back are the JSON numbers
    for cells, layer in zip(body, doc["layers"]):
        assert int(cells[6].replace(",", "")) == layer["param_count"]
        assert int(cells[7].replace(",", "")) == layer["macs"]
    foot = [cells for part, _, cells in table.rows if part == "tfoot"][0]
    assert int(foot[6].replace(",", "")) == doc["totals"]["param_count"]
    assert int(foot[7].replace(",", "")) == doc["totals"]["macs"]
    assert foot[5] == fmt_shape(doc["output"])
    sections = [cells[1] for part, cls, cells in table.rows if cls == "section"]
    assert sections == list(dict.fromkeys(layer["section"] for layer in doc["layers"] if layer["section"]))


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_page_table_is_run_json(path: Path, tmp_path: Path) -> None:
    page = tmp_path / "run.html"
    result = CliRunner().invoke(main, ["run", str(path), "--html", str(page)])
    assert result.exit_code == 0, result.output
    assert f"wrote {page}" in result.stderr
    doc = json.loads(CliRunner().invoke(main, ["run", str(path), "--json"]).stdout)
    html = page.read_text(encoding="utf-8")
    assert_table_is_json(html, doc)
    # self-contained: nothing to fetch, nothing to run
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html and "<link" not in html and "<img" not in html
    transposed = [layer for layer in doc["layers"] if layer["type"].startswith("conv_transpose")]
    assert html.count("<h3>") == len(transposed)
    drawn = [layer for layer in transposed if len(layer["input"]) <= 4]  # 3-D layers are named, not drawn
    assert html.count("<svg") == 1 + len(drawn)


def test_page_of_a_mismatch(tmp_path: Path) -> None:
    page = tmp_path / "run.html"
    result = CliRunner().invoke(main, ["run", str(ROOT / "configs" / "mismatch_unet.yaml"), "--html", str(page)])
    assert result.exit_code == 1
    html = page.read_text(encoding="utf-8")
    table = table_of(html)
    failed = [cells for _, cls, cells in table.rows if cls == "failed"]
    assert failed and failed[0][5] == "does not line up" and failed[0][1] == "cat2"
    assert 'id="error"' in html and "set output_padding: 1 on layer 8" in html


def test_page_escapes_user_strings(tmp_path: Path) -> None:
    arch = tmp_path / "evil.yaml"
    arch.write_text('name: "</title><script>alert(1)</script>\\x07"\ninput: [1, 3, 8, 8]\n'
                    'layers:\n  - {name: "<b>x</b>", type: conv_transpose2d, out_channels: 4, kernel_size: 3, stride: 2}\n')
    page = tmp_path / "evil.html"
    assert CliRunner().invoke(main, ["run", str(arch), "--html", str(page)]).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html and "<b>x" not in html and "\x07" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;x&lt;/b&gt;" in html


def _chromium(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         *extra, url],
        capture_output=True, text=True, timeout=90,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install -y chromium)")
def test_page_in_a_real_browser(tmp_path: Path) -> None:
    """The page opens in headless chromium: the screenshot is not blank, and the table the
    browser parsed (its DOM) is `run --json`."""
    image_module = pytest.importorskip("PIL.Image")
    path = ROOT / "configs" / "unet_original.yaml"
    page = tmp_path / "unet.html"
    assert CliRunner().invoke(main, ["run", str(path), "--html", str(page)]).exit_code == 0
    shot = tmp_path / "shot.png"
    done = _chromium(tmp_path, page.as_uri(), f"--screenshot={shot}", "--window-size=1200,2000")
    assert done.returncode == 0, done.stderr[-2000:]
    image = image_module.open(shot).convert("L")
    assert image.size == (1200, 2000)
    histogram = image.histogram()
    assert sum(histogram[:200]) / sum(histogram) > 0.02  # text, rules and boxes, not a blank page
    top = image.crop((0, 0, 1200, 120)).histogram()
    assert sum(top[:128]) > 500  # the title is there
    # the browser's console stays silent: no error, and nothing the page's no-fetch policy blocked
    dom = _chromium(tmp_path, page.as_uri(), "--dump-dom", "--enable-logging=stderr", "--v=0")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert [line for line in dom.stderr.splitlines() if ":CONSOLE" in line] == []
    doc = json.loads(CliRunner().invoke(main, ["run", str(path), "--json"]).stdout)
    assert_table_is_json(dom.stdout, doc)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install -y chromium)")
def test_console_check_sees_a_blocked_fetch(tmp_path: Path) -> None:
    """The console check above can fail: a page that tries to fetch under the same policy logs it."""
    page = tmp_path / "fetch.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\">"
        "</head><body><img src=\"http://127.0.0.1:9/x.png\"></body></html>"
    )
    dom = _chromium(tmp_path, page.as_uri(), "--dump-dom", "--enable-logging=stderr", "--v=0")
    assert any(":CONSOLE" in line and "Content Security Policy" in line for line in dom.stderr.splitlines())


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install -y chromium)")
def test_animation_moves_in_a_browser(tmp_path: Path) -> None:
    """SMIL runs without script: some time later the kernel's outline is somewhere else.

    Headless chromium does not always start a bare SVG's animation clock within its virtual
    time (about one run in four here), so the later picture is taken up to five times."""
    image_module = pytest.importorskip("PIL.Image")
    svg = tmp_path / "kernel.svg"
    assert CliRunner().invoke(main, ["draw", "3x3", "-k", "3", "-s", "2", "--animate", "-o", str(svg)]).exit_code == 0

    def shot(budget: int) -> bytes:
        target = tmp_path / f"shot{budget}.png"
        done = _chromium(tmp_path, svg.as_uri(), f"--screenshot={target}", "--window-size=900,500",
                         f"--virtual-time-budget={budget}")
        assert done.returncode == 0, done.stderr[-2000:]
        return image_module.open(target).convert("RGB").tobytes()

    first = shot(100)
    assert any(shot(1500 * n) != first for n in range(1, 6))


@pytest.mark.parametrize(
    "layer, drawn",
    [
        ("{type: conv_transpose2d, out_channels: 4, kernel_size: 3, stride: 2}", "Drawn for a 4x4 input"),
        ("{type: conv_transpose2d, out_channels: 4, kernel_size: 24, stride: 12}", "Drawn for a 2x2 input"),
    ],
    ids=["k3s2", "wide-stride"],
)
def test_page_draws_each_transposed_layer_small(layer: str, drawn: str, tmp_path: Path) -> None:
    arch = tmp_path / "up.yaml"
    arch.write_text(f"input: [1, 4, 20, 20]\nlayers:\n  - {layer}\n")
    page = tmp_path / "up.html"
    assert CliRunner().invoke(main, ["run", str(arch), "--html", str(page)]).exit_code == 0
    assert drawn in page.read_text(encoding="utf-8")


def test_page_says_what_verify_found(tmp_path: Path) -> None:
    page = tmp_path / "ae.html"
    args = ["run", str(ROOT / "configs" / "autoencoder_28.yaml"), "--verify", "--seed", "3", "--html", str(page)]
    assert CliRunner().invoke(main, args).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert 'id="verified">verified (seed 3): the numeric engine gives every layer the shape in the table' in html
    plain = tmp_path / "plain.html"
    assert CliRunner().invoke(main, ["run", str(ROOT / "configs" / "autoencoder_28.yaml"), "--html", str(plain)]).exit_code == 0
    assert 'id="verified"' not in plain.read_text(encoding="utf-8")
