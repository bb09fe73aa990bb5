"""The patient document on a phone and on a wide screen, measured in headless Chromium.

Chromium is driven over its DevTools protocol on a pipe (``--remote-debugging-pipe``:
JSON messages, each ended by a NUL byte, on the browser's file descriptors 3 and 4),
so no websocket client is needed. It emulates a 390 px phone (the meta viewport
honoured, as on a real phone), a 768 px tablet and a 1,280 px desktop, and reads
the layout back with a script. Chromium comes from Debian's package, which
``.ci/run`` installs; where it is missing these tests skip, unless
``KETAPLAN_REQUIRE_BROWSER`` is set (as CI sets it), when they fail.

``python -m tests.test_phone docs/images`` writes the phone screenshots the docs show.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import ketaplan
from ketaplan._i18n import LANGUAGES
from ketaplan.export.documents._course import phone_link

from .conftest import EXAMPLES, NOW, ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Every example plan (the batch folder's dozen are one protocol at three clinics,
# which the others cover), each in every language a plan may have.
PLANS = sorted(
    path.relative_to(EXAMPLES).with_suffix("").as_posix()
    for path in EXAMPLES.rglob("*.toml")
    if "batch" not in path.relative_to(EXAMPLES).parts
)
PLANS_IN_LANGUAGES = [(name, tag) for name in PLANS for tag in LANGUAGES]
PHONE, TABLET, DESKTOP = 390, 768, 1280
HEIGHT = 844
TIMEOUT = 60.0

# Every element with text of its own that is drawn: its computed font size, and
# the page's widths. An element hidden by `display: none` (or inside one) has no
# client rects.
MEASURE = """(() => {
  const small = [];
  for (const element of document.body.querySelectorAll("*")) {
    const own = [...element.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || element.getClientRects().length === 0) continue;
    const style = getComputedStyle(element);
    if (style.visibility !== "visible") continue;
    const size = parseFloat(style.fontSize);
    if (size < 16) small.push(`${element.tagName} ${size}px: ${element.textContent.trim().slice(0, 40)}`);
  }
  return {
    innerWidth: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    small: small,
  };
})()"""

# Each appointment as laid out: its display, and whether its parts sit one under
# another (day and date first, the session below them) inside the viewport.
APPOINTMENTS = """(() => [...document.querySelectorAll("tr.visit")].map((row) => {
  const day = row.querySelector("th").getBoundingClientRect();
  const session = row.querySelector("td.session").getBoundingClientRect();
  const box = row.getBoundingClientRect();
  return {
    display: getComputedStyle(row).display,
    stacked: session.top >= day.bottom,
    inside: box.left >= 0 && box.right <= window.innerWidth,
  };
}))()"""

# Chromium reads the protocol from descriptor 3 and writes to 4: this starts it
# with the two pipe ends given as arguments moved there.
ONTO_3_AND_4 = (
    "import os, sys; reads, writes = os.dup(int(sys.argv[1])), os.dup(int(sys.argv[2])); "
    "os.dup2(reads, 3); os.dup2(writes, 4); os.set_inheritable(3, True); "
    "os.set_inheritable(4, True); os.execv(sys.argv[3], sys.argv[3:])"
)


class Chromium:
    """A headless Chromium driven over the DevTools protocol on a pipe."""

    def __init__(self, executable: str, profile: Path) -> None:
        browser_reads, self._commands = os.pipe()
        self._replies, browser_writes = os.pipe()
        self._log = (profile / "chromium.log").open("wb")
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-I",
                "-c",
                ONTO_3_AND_4,
                str(browser_reads),
                str(browser_writes),
                executable,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            pass_fds=(browser_reads, browser_writes),
        )
        os.close(browser_reads)
        os.close(browser_writes)
        self._writer = os.fdopen(self._commands, "wb")
        self._profile = profile
        self._next_id = 0
        self._buffer = b""
        self._events: list[dict[str, Any]] = []

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._replies], [], [], TIMEOUT)
            chunk = os.read(self._replies, 1 << 16) if ready else b""
            if not chunk:
                log = (self._profile / "chromium.log").read_text(errors="replace")
                raise RuntimeError(f"Chromium stopped answering: {log[-2000:]}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)  # type: ignore[no-any-return]

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        self._writer.write(json.dumps(message).encode() + b"\0")
        self._writer.flush()
        while True:
            reply = self._receive()
            if reply.get("id") != self._next_id:
                self._events.append(reply)
            elif "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            else:
                return reply["result"]  # type: ignore[no-any-return]

    def wait_for(self, method: str, session: str) -> None:
        """Return once the event ``method`` arrived for ``session``."""
        for index, event in enumerate(self._events):
            if event.get("method") == method and event.get("sessionId") == session:
                del self._events[index]
                return
        while True:
            event = self._receive()
            if event.get("method") == method and event.get("sessionId") == session:
                return
            self._events.append(event)

    def close(self) -> None:
        """Close the browser and every descriptor it was given."""
        try:
            self.call("Browser.close")
        except (OSError, RuntimeError):
            self._process.kill()
        finally:
            self._writer.close()
            os.close(self._replies)
            try:
                self._process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._log.close()


class Tab:
    """One page of the browser, loaded at a given viewport."""

    def __init__(self, browser: Chromium, page: Path, width: int, *, mobile: bool) -> None:
        self.browser = browser
        self.target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = browser.call("Target.attachToTarget", targetId=self.target, flatten=True)[
            "sessionId"
        ]
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=HEIGHT,
            deviceScaleFactor=2 if mobile else 1,
            mobile=mobile,
        )
        self.call("Page.enable")
        self.call("Page.navigate", url=page.as_uri())
        browser.wait_for("Page.loadEventFired", self.session)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.call(method, self.session, **params)

    def evaluate(self, expression: str) -> Any:
        """The value of a script run in the page."""
        reply = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"script failed: {reply['exceptionDetails']}")
        return reply["result"]["value"]

    def screenshot(self, top: float, height: float) -> bytes:
        """A PNG of the page from ``top`` down ``height`` CSS pixels, at the device's scale."""
        width = self.evaluate("window.innerWidth")
        clip = {"x": 0, "y": top, "width": width, "height": height, "scale": 1}
        reply = self.call(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip
        )
        return base64.b64decode(reply["data"])

    def close(self) -> None:
        self.browser.call("Target.closeTarget", targetId=self.target)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    """One headless Chromium for the module's tests."""
    if not CHROMIUM:
        if os.environ.get("KETAPLAN_REQUIRE_BROWSER"):
            pytest.fail("headless Chromium is not installed, and KETAPLAN_REQUIRE_BROWSER is set")
        pytest.skip("headless Chromium is not installed")
    chromium = Chromium(CHROMIUM, tmp_path_factory.mktemp("chromium"))
    try:
        yield chromium
    finally:
        chromium.close()


