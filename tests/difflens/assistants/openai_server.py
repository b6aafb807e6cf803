"""A small OpenAI-compatible chat-completions server on loopback, for tests.

It answers ``POST /v1/chat/completions`` (and the completions route, ``POST /v1/completions``,
whose prompt holds the same text) like a model that follows difflens's prompts: a judge
prompt gets ``{"score": 0.9}`` if the judged text mentions the ocean, else ``{"score": 0.1}``;
a propose prompt gets a JSON list of hypotheses; a write prompt gets a JSON list of texts. A
script of faults is consumed one per request, in arrival order: ``"stall"`` (sleep past the
client's timeout, then answer), an HTTP status such as ``"429"`` or ``"500"``, ``"garbage"`` (HTTP 200 with a body that
is not JSON) and ``"unreadable"`` (a valid completion whose content the parser cannot read).
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeChatServer:
    """Start with ``with FakeChatServer() as server:``; ``server.base_url`` is the endpoint."""

    def __init__(self, stall_seconds: float = 3.0):
        self.stall_seconds = stall_seconds
        self.chat_template = True  # False: chat requests fail with HTTP 500, as transformers serve's do
        self.faults: list[str] = []
        self.requests: list[dict] = []  # {"body", "authorization", "fault"} per request received
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.endswith("/completions") and not self.path.endswith("/chat/completions"):
                    self._complete(body)
                    return
                if not server.chat_template:
                    with server.lock:
                        server.requests.append({"body": body, "authorization": self.headers.get("Authorization"),
                                                "fault": "no chat template", "route": "chat"})
                    error = {"error": {"message": "Cannot use chat template functions because "
                                                  "tokenizer.chat_template is not set", "type": "server_error"}}
                    self._send(500, json.dumps(error).encode())
                    return
                with server.lock:
                    fault = server.faults.pop(0) if server.faults else None
                    server.requests.append({"body": body, "authorization": self.headers.get("Authorization"),
                                            "fault": fault})
                if fault == "stall":
                    time.sleep(server.stall_seconds)
                if fault is not None and fault.isdigit():
                    error = {"error": {"message": f"fault {fault}", "type": "fault"}}
                    self._send(int(fault), json.dumps(error).encode(),
                               extra={"Retry-After": "0"} if fault == "429" else None)
                    return
                if fault == "garbage":
                    self._send(200, b"<html>upstream proxy error {{{")
                    return
                content = "I would rather not say." if fault == "unreadable" else answer(body["messages"])
                reply = {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "fake"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
                }
                self._send(200, json.dumps(reply).encode())

            def _complete(self, body):
                # The legacy completions route: one prompt string; the user part follows the system part.
                prompt = body["prompt"]
                with server.lock:
                    server.requests.append({"body": body, "authorization": self.headers.get("Authorization"),
                                            "fault": None, "route": "completions"})
                start = max(prompt.rfind("Hypothesis:"), 0)
                reply = {"id": "cmpl-test", "object": "text_completion", "created": int(time.time()),
                         "model": body.get("model", "fake"),
                         "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                      "text": answer([{"role": "user", "content": prompt[start:]}])}],
                         "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}}
                self._send(200, json.dumps(reply).encode())

            def _send(self, status, payload, extra=None):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for k, v in (extra or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def answer(messages: list[dict]) -> str:
    user = messages[-1]["content"]
    if user.startswith("Hypothesis:"):
        text = user.split("<<<", 1)[1].rsplit(">>>", 1)[0]
        return json.dumps({"score": 0.9 if re.search(r"\b(ocean|wave|waves|tide|sea)\b", text, re.I) else 0.1})
    if "Group A:" in user:
        n = int(re.search(r"Propose up to (\d+)", user).group(1))
        hypotheses = [f"Texts from the intervention model mention the ocean ({i})" for i in range(n)]
        return "```json\n" + json.dumps(hypotheses) + "\n```"
    m = re.search(r"Write (\d+) different texts \(numbers (\d+) to", user)
    n, start = int(m.group(1)), int(m.group(2))
    return "Here you go:\n" + json.dumps([f"Example {start + i} about the sea." for i in range(n)])
