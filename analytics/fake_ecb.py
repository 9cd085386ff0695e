"""A local stand-in for the ECB euro reference rates feeds, for tests and the local demo.

Serves ``/eurofxref-daily.xml``, ``/eurofxref-hist-90d.xml`` and ``/eurofxref-hist.xml`` (under any path
prefix) in the ECB's own shape: a ``gesmes:Envelope`` with the eurofxref default namespace and three levels
of ``Cube``, newest day first, single-quoted attributes. Standard library only, a plain WSGI callable, so
it runs under ``wsgiref`` in a thread::

    app = make_app()                     # a generated series, or make_app({date: {"USD": "1.0812"}})
    app.fail_next = 503                  # the next request answers 503 (app.fail_times requests in a row)

Run it for the demo with ``python -m analytics.fake_ecb --port 8765`` and set
``ECB_FX_URL=http://127.0.0.1:8765/``.

The generated series is a pure function of (currency, day): plausible 2025-2026 levels for the currencies
our sellers use, moving smoothly (a few slow waves plus a little noise, under half a percent a day), on
TARGET business days only (no weekends, New Year, Good Friday, Easter Monday, 1 May, 25-26 December).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from wsgiref.simple_server import make_server

FEEDS = {"eurofxref-daily.xml": "daily", "eurofxref-hist-90d.xml": "90d", "eurofxref-hist.xml": "hist"}
NINETY_DAYS = timedelta(days=90)
HISTORY = timedelta(days=400)
_ANCHOR = date(2025, 1, 1)

# code: (level, relative amplitude, decimals as the ECB prints them, relative drift per year).
# In the ECB's order of publication.
SERIES: dict[str, tuple[float, float, int, float]] = {
    "USD": (1.125, 0.025, 4, 0.0),
    "JPY": (165.0, 0.030, 2, 0.0),
    "GBP": (0.855, 0.020, 5, 0.0),
    "PLN": (4.26, 0.015, 4, 0.0),
    "SEK": (11.15, 0.025, 4, 0.0),
    "TRY": (44.0, 0.015, 4, 0.20),
    "AUD": (1.74, 0.030, 4, 0.0),
    "BRL": (6.35, 0.035, 4, 0.0),
    "CAD": (1.57, 0.025, 4, 0.0),
    "CNY": (8.00, 0.025, 4, 0.0),
    "HKD": (8.78, 0.025, 4, 0.0),
    "IDR": (18600.0, 0.030, 2, 0.0),
    "INR": (97.0, 0.025, 4, 0.0),
    "KRW": (1590.0, 0.030, 2, 0.0),
    "MXN": (21.4, 0.030, 4, 0.0),
    "MYR": (4.85, 0.025, 4, 0.0),
    "PHP": (65.0, 0.025, 3, 0.0),
    "SGD": (1.48, 0.020, 4, 0.0),
    "THB": (37.4, 0.025, 3, 0.0),
}
# Pegged or managed currencies move with the dollar.
_WAVE_OF = {"HKD": "USD", "CNY": "USD", "MYR": "USD"}


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from its inputs."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def is_business_day(day: date) -> bool:
    """A TARGET business day: the days the ECB publishes reference rates."""
    if day.weekday() >= 5:
        return False
    easter = _easter(day.year)
    holidays = {
        date(day.year, 1, 1),
        easter - timedelta(days=2),
        easter + timedelta(days=1),
        date(day.year, 5, 1),
        date(day.year, 12, 25),
        date(day.year, 12, 26),
    }
    return day not in holidays


def generated_rate(currency: str, day: date) -> Decimal:
    """The fake's rate for 1 EUR in ``currency`` on ``day``, as the ECB would print it."""
    level, amplitude, decimals, drift = SERIES[currency]
    t = (day - _ANCHOR).days
    wave = _WAVE_OF.get(currency, currency)
    phases = [2 * math.pi * _unit(wave, n) for n in range(3)]
    shape = (
        math.sin(2 * math.pi * t / 211 + phases[0])
        + 0.35 * math.sin(2 * math.pi * t / 47 + phases[1])
        + 0.06 * math.sin(2 * math.pi * t / 13 + phases[2])
    )
    noise = (_unit(currency, day) - 0.5) * 0.0006
    value = level * (1 + drift * (t - 181) / 365) * (1 + amplitude * shape / 1.41 + noise)
    return Decimal(f"{value:.{decimals}f}")


