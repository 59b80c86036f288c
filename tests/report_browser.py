"""The report's landing page as headless Chromium lays it out: where its first line and its last
element sit in the window (a page taller than the window is clipped at the top by Snakemake's
vertically centred landing box, with no scroll position reaching it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

PROBE = """<script>
const probe = setInterval(() => {
  const box = document.querySelector('.prose');
  if (!box) return;
  clearInterval(probe);
  const rect = box ? box.getBoundingClientRect() : null;
  const out = document.createElement('pre'); out.id = 'layout-probe';
  out.textContent = JSON.stringify(rect && {top: rect.top, bottom: rect.bottom, height: innerHeight, width: innerWidth,
                                             text: box.innerText.slice(0, 80)});
  document.body.appendChild(out);
}, 200);
</script>"""


def browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def landing_layout(report: Path, width: int = 1366, height: int = 768) -> dict:
    """The landing page's description box in the window: top, bottom, window height, its first text."""
    probed = report.with_name("probed.html")
    head, tail = report.read_text().rsplit("</body>", 1)  # the document's own end (embedded pages have theirs)
    probed.write_text(head + PROBE + "</body>" + tail)
    dom = subprocess.run(
        [browser(), "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}",
         "--virtual-time-budget=5000", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    found = re.search(r'<pre id="layout-probe">(.*?)</pre>', dom, re.S)
    assert found, "the probe did not run: the report did not load"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


def screenshot(report: Path, png: Path, width: int = 1366, height: int = 768) -> None:
    subprocess.run([browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size={width},{height}",
                    "--virtual-time-budget=5000", f"--screenshot={png}", report.as_uri()], capture_output=True, timeout=120, check=True)
