"""A local OpenAI-compatible chat-completions server for tests and the demo (standard library only, no Django).

``make_app()`` returns a WSGI app serving ``POST /v1/chat/completions`` in OpenAI's response shape (``id``,
``object: "chat.completion"``, ``created``, ``model``, ``choices[0].message.content``, ``usage``). Requests need
``Authorization: Bearer <key>`` with a key from ``api_keys``; otherwise 401 with OpenAI's error body. Errors
always use OpenAI's ``{"error": {"message", "type", "param", "code"}}`` body.

The answer is deterministic JSON read from the last user message, which the copy provider sends as JSON:

- ``task: "ad_copy"``: ``{"variants": [{"headline", "body"}]}`` in the requested ``language`` (a short native
  lead-in per language, then the product's own words), ``variants`` of them, honouring a null limit with "";
- ``task: "translate_keywords"``: ``{"keywords": [{"source", "translation"}]}`` from a small glossary, else
  ``"<keyword> (<target language>)"``.

Test hooks: ``app.faults.add(kind, times=1, **params)`` queues one-shot faults taken by the next requests:
``429`` (``retry_after_ms``, default 20, also sent as whole seconds in ``Retry-After``), ``500`` (optional
``retry_after_ms``), ``malformed`` (content that is not JSON), ``wrong_shape`` (JSON without the expected list),
``fenced`` (valid JSON inside a Markdown code fence), ``long`` (texts far over the limits), ``slow`` (sleep
``seconds`` before answering). ``app.requests`` logs each call as a dict (path, status, model,
response_format, task, fault).

Run it by hand with ``python -m campaigns.copy.fake_llm [port]``; the key is ``sk-fake-chuhai``.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import threading
import time
from collections import deque

DEFAULT_API_KEY = "sk-fake-chuhai"
FAULT_KINDS = ("429", "500", "malformed", "wrong_shape", "fenced", "long", "slow")

# A native lead-in per language, so tests can tell the language asked for from the answer.
LEAD_INS = {
    "en": "Meet",
    "es": "Descubre",
    "ar": "اكتشف",
    "de": "Entdecken Sie",
    "fr": "Découvrez",
    "it": "Scopri",
    "pt": "Conheça",
    "ja": "ご紹介：",
    "ko": "소개:",
    "id": "Temukan",
    "th": "พบกับ",
    "zh-Hans": "了解",
}
GLOSSARY = {
    ("en", "de"): {"wireless earbuds": "kabellose ohrhörer", "yoga mat": "yogamatte", "phone case": "handyhülle"},
    ("en", "fr"): {"wireless earbuds": "écouteurs sans fil", "yoga mat": "tapis de yoga"},
    ("en", "ja"): {"wireless earbuds": "ワイヤレスイヤホン", "yoga mat": "ヨガマット"},
    ("en", "zh-Hans"): {"wireless earbuds": "无线耳机", "yoga mat": "瑜伽垫"},
}


class Faults:
    """One-shot faults, taken in the order they were added by the next requests."""

    def __init__(self):
        self._queue: deque = deque()
        self._lock = threading.Lock()

    def add(self, kind: str, *, times: int = 1, **params) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; faults: {', '.join(FAULT_KINDS)}")
        with self._lock:
            for _ in range(times):
                self._queue.append((kind, params))

    def take(self):
        with self._lock:
            return self._queue.popleft() if self._queue else (None, {})

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()


class FakeLLM:
    """The WSGI app. One instance per test keeps its faults and request log apart from other tests."""

    def __init__(self, *, api_keys=(DEFAULT_API_KEY,)):
        self.api_keys = set(api_keys)
        self.faults = Faults()
        self.requests: list[dict] = []
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        record = {"path": path, "status": 0, "model": None, "response_format": None, "task": None, "fault": None}
        status, headers, body = self._handle(environ, method, path, record)
        record["status"] = int(status.split()[0])
        with self._lock:
            self.requests.append(record)
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        start_response(
            status,
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), *headers],
        )
        return [payload]

    # --- request handling --------------------------------------------------------------------------------------

    def _handle(self, environ, method: str, path: str, record: dict):
        if path.rstrip("/") != "/v1/chat/completions" or method != "POST":
            return _error("404 Not Found", f"Invalid URL ({method} {path})", "invalid_request_error")
        key = _bearer(environ.get("HTTP_AUTHORIZATION", ""))
        if not key:
            return _error(
                "401 Unauthorized",
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
            )
        if key not in self.api_keys:
            return _error(
                "401 Unauthorized",
                f"Incorrect API key provided: {_mask(key)}.",
                "invalid_request_error",
                code="invalid_api_key",
            )
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            request = json.loads(environ["wsgi.input"].read(length) or b"null")
        except ValueError:
            request = None
        if not isinstance(request, dict) or not request.get("model") or not isinstance(request.get("messages"), list):
            return _error(
                "400 Bad Request",
                "We could not parse the JSON body of your request: it needs 'model' and 'messages'.",
                "invalid_request_error",
            )
        record["model"] = request["model"]
        record["response_format"] = (request.get("response_format") or {}).get("type")

        kind, params = self.faults.take()
        record["fault"] = kind
        if kind == "429":
            wait_ms = float(params.get("retry_after_ms", 20))
            status, headers, body = _error(
                "429 Too Many Requests",
                "Rate limit reached for requests. Please try again later.",
                "requests",
                code="rate_limit_exceeded",
            )
            headers = [
                ("Retry-After", str(max(1, math.ceil(wait_ms / 1000)))),
                ("retry-after-ms", str(wait_ms)),
                ("x-ratelimit-remaining-requests", "0"),
            ]
            return status, headers, body
        if kind == "500":
            status, headers, body = _error(
                "500 Internal Server Error",
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
            )
            if "retry_after_ms" in params:
                headers = [("retry-after-ms", str(float(params["retry_after_ms"])))]
            return status, headers, body
        if kind == "slow":
            time.sleep(float(params.get("seconds", 1.0)))

        user = next((m for m in reversed(request["messages"]) if isinstance(m, dict) and m.get("role") == "user"), {})
        try:
            asked = json.loads(user.get("content") or "")
        except (TypeError, ValueError):
            asked = {}
        if not isinstance(asked, dict):
            asked = {}
        record["task"] = asked.get("task", "ad_copy")
        content = self._content(asked, kind)
        return "200 OK", [], _completion(request, content)

    def _content(self, asked: dict, fault: str | None) -> str:
        if fault == "malformed":
            return "Sure! Here are some ideas for your ads: 1. Great earbuds 2. Even better earbuds"
        if fault == "wrong_shape":
            return json.dumps({"ideas": ["Great earbuds"]})
        if asked.get("task") == "translate_keywords":
            answer = _translations(asked)
        else:
            answer = _ad_copy(asked, long=fault == "long")
        text = json.dumps(answer, ensure_ascii=False)
        return f"```json\n{text}\n```" if fault == "fenced" else text


def make_app(*, api_keys=(DEFAULT_API_KEY,)) -> FakeLLM:
    """A fresh fake server app accepting ``api_keys``."""
    return FakeLLM(api_keys=api_keys)


# --- answers ---------------------------------------------------------------------------------------------------


def _ad_copy(asked: dict, *, long: bool) -> dict:
    language = asked.get("language") or "en"
    product = asked.get("product") or {}
    limits = asked.get("limits") or {}
    title = str(product.get("title") or "product")
    brand = str(product.get("brand") or "")
    features = [str(f) for f in product.get("features") or [] if str(f).strip()]
    lead_in = LEAD_INS.get(language, LEAD_INS["en"])
    count = max(1, min(int(asked.get("variants") or 3), 10))
    separator = "、" if language in ("ja", "zh-Hans") else ", "
    headlines = [f"{brand} {title}".strip(), title, f"{brand}: {features[0]}" if brand and features else title]
    variants = []
    for index in range(count):
        headline = headlines[index % len(headlines)]
        if index >= len(headlines):
            headline = f"{headline} {index + 1}"
        shown = features[: 1 + index % max(1, len(features))] if features else []
        body = f"{lead_in} {title}" + (f": {separator.join(shown)}" if shown else "")
        if long:
            headline, body = " ".join([headline] * 8), " ".join([body] * 8)
        variants.append(
            {
                "headline": "" if limits.get("headline", 1) is None else headline,
                "body": "" if limits.get("body", 1) is None else body,
            }
        )
    return {"variants": variants}


def _translations(asked: dict) -> dict:
    source, target = asked.get("source_language") or "en", asked.get("target_language") or "en"
    glossary = GLOSSARY.get((source, target), {})
    keywords = [str(k) for k in asked.get("keywords") or []]
    return {
        "keywords": [{"source": k, "translation": glossary.get(k.strip().lower(), f"{k} ({target})")} for k in keywords]
    }


def _completion(request: dict, content: str) -> dict:
    digest = hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
    prompt_tokens = sum(len(str(m.get("content", ""))) // 4 + 1 for m in request["messages"] if isinstance(m, dict))
    completion_tokens = len(content) // 4 + 1
    return {
        "id": f"chatcmpl-{digest[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": "fp_chuhai_fake",
    }


def _error(status: str, message: str, error_type: str, *, code: str | None = None):
    return status, [], {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def _bearer(header: str) -> str:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _mask(key: str) -> str:
    return f"{key[:3]}{'*' * max(0, len(key) - 7)}{key[-4:]}" if len(key) > 7 else "***"


if __name__ == "__main__":  # pragma: no cover - manual use
    from wsgiref.simple_server import make_server

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    with make_server("127.0.0.1", port, make_app()) as server:
        print(f"fake chat completions at http://127.0.0.1:{port}/v1 (key {DEFAULT_API_KEY})")
        server.serve_forever()
