"""The service's web page in a real browser: headless Chromium (Debian's package, installed by
the test set-up when missing), driven through the DevTools protocol over a pipe. A job is
submitted through the form and watched until the page shows it done, without reloading.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, Server, chromium, config


class DevTools:
    """Chromium with ``--remote-debugging-pipe``: commands on fd 3, replies on fd 4, each
    message JSON ended by a NUL byte. Keeps every event it reads."""

    def __init__(self, profile: Path) -> None:
        to_browser, self._commands = os.pipe()
        self._replies, from_browser = os.pipe()

        def plumb() -> None:  # in the child: the pipe ends become fds 3 and 4
            read, write = os.dup(to_browser), os.dup(from_browser)
            os.dup2(read, 3)
            os.dup2(write, 4)

        command = [str(chromium()), "--headless", "--no-sandbox", "--disable-gpu",
                   "--disable-quic", "--no-first-run", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--disable-extensions",
                   f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]
        self.proc = subprocess.Popen(command, preexec_fn=plumb, close_fds=False,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next = 0
        self.events: list[dict] = []
        self.session: str | None = None

    def send(self, method: str, **params: Any) -> dict:
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if self.session is not None and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]
            self.events.append(reply)

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._replies, 1 << 16)
            assert chunk, "Chromium closed the DevTools pipe"
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        self.send("Runtime.enable")
        self.send("Log.enable")
        self.send("Page.enable")
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && "
                      "document.getElementById('status').textContent.startsWith('updated')")

    def evaluate(self, expression: str, await_promise: bool = False) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=await_promise)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 120) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"still false after {timeout} s: {expression}")

    def problems(self) -> list[dict]:
        """Uncaught exceptions, console errors and failed loads seen so far."""
        return [e for e in self.events
                if e.get("method") == "Runtime.exceptionThrown"
                or (e.get("method") == "Runtime.consoleAPICalled"
                    and e["params"]["type"] in ("error", "warning", "assert"))
                or (e.get("method") == "Log.entryAdded"
                    and e["params"]["entry"]["level"] in ("error", "warning"))]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        os.close(self._commands)
        os.close(self._replies)


@pytest.fixture
def browser(tmp_path):
    devtools = DevTools(tmp_path / "profile")
    yield devtools
    devtools.close()


@pytest.mark.slow
def test_a_job_submitted_through_the_form_reaches_done(tmp_path, browser):
    server = Server(tmp_path / "runs", "--workers", "1").start()
    try:
        data = tmp_path / "galaxies.txt"
        data.write_bytes(DATA)
        browser.open(server.url + "/")
        assert browser.evaluate("document.getElementById('empty').hidden") is False
        browser.evaluate("window.sameDocument = true")  # gone if the page reloads
        node = browser.send("Runtime.evaluate",
                            expression="document.getElementById('data')")["result"]
        browser.send("DOM.setFileInputFiles", files=[str(data)], objectId=node["objectId"])
        browser.evaluate("document.getElementById('config').value = '[sweep\\nk = [1]';"
                         "document.getElementById('submit').click()")
        message = browser.wait_for("document.getElementById('message').textContent"
                                   ".includes('config: is not valid TOML') && "
                                   "document.getElementById('message').textContent")
        assert browser.evaluate("document.getElementById('message').className") == "error"
        assert "line 1" in message
        refused = [e["params"]["entry"]["text"] for e in browser.problems()]
        assert refused == ["Failed to load resource: the server responded with a status of 400 "
                           "(Bad Request)"]
        browser.events.clear()
        browser.evaluate(f"document.getElementById('name').value = 'from-browser';"
                         f"document.getElementById('config').value = {json.dumps(config())};"
                         "document.getElementById('submit').click()")
        browser.wait_for("document.getElementById('message').textContent"
                         ".startsWith('submitted from-browser')", timeout=60)
        row = "document.querySelector('tr[data-job]')"
        progress = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            seen = browser.evaluate(f"[{row}.dataset.state, {row}.querySelector('progress')"
                                    f".value, {row}.querySelector('progress').max]")
            progress.append(seen)
            if seen[0] in ("done", "failed", "cancelled"):
                break
            time.sleep(0.2)
        assert progress[-1] == ["done", 2, 2], progress
        assert browser.evaluate(f"{row}.querySelector('.state').textContent") == "done"
        assert browser.evaluate("window.sameDocument") is True
        assert any(state == "running" for state, _, _ in progress)
        chips = browser.evaluate(f"[...{row}.querySelectorAll('.run-done')]"
                                 ".map(e => e.textContent)")
        job = server.client.get("/jobs").json()["jobs"][0]
        assert job["name"] == "from-browser" and job["state"] == "done"
        assert chips == [f"K={r['k']} dynesty: ln Z = {r['row']['logZ']:.2f} ± "
                         f"{r['row']['logZ_err']:.2f}" for r in job["runs"]]
        report = browser.evaluate(
            f"fetch({row}.querySelector('a.report').href).then(async r => [r.status, "
            "(await r.text()).includes('nestmix report: from-browser')])", await_promise=True)
        assert report == [200, True]
        assert browser.problems() == []
    finally:
        assert server.stop()
