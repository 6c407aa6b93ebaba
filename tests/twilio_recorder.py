"""A local stand-in for Twilio's REST API: records what Bharosa sends, serves media and recordings.

The code under test really talks to it over HTTP (``TWILIO_API_BASE_URL``). It records every
``Messages.json`` POST (with the Basic-auth user it came with), answers like Twilio (201 + a
Message resource, or Twilio's error JSON when a failure is injected), and serves files registered
under ``/media/<name>`` and recordings under ``/2010-04-01/Accounts/<sid>/Recordings/<RE>``.

Standalone (for ``make run`` and the fault tests): ``python -m tests.twilio_recorder --port 8099
--log var/recorder.jsonl``; ``GET /_log`` returns every record as JSON.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

MSG_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<acct>AC\w+)/Messages\.json$")
REC_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<acct>AC\w+)/Recordings/(?P<rec>RE\w+?)(?P<ext>\.\w+)?$")


class Recorder:
    """Holds the records and the knobs; one per server."""

    def __init__(self, log_path: str | None = None) -> None:
        self.lock = threading.Lock()
        self.messages: list[dict] = []
        self.requests: list[dict] = []
        self.media: dict[str, tuple[bytes, str, int]] = {}
        self.fail_to: dict[str, tuple[int, int]] = {}
        self.fail_next: list[tuple[int, int]] = []
        self.delay_s = 0.0
        self.log_path = Path(log_path) if log_path else None

    def add_media(self, name: str, data: bytes, content_type: str, status: int = 200) -> str:
        self.media[name] = (data, content_type, status)
        return f"/media/{name}"

    def sms(self) -> list[dict]:
        return [m for m in self.messages if not m["To"].startswith("whatsapp:")]

    def to(self, number: str) -> list[dict]:
        return [m for m in self.messages if m["To"].removeprefix("whatsapp:") == number]

    def record(self, kind: str, rec: dict) -> None:
        rec = {"kind": kind, "at": time.time(), **rec}
        with self.lock:
            (self.messages if kind == "message" else self.requests).append(rec)
            if self.log_path:
                with self.log_path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.requests.clear()
            self.fail_to.clear()
            self.fail_next.clear()


def _handler(rec: Recorder):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):  # quiet
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json", headers: dict | None = None):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _auth_user(self) -> str | None:
            h = self.headers.get("Authorization", "")
            if not h.startswith("Basic "):
                return None
            try:
                return base64.b64decode(h[6:]).decode().split(":", 1)[0]
            except Exception:
                return None

        def do_GET(self):  # noqa: N802
            path = urlsplit(self.path).path
            rec.record("get", {"path": path, "auth": self._auth_user()})
            if path == "/_log":
                with rec.lock:
                    body = json.dumps({"messages": rec.messages, "requests": rec.requests}, ensure_ascii=False)
                return self._send(200, body.encode())
            name = None
            if path.startswith("/media/"):
                name = path[len("/media/"):]
            m = REC_PATH.match(path)
            if m:
                name = m.group("rec")
            if name and name in rec.media:
                data, ctype, status = rec.media[name]
                if status in (301, 302, 307):
                    return self._send(status, b"", "text/plain", {"Location": data.decode()})
                return self._send(status, data, ctype)
            return self._send(404, b'{"code": 20404, "message": "not found"}')

        def do_POST(self):  # noqa: N802
            path = urlsplit(self.path).path
            n = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(self.rfile.read(n).decode()).items()}
            if path == "/_clear":
                rec.clear()
                return self._send(204, b"")
            m = MSG_PATH.match(path)
            if not m:
                return self._send(404, b'{"code": 20404, "message": "not found"}')
            user = self._auth_user()
            if user != m.group("acct"):
                return self._send(401, b'{"code": 20003, "message": "Authenticate", "status": 401}')
            if rec.delay_s:
                time.sleep(rec.delay_s)
            to = form.get("To", "")
            fail = rec.fail_to.get(to.removeprefix("whatsapp:"))
            if fail is None and rec.fail_next:
                fail = rec.fail_next.pop(0)
            if fail:
                status, code = fail
                rec.record("rejected", {"To": to, "code": code, "status": status})
                body = {"code": code, "message": f"injected error {code}", "status": status}
                return self._send(status, json.dumps(body).encode())
            sid = "SM" + secrets.token_hex(16)
            rec.record("message", {"sid": sid, "To": to, "From": form.get("From", ""), "Body": form.get("Body", ""),
                                   "ContentSid": form.get("ContentSid"),
                                   "ContentVariables": form.get("ContentVariables"),
                                   "StatusCallback": form.get("StatusCallback"), "MediaUrl": form.get("MediaUrl"),
                                   "account": user})
            body = {"sid": sid, "account_sid": user, "to": to, "from": form.get("From"), "body": form.get("Body", ""),
                    "status": "queued", "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
                    "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
                    "uri": f"/2010-04-01/Accounts/{user}/Messages/{sid}.json"}
            return self._send(201, json.dumps(body).encode())

    return H


class RecorderServer:
    """Runs a :class:`Recorder` on 127.0.0.1 in a background thread."""

    def __init__(self, port: int = 0, log_path: str | None = None) -> None:
        self.recorder = Recorder(log_path)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self.recorder))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> RecorderServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main() -> None:
    ap = argparse.ArgumentParser(description="Local Twilio REST recorder")
    ap.add_argument("--port", type=int, default=8099)
    ap.add_argument("--log", default=None)
    args = ap.parse_args()
    srv = RecorderServer(args.port, args.log)
    print(f"twilio recorder on {srv.url}", flush=True)
    srv.httpd.serve_forever()


if __name__ == "__main__":
    main()