def open_document(browser: Chromium, html: str, folder: Path, width: int, *, mobile: bool) -> Tab:
    page = folder / "document.html"
    page.write_text(html, encoding="utf-8")
    return Tab(browser, page, width, mobile=mobile)


def evaluated(
    browser: Chromium, html: str, folder: Path, width: int, *, mobile: bool, script: str
) -> Any:
    """What ``script`` gives in ``html`` opened at ``width`` (the tab is closed after)."""
    tab = open_document(browser, html, folder, width, mobile=mobile)
    try:
        return tab.evaluate(script)
    finally:
        tab.close()


def example(name: str, language: str) -> ketaplan.Plan:
    """The example plan ``name`` in ``language``."""
    plan = ketaplan.load_plan(EXAMPLES / f"{name}.toml", now=NOW)
    return attrs.evolve(plan, language=language)


def patient_html(name: str, language: str = "en") -> str:
    return ketaplan.render_patient_html(example(name, language), now=NOW)


@pytest.mark.parametrize(("name", "language"), PLANS_IN_LANGUAGES)
def test_patient_document_fits_a_phone(
    name: str, language: str, browser: Chromium, tmp_path: Path
) -> None:
    """On a 390 px phone the patient document keeps the phone's width (nothing zooms it out or
    scrolls it sideways) and no text is smaller than 16 px."""
    measured = evaluated(
        browser, patient_html(name, language), tmp_path, PHONE, mobile=True, script=MEASURE
    )
    assert PHONE == measured["innerWidth"]
    assert measured["scrollWidth"] <= measured["innerWidth"]
    assert [] == measured["small"]


