"""The built docs read well in a real browser: no page is wider than a 1280-pixel window.

The site is built with mkdocs (strict) and each page opened in headless Chromium through
Playwright; long commands wrap, wide tables scroll inside their own box. Chromium and
Playwright are required in CI (``CI=true``) and skip the test elsewhere when absent.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
PAGES = ["index.html", "tutorial/index.html", "cli/index.html", "reference/index.html"]


def _require_browser() -> None:
    problem = None
    if importlib.util.find_spec("mkdocs") is None:
        problem = "mkdocs is not installed"
    elif not Path(CHROMIUM).exists():
        problem = f"{CHROMIUM} is not installed"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed"
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the docs layout test needs it in CI: {problem}")
    pytest.skip(problem)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs, built once for this module."""
    _require_browser()
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    return out


OVERFLOW = """() => {
  const wide = [];
  for (const el of document.querySelectorAll('pre > code')) {
    if (el.scrollWidth > el.clientWidth + 1) wide.push(el.textContent.slice(0, 60));
  }
  return {page: document.documentElement.scrollWidth, window: window.innerWidth, wide};
}"""


def test_no_page_is_wider_than_the_window(site: Path, tmp_path: Path) -> None:
    """At 1280 px no page scrolls sideways and no code block hides text past its edge; a
    screenshot of each page is kept in the test's folder for a look."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            for name in PAGES:
                path = site / name
                assert path.exists(), name
                page.goto(path.as_uri())
                found = page.evaluate(OVERFLOW)
                page.screenshot(path=str(tmp_path / (name.replace("/", "-") + ".png")))
                assert found["page"] <= found["window"], (name, found)
                assert found["wide"] == [], (name, found["wide"])
        finally:
            browser.close()


def test_the_reference_shows_the_user_verbs_first(site: Path) -> None:
    """The Engine's members on the reference page start with `open` and `create_session`, in
    the order docs/reference.md lists them; the private base class they come from is not
    shown and no raw Sphinx role is left in the text."""
    html = (site / "reference" / "index.html").read_text(encoding="utf-8")
    ids = re.findall(r'id="scopecraft\.Engine\.(\w+)"', html)
    assert ids[:2] == ["open", "create_session"], ids[:5]
    assert "WorktreeMethods" not in html
    for role in (":func:", ":class:", ":meth:", ":attr:", ":mod:"):
        assert role not in html, role
