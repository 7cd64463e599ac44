"""Drive headless chromium through the DevTools protocol over a pipe
(--remote-debugging-pipe: NUL-separated JSON on file descriptors 3 and 4), so no
websocket library is needed. Used to send HTTP Basic authentication as a header:
credentials in the URL break Orthanc Explorer (jQuery Mobile's history.replaceState
refuses URLs that carry them)."""

import base64
import json
import os
import subprocess
import time


def _as_fds_3_and_4(read_end, write_end):
    """In the child: the pipe ends become fds 3 and 4 (through copies, so neither
    dup2 overwrites the other end)."""
    read_copy, write_copy = os.dup(read_end), os.dup(write_end)
    os.dup2(read_copy, 3, inheritable=True)
    os.dup2(write_copy, 4, inheritable=True)


class Chromium:
    def __init__(self, binary, home, extra_args=()):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        env = dict(os.environ, HOME=str(home))
        # Chromium reads commands on fd 3 and writes answers on fd 4.
        self.process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-pipe",
             f"--user-data-dir={home}/profile", "--window-size=1280,800", *extra_args, "about:blank"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=lambda: _as_fds_3_and_4(to_chrome_r, from_chrome_w))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events = []

    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._from_chrome, 65536)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, params=None, session=None, timeout=60):
        self._next_id += 1
        command = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            command["sessionId"] = session
        os.write(self._to_chrome, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_event(self, method, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(index)
            self.events.append(self._read_message(deadline))

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


def load_page(binary, home, url, basic_auth=None, settle=3.0, screenshot=None, extra_args=()):
    """Open url (HTTP Basic credentials as a header); returns (title, text, error)."""
    browser = Chromium(binary, home, extra_args)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        browser.send("Page.enable", session=session)
        browser.send("Network.enable", session=session)
        if basic_auth:
            token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
            browser.send("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}},
                         session=session)
        answer = browser.send("Page.navigate", {"url": url}, session=session)
        if answer.get("errorText"):
            return "", "", answer["errorText"]
        browser.wait_event("Page.loadEventFired")
        time.sleep(settle)  # the page's own scripts fill it in
        result = browser.send("Runtime.evaluate", {"expression": "[document.title, document.body.innerText]",
                                                   "returnByValue": True}, session=session)
        title, text = result["result"]["value"]
        if screenshot:
            shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)
            with open(screenshot, "wb") as handle:
                handle.write(base64.b64decode(shot["data"]))
        return title, text, ""
    finally:
        browser.close()