def test_long_words_wrap_on_a_phone(browser: Chromium, tmp_path: Path) -> None:
    """A patient name, clinic name or address with no break in 60 characters wraps inside the
    phone's width instead of widening the page."""
    plan = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    long = "Wellness" * 8
    clinic = attrs.evolve(plan.clinic, name=long, address=f"{long} Street")
    patient = attrs.evolve(plan.patient, name=long)
    html = ketaplan.render_patient_html(attrs.evolve(plan, clinic=clinic, patient=patient), now=NOW)
    measured = evaluated(browser, html, tmp_path, PHONE, mobile=True, script=MEASURE)
    assert PHONE == measured["innerWidth"]
    assert measured["scrollWidth"] <= measured["innerWidth"]


@pytest.mark.parametrize(("name", "language"), PLANS_IN_LANGUAGES)
def test_patient_schedule_is_a_card_per_appointment_on_a_phone(
    name: str, language: str, browser: Chromium, tmp_path: Path
) -> None:
    """On a phone each appointment is a block of its own, the day and date above the session,
    inside the screen; on a desktop the schedule is still a table."""
    html = patient_html(name, language)
    cards = evaluated(browser, html, tmp_path, PHONE, mobile=True, script=APPOINTMENTS)
    rows = evaluated(browser, html, tmp_path, DESKTOP, mobile=False, script=APPOINTMENTS)
    assert cards
    assert [{"display": "block", "stacked": True, "inside": True}] * len(cards) == cards
    assert {"table-row"} == {row["display"] for row in rows}


@pytest.mark.parametrize(("name", "language"), PLANS_IN_LANGUAGES)
def test_patient_document_fits_a_wide_screen(
    name: str, language: str, browser: Chromium, tmp_path: Path
) -> None:
    """On a 1,280 px screen the patient document does not scroll sideways."""
    measured = evaluated(
        browser, patient_html(name, language), tmp_path, DESKTOP, mobile=False, script=MEASURE
    )
    assert DESKTOP == measured["innerWidth"]
    assert measured["scrollWidth"] <= measured["innerWidth"]


@pytest.mark.parametrize(("name", "language"), PLANS_IN_LANGUAGES)
def test_clinician_document_fits_a_tablet(
    name: str, language: str, browser: Chromium, tmp_path: Path
) -> None:
    """On a 768 px tablet the clinician document's page does not scroll sideways: a wide table
    scrolls inside its own box."""
    html = ketaplan.render_clinician_html(example(name, language), now=NOW)
    measured = evaluated(browser, html, tmp_path, TABLET, mobile=True, script=MEASURE)
    assert TABLET == measured["innerWidth"]
    assert measured["scrollWidth"] <= measured["innerWidth"]


def test_narrow_print_keeps_the_schedule_table(browser: Chromium, tmp_path: Path) -> None:
    """The phone layout is for screens only: printed, even from a phone, the schedule is a
    table and the timeline a drawing."""
    tab = open_document(browser, patient_html("iv-induction"), tmp_path, PHONE, mobile=True)
    try:
        tab.call("Emulation.setEmulatedMedia", media="print")
        rows = tab.evaluate(APPOINTMENTS)
        drawing = tab.evaluate('getComputedStyle(document.querySelector("svg")).display')
    finally:
        tab.close()
    assert {"table-row"} == {row["display"] for row in rows}
    assert "block" == drawing


# Every link that dials, with its text and whether a finger finds it (44 px tall,
# the size the common accessibility guidelines ask of a tap target), and how
# often the clinic's phone number shows at all.
PHONE_LINKS = """((number) => ({
  links: [...document.querySelectorAll('a[href^="tel:"]')].map((link) => ({
    href: link.getAttribute("href"),
    text: link.textContent,
    tappable: link.getBoundingClientRect().height >= 44,
  })),
  shown: document.body.innerText.split(number).length - 1,
}))"""