def business_days(start: date, end: date) -> list[date]:
    """TARGET business days from ``start`` to ``end`` inclusive, oldest first."""
    return [
        start + timedelta(days=n) for n in range((end - start).days + 1) if is_business_day(start + timedelta(days=n))
    ]


def render(days: dict[date, dict[str, Decimal | str]]) -> bytes:
    """An eurofxref document for ``{day: {currency: rate}}``, newest day first, in the ECB's layout."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
        'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">',
        "\t<gesmes:subject>Reference rates</gesmes:subject>",
        "\t<gesmes:Sender>",
        "\t\t<gesmes:name>European Central Bank</gesmes:name>",
        "\t</gesmes:Sender>",
        "\t<Cube>",
    ]
    for day in sorted(days, reverse=True):
        lines.append(f"\t\t<Cube time='{day.isoformat()}'>")
        lines.extend(f"\t\t\t<Cube currency='{code}' rate='{rate}'/>" for code, rate in days[day].items())
        lines.append("\t\t</Cube>")
    lines += ["\t</Cube>", "</gesmes:Envelope>", ""]
    return "\n".join(lines).encode()


class FakeEcb:
    """The WSGI app. Attributes tests may set: ``rates`` (``None`` for the generated series, else
    ``{date or "YYYY-MM-DD": {currency: rate}}``), ``today`` (``None`` for today in UTC, or for explicit
    rates their newest day), ``fail_next`` (an HTTP status for the next request) with ``fail_times``
    (how many requests in a row fail, default 1). ``requests`` records each path asked for."""

    def __init__(self, rates: dict | None = None, today: date | None = None):
        self.rates = rates
        self.today = today
        self.fail_next: int | None = None
        self.fail_times = 1
        self.requests: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "/")
        with self._lock:
            self.requests.append(path)
            failure = self.fail_next
            if failure is not None:
                self.fail_times -= 1
                if self.fail_times <= 0:
                    self.fail_next, self.fail_times = None, 1
        if failure is not None:
            return self._respond(start_response, failure, b"Service Unavailable\n", "text/plain")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return self._respond(start_response, 405, b"Method Not Allowed\n", "text/plain")
        feed = FEEDS.get(path.rsplit("/", 1)[-1])
        if feed is None:
            return self._respond(start_response, 404, b"Not Found\n", "text/plain")
        body = render(self.days(feed))
        if environ.get("REQUEST_METHOD") == "HEAD":
            start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
            return [b""]
        return self._respond(start_response, 200, body, "text/xml")

    def days(self, feed: str) -> dict[date, dict[str, Decimal | str]]:
        """What a feed holds now: ``daily`` the newest day, ``90d`` the last 90 calendar days, ``hist``
        everything (about 400 days of the generated series)."""
        if self.rates is None:
            end = self.today or datetime.now(UTC).date()
            table = {
                day: {code: generated_rate(code, day) for code in SERIES} for day in business_days(end - HISTORY, end)
            }
        else:
            table = {
                (date.fromisoformat(day) if isinstance(day, str) else day): dict(values)
                for day, values in self.rates.items()
            }
            if not table:
                return {}
            end = self.today or max(table)
            table = {day: values for day, values in table.items() if day <= end}
        if not table:
            return {}
        if feed == "daily":
            newest = max(table)
            return {newest: table[newest]}
        if feed == "90d":
            return {day: values for day, values in table.items() if day >= end - NINETY_DAYS}
        return table

    @staticmethod
    def _respond(start_response, status: int, body: bytes, content_type: str):
        reasons = {
            200: "OK",
            404: "Not Found",
            405: "Method Not Allowed",
            429: "Too Many Requests",
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service Unavailable",
            504: "Gateway Timeout",
        }
        start_response(
            f"{status} {reasons.get(status, 'Error')}",
            [("Content-Type", content_type), ("Content-Length", str(len(body)))],
        )
        return [body]


def make_app(rates: dict | None = None) -> FakeEcb:
    """A fake ECB: the generated series when ``rates`` is None, else exactly ``rates``."""
    return FakeEcb(rates)


def make_public_app(public_url: str) -> FakeEcb:
    """Factory for ``connectors.fakes`` (all fakes on one port): the generated series."""
    return FakeEcb(None)


def main() -> None:  # pragma: no cover - the local demo
    parser = argparse.ArgumentParser(description="Serve fake ECB eurofxref feeds.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    options = parser.parse_args()
    with make_server(options.host, options.port, make_app()) as server:
        print(f"Fake ECB on http://{options.host}:{server.server_port}/ (set ECB_FX_URL to it)")
        server.serve_forever()


if __name__ == "__main__":
    main()
