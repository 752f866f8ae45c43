"""The real demo stack for the walkthrough test: a scratch database seeded like `make demo`,
then `config/run_demo.sh` (Stripe emulator, Celery worker and beat, runserver) on free ports
with its own Celery queue and cache prefix, so a developer's running demo (8000/12111, queue
`celery`) never sees any of it. Torn down at the end of the session: the whole process group
is stopped and the scratch database dropped.

The tests talk HTTP only (Playwright in Debian's Chromium, like tests/browser/); every browser
context records its requests, and each page the tests visit is audited (styles applied,
htmx loaded, static assets served with the right types, axe-core)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
POSTGRES = "postgres://postgres@127.0.0.1:5432"
RESERVED_PORTS = {8000, 12111}  # a developer's own demo
READY_LINE = "TrainRight demo ready"
START_DEADLINE = 150.0  # seconds for run_demo.sh to print READY_LINE
STOP_DEADLINE = 20.0  # seconds between SIGTERM and SIGKILL
PASSWORD = "trainright-demo-2026"


def _free_port(taken: set[int]) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in taken and port not in RESERVED_PORTS:
            taken.add(port)
            return port


@dataclass
class DemoStack:
    url: str
    emulator_url: str
    database: str
    directory: Path
    process: subprocess.Popen[bytes]

    def logs(self, lines: int = 40) -> str:
        """The last lines of each log, for a failure message."""
        out = []
        for log in sorted(self.directory.glob("*.log")):
            tail = log.read_text("utf-8", errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(out)


def _run(command: list[str], env: dict[str, str], timeout: float) -> None:
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode:
        raise RuntimeError(
            f"{' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole process group, SIGKILL to whatever is left after the deadline."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_DEADLINE
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        process.poll()  # reaps the leader once it has exited
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_DEADLINE)


def _drop_database(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _forget_redis_keys(marker: str) -> None:
    """The stack's Celery queue (tasks beat sent after the worker stopped) and cache keys."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    keys = list(client.scan_iter(match=f"*{marker}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def demo_stack(request) -> Iterator[DemoStack]:
    token = secrets.token_hex(4)
    marker = f"demo-stack-{token}"
    database = f"trainright_demo_stack_{token}"
    ports: set[int] = set()
    web_port, emulator_port = _free_port(ports), _free_port(ports)
    directory = Path(tempfile.mkdtemp(prefix=f"{marker}-"))
    url, emulator_url = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{emulator_port}"
    env = {
        **os.environ,
        "DATABASE_URL": f"{POSTGRES}/{database}",
        "DEMO_PORT": str(web_port),
        "STRIPE_EMULATOR_PORT": str(emulator_port),
        # Every step, the first seed included, talks to this stack's emulator only (not yet
        # running during the first seed, which then skips its Stripe parts, as `make demo`'s).
        "STRIPE_API_BASE": emulator_url,
        "SITE_URL": url,
        "DEMO_DIR": str(directory),
        "CELERY_TASK_DEFAULT_QUEUE": marker,
        "CACHE_KEY_PREFIX": marker,
        "PYTHONUNBUFFERED": "1",
    }
    for inherited in ("SANDBOX_CLOCK_ENABLED", "DJANGO_ENV", "TEST_DATABASE_NAME"):
        env.pop(inherited, None)

    process: subprocess.Popen[bytes] | None = None
    setup_failed = False
    try:
        _run([str(PYTHON), "-m", "config.dbcreate"], env, timeout=60)
        _run([str(PYTHON), "manage.py", "migrate", "--noinput", "-v0"], env, timeout=180)
        _run([str(PYTHON), "manage.py", "demo_seed"], env, timeout=120)
        output = directory / "run_demo.out"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                ["bash", "config/run_demo.sh"],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack = DemoStack(url, emulator_url, database, directory, process)
        deadline = time.monotonic() + START_DEADLINE
        while READY_LINE not in output.read_text("utf-8", errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"run_demo.sh did not print {READY_LINE!r}:\n"
                    f"{output.read_text('utf-8', errors='replace')[-3000:]}\n{stack.logs()}"
                )
            time.sleep(0.25)
    except BaseException:
        setup_failed = True
        raise
    else:
        yield stack
    finally:
        if process is not None:
            _stop(process)
        if setup_failed or request.session.testsfailed:
            kept = REPO / "test-results" / marker
            shutil.copytree(directory, kept, dirs_exist_ok=True)
            print(f"\nThe demo stack's logs are kept in {kept}")
        shutil.rmtree(directory, ignore_errors=True)
        _forget_redis_keys(marker)
        _drop_database(database)


# --- The audit of every page ---------------------------------------------------------------

BANNER_BACKGROUND = "rgb(254, 243, 199)"  # .sandbox-banner in frontend/static/frontend/app.css
PICO_FONT = "system-ui"  # the head of Pico's --pico-font-family-sans-serif
ASSET_TYPES = {".css": "text/css", ".js": "javascript", ".svg": "image/svg+xml", ".png": "image/"}

