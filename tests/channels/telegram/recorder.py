"""A local stand-in for Telegram's Bot API: records every method call, answers like Telegram.

``POST /bot<token>/<method>`` with a JSON body is recorded (with the token it came with) and answered
``{"ok": true, "result": {...}}`` (a Message for sendMessage); a failure queued in ``fail_next`` is answered
the way Telegram answers it (``{"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked
by the user"}``, 429 with ``parameters.retry_after``).
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>\w+)$")


class BotApiRecorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[dict] = []
        self.fail_next: list[tuple[int, str]] = []
        self._next_id = 100
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def sent(self, chat_id: int | None = None) -> list[dict]:
        """The sendMessage bodies (to one chat)."""
        return [c["body"] for c in self.calls if c["method"] == "sendMessage"
                and (chat_id is None or c["body"].get("chat_id") == chat_id)]

    def clear(self) -> None:
        with self.lock:
            self.calls.clear()
            self.fail_next.clear()

    def start(self) -> BotApiRecorder:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        rec = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _send(self, status: int, obj: dict) -> None:
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):  # noqa: N802
                m = PATH.match(self.path)
                n = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(n) or b"{}")
                except ValueError:
                    return self._send(400, {"ok": False, "error_code": 400, "description": "Bad Request: bad JSON"})
                if not m:
                    return self._send(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                with rec.lock:
                    fail = rec.fail_next.pop(0) if rec.fail_next else None
                    rec.calls.append({"method": m.group("method"), "token": m.group("token"), "body": body,
                                      "failed": bool(fail), "at": time.time()})
                    rec._next_id += 1
                    mid = rec._next_id
                if fail:
                    status, desc = fail
                    out = {"ok": False, "error_code": status, "description": desc}
                    if status == 429:
                        out["parameters"] = {"retry_after": 1}
                    return self._send(status, out)
                result: dict = {"message_id": mid, "date": int(time.time()), "chat": {"id": body.get("chat_id"),
                                                                                      "type": "private"}}
                if "text" in body:
                    result["text"] = body["text"]
                return self._send(200, {"ok": True, "result": result})

        return H
