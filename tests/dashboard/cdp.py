"""Headless Chromium driven over the DevTools protocol, in real time.

`--dump-dom` with `--virtual-time-budget` never lets the dashboard finish laying out a run's DAG;
a live page polled until the expected text is there does.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import websocket

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1440,1000",
    "--disable-features=IsolateSandboxedIframes",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


class Page:
    """One tab: commands are sent and their answers awaited; events are dropped."""

    def __init__(self, ws_url: str, timeout: float = 30.0) -> None:
        self._ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self._next_id = 0

    def close(self) -> None:
        self._ws.close()

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        self._ws.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") != self._next_id:
                continue
            if "error" in message:
                raise RuntimeError(f"{method}: {message['error']}")
            return message["result"]

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def wait_for(self, expression: str, timeout: float, what: str) -> Any:
        """Poll a JavaScript expression until it is truthy: the page renders in real time."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not there after {timeout:.0f} s")
            time.sleep(0.5)

    def wait_for_text(self, needles: list[str], timeout: float) -> str:
        """The page's visible text once every needle is in it."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            missing = [n for n in needles if n not in text]
            if not missing:
                return text
            if time.monotonic() > deadline:
                raise TimeoutError(f"not on the page after {timeout:.0f} s: {missing}")
            time.sleep(0.5)

    def click(self, element: str, what: str, timeout: float = 15.0) -> None:
        """A real mouse click at the middle of `element` (a JavaScript expression), once it
        has stopped moving: panels slide in, and a click mid-slide lands elsewhere."""
        box = (
            f"(() => {{ const e = {element}; if (!e) return null;"
            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        deadline = time.monotonic() + timeout
        last = None
        while (where := self.evaluate(box)) is None or where != last:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not there, or still moving, after {timeout:.0f} s")
            last = where
            time.sleep(0.25)
        for event in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                type=event,
                x=where[0],
                y=where[1],
                button="left",
                clickCount=1,
            )

    def press_escape(self) -> None:
        for event in ("keyDown", "keyUp"):
            self.send(
                "Input.dispatchKeyEvent",
                type=event,
                key="Escape",
                code="Escape",
                windowsVirtualKeyCode=27,
            )

    def frame_texts(self) -> list[str]:
        """The visible text of every child frame: sandboxed frames hide their document from
        the page's scripts, not from the DevTools protocol."""
        tree = self.send("Page.getFrameTree")["frameTree"]
        texts = []
        for child in tree.get("childFrames", []):
            world = self.send("Page.createIsolatedWorld", frameId=child["frame"]["id"])
            result = self.send(
                "Runtime.evaluate",
                expression="document.body ? document.body.innerText : ''",
                contextId=world["executionContextId"],
                returnByValue=True,
            )
            texts.append(result["result"].get("value") or "")
        return texts

    def screenshot(self, path: Path) -> Path:
        shot = self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def _devtools_port(profile: Path, browser: subprocess.Popen, timeout: float) -> int:
    """Chromium writes the port it chose to its profile directory once it listens."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while not marker.exists() or not marker.read_text().strip():
        if browser.poll() is not None:
            raise RuntimeError(f"chromium exited with {browser.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"chromium opened no DevTools port in {timeout:.0f} s")
        time.sleep(0.2)
    return int(marker.read_text().split()[0])


@contextmanager
def chromium(executable: str, profile: Path, timeout: float = 30.0) -> Iterator[Page]:
    """A fresh headless Chromium with one blank tab; stopped on exit."""
    profile.mkdir(parents=True, exist_ok=True)
    log = (profile.parent / "chromium.log").open("wb")
    browser = subprocess.Popen(
        [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        port = _devtools_port(profile, browser, timeout)
        targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=timeout).json()
        (tab,) = [t for t in targets if t["type"] == "page"]
        page = Page(tab["webSocketDebuggerUrl"], timeout)
        try:
            page.send("Page.enable")
            yield page
        finally:
            page.close()
    finally:
        browser.terminate()
        try:
            browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait()
        log.close()