# axe findings of impact serious left in the product, each (rule, a string every flagged
# node's HTML contains); reported to the team, see the walkthrough test's docstring.
KNOWN_SERIOUS: set[tuple[str, str]] = set()
# Swagger UI's page and markup (drf-spectacular and its sidecar bundle), not our base template:
# its assets are checked, and only critical axe findings count.
THIRD_PARTY_PAGES = {"/api/docs/"}

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), html: n.html.slice(0, 200)})),
  }));
}"""

PAGE_FACTS = """() => ({
  font: getComputedStyle(document.body).fontFamily,
  banner: (() => {
    const el = document.querySelector(".sandbox-banner");
    return el ? getComputedStyle(el).backgroundColor : null;
  })(),
  htmx: typeof window.htmx,
  assets: [...document.querySelectorAll("link[href], script[src], img[src]")]
    .map((el) => el.href || el.src),
})"""


@dataclass
class Site:
    """The stack as the browser sees it: contexts that record every request, and the audit
    each visited page of ours goes through once."""

    stack: DemoStack
    browser: Any
    requests: list[str] = field(default_factory=list)
    navigated: set[str] = field(default_factory=set)
    audited: set[str] = field(default_factory=set)
    assets: dict[str, str] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.stack.url

    def new_page(self):
        context = self.browser.new_context(
            base_url=self.url, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(15_000)
        context.on("request", lambda request: self.requests.append(request.url))
        self.contexts.append(context)
        page = context.new_page()
        page.on("framenavigated", self._navigated)
        page.on("console", self._console)
        return page

    def _console(self, message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.csp_violations.append(message.text)

    def _navigated(self, frame) -> None:
        if frame.parent_frame is None and frame.url.startswith(self.url + "/"):
            self.navigated.add(urlsplit(frame.url).path)

    def sign_in(self, email: str):
        """A fresh browser context signed in as this demo login, on its dashboard."""
        from playwright.sync_api import expect

        page = self.new_page()
        page.goto("/login/")
        self.audit(page)
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_test_id("dashboard-title")).to_be_visible()
        self.audit(page)
        return page

    def audit(self, page) -> None:
        """Once per path of ours: Pico and our CSS applied, htmx loaded, every /static/ asset
        the page links answers 200 with its content type, and axe-core finds nothing serious."""
        if not page.url.startswith(self.url + "/"):
            return
        path = urlsplit(page.url).path
        if path in self.audited:
            return
        page.wait_for_load_state("load")
        facts = page.evaluate(PAGE_FACTS)
        if path not in THIRD_PARTY_PAGES:  # our base template's pages
            assert PICO_FONT in facts["font"], f"{path}: Pico's font not applied: {facts['font']}"
            assert facts["banner"] == BANNER_BACKGROUND, f"{path}: app.css not applied: {facts}"
            assert facts["htmx"] == "object", f"{path}: htmx did not load"
        for asset in facts["assets"]:
            if urlsplit(asset).path.startswith("/static/"):
                self._check_asset(page, asset)
        self._axe(page, path)
        assert not self.csp_violations, f"{path}: Content-Security-Policy violations:\n" + (
            "\n".join(self.csp_violations)
        )
        self.audited.add(path)

    def _check_asset(self, page, asset: str) -> None:
        if asset in self.assets:
            return
        response = page.request.get(asset)
        content_type = response.headers.get("content-type", "")
        assert response.status == 200, f"{asset} answered {response.status}"
        suffix = Path(urlsplit(asset).path).suffix
        expected = ASSET_TYPES.get(suffix)
        assert expected is None or expected in content_type, f"{asset}: {content_type}"
        self.assets[asset] = content_type

    def _axe(self, page, path: str) -> None:
        # Evaluated through the DevTools protocol, not added as an inline <script>, which the
        # page's Content-Security-Policy rightly refuses.
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
        violations = page.evaluate(AXE_RUN)
        counted = {"critical"} if path in THIRD_PARTY_PAGES else {"critical", "serious"}
        left = []
        for violation in violations:
            known = violation["impact"] == "serious" and any(
                violation["id"] == rule and all(text in n["html"] for n in violation["nodes"])
                for rule, text in KNOWN_SERIOUS
            )
            if violation["impact"] in counted and not known:
                left.append(violation)
            elif violation["impact"] in {"critical", "serious"}:
                self.accepted.append(f"{path}: {violation['id']} ({violation['impact']})")
        assert not left, f"axe on {path}:\n" + "\n".join(
            f"  {v['id']} ({v['impact']}): {v['help']}\n"
            + "\n".join(f"    {n['target']}: {n['html']}" for n in v["nodes"][:5])
            for v in left
        )

    def check_finished(self) -> None:
        """Every request stayed on 127.0.0.1, and every page of ours visited was audited."""
        hosts = {
            urlsplit(url).hostname
            for url in self.requests
            if urlsplit(url).scheme in {"http", "https", "ws", "wss"}
        }
        assert hosts <= {"127.0.0.1"}, f"requests left 127.0.0.1: {sorted(map(str, hosts))}"
        missed = self.navigated - self.audited
        assert not missed, f"pages visited but not audited: {sorted(missed)}"


@pytest.fixture
def site(demo_stack, chromium, request) -> Iterator[Site]:
    site = Site(demo_stack, chromium)
    yield site
    call = getattr(request.node, "rep_call", None)
    try:
        if call is not None and call.failed:
            out = REPO / "test-results"
            out.mkdir(exist_ok=True)
            for number, context in enumerate(site.contexts):
                for page in context.pages:
                    page.screenshot(path=str(out / f"{request.node.name}-{number}.png"))
        elif call is not None and call.passed:
            site.check_finished()
            if site.accepted:
                print("\naxe findings left (known, reported):\n  " + "\n  ".join(site.accepted))
    finally:
        for context in site.contexts:
            context.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