@pytest.mark.parametrize("language", LANGUAGES)
def test_phone_numbers_dial_with_a_tap(language: str, browser: Chromium, tmp_path: Path) -> None:
    """On a phone the clinic's number, wherever the patient document shows it, is a tel: link
    with its digits and +, tall enough to tap."""
    plan = example("iv-induction", language)
    html = ketaplan.render_patient_html(plan, now=NOW)
    found = evaluated(
        browser,
        html,
        tmp_path,
        PHONE,
        mobile=True,
        script=f"{PHONE_LINKS}({json.dumps(plan.clinic.phone)})",
    )
    assert "+1 416 555 0100" == plan.clinic.phone
    link = {"href": "tel:+14165550100", "text": "+1 416 555 0100", "tappable": True}
    assert found["shown"] >= 3
    assert [link] * found["shown"] == found["links"]


@pytest.mark.parametrize(
    ("phone", "link"),
    [
        ("+1 416 555 0100", "tel:+14165550100"),
        ("+44 20 7946 0000", "tel:+442079460000"),
        ("(514) 555-0199", "tel:5145550199"),
        ("+1 (613) 555-0123 ext. 42", "tel:+16135550123;ext=42"),
        ("819 555 0188, poste 7", "tel:8195550188;ext=7"),
        ("416.555.0100 x12", "tel:4165550100;ext=12"),
    ],
)
def test_phone_link_dials_the_number_as_written(phone: str, link: str) -> None:
    """A phone number becomes a tel: URI of its digits, keeping a leading + and an extension."""
    assert link == phone_link(phone)


@pytest.mark.parametrize("phone", ["", "ask at reception", "1-800-KETAMINE", "+1"])
def test_phone_link_is_left_out_when_the_number_cannot_be_dialled(phone: str) -> None:
    """No number, too few digits, or letters that a dial pad would turn into a wrong number give
    no link: the document shows the text as written."""
    assert "" == phone_link(phone)


def test_phone_without_a_link_is_plain_text() -> None:
    """A clinic phone that cannot be dialled is shown as written, with no tel: link."""
    plan = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    clinic = attrs.evolve(plan.clinic, phone="ask at reception")
    html = ketaplan.render_patient_html(attrs.evolve(plan, clinic=clinic), now=NOW)
    assert 'href="tel:' not in html
    assert 4 == html.count("ask at reception")


SCHEDULE_TOP = """(() => {
  let heading = document.querySelector("section.phase");
  while (heading.tagName !== "H2") heading = heading.previousElementSibling;
  return heading.getBoundingClientRect().top + window.scrollY - 16;
})()"""


def write_screenshots(folder: Path) -> None:
    """Write what the docs show of the patient document on a phone: the demo plan's first
    screen and its appointments, and the appointments of the French example."""
    generated = dt.datetime(2027, 1, 4, 12, 0, tzinfo=dt.UTC)
    demo = ketaplan.load_plan(ROOT / "src" / "ketaplan" / "data" / "demo.toml", now=generated)
    french = ketaplan.load_plan(EXAMPLES / "french" / "esketamine-nasal-fr.toml", now=generated)
    with tempfile.TemporaryDirectory() as scratch:
        chromium = Chromium(CHROMIUM or "chromium", Path(scratch))
        try:
            for plan, first, schedule in [
                (demo, "patient-phone-en.png", "patient-phone-en-schedule.png"),
                (french, "", "patient-phone-fr.png"),
            ]:
                html = ketaplan.render_patient_html(plan, now=generated)
                tab = open_document(chromium, html, Path(scratch), PHONE, mobile=True)
                if first:
                    (folder / first).write_bytes(tab.screenshot(0, HEIGHT))
                top = tab.evaluate(SCHEDULE_TOP)
                (folder / schedule).write_bytes(tab.screenshot(top, HEIGHT))
                tab.close()
        finally:
            chromium.close()


if __name__ == "__main__":
    write_screenshots(Path(sys.argv[1]))
