"""Client for the ECB euro foreign exchange reference rates (the XML feeds under ``settings.ECB_FX_URL``).

The ECB publishes one rate per currency per TARGET business day, around 16:00 CET, as "1 EUR = rate
quote". Three documents share one shape::

    <gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
                     xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
      <gesmes:subject>Reference rates</gesmes:subject>
      <gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
      <Cube>
        <Cube time="2025-01-10">
          <Cube currency="USD" rate="1.0304"/>
          ...

``eurofxref-daily.xml`` holds the latest day, ``eurofxref-hist-90d.xml`` the last 90 calendar days and
``eurofxref-hist.xml`` everything since 1999. The ``Cube`` elements are in the eurofxref default
namespace, so every lookup names it.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal, NamedTuple

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)

Feed = Literal["daily", "90d", "hist"]
FEEDS: dict[str, str] = {
    "daily": "eurofxref-daily.xml",
    "90d": "eurofxref-hist-90d.xml",
    "hist": "eurofxref-hist.xml",
}
GESMES_NS = "http://www.gesmes.org/xml/2002-08-01"
EUROFXREF_NS = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"
_CUBE = f"{{{EUROFXREF_NS}}}Cube"
_ENVELOPE = f"{{{GESMES_NS}}}Envelope"
MAX_RATE = Decimal(10) ** 14  # FxRate.rate is Decimal(24, 10): 14 integer digits

# Connect fast, allow the full history (a few MB) time to arrive.
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
USER_AGENT = "Chuhai FX refresh (+https://www.ecb.europa.eu/stats/eurofxref/)"


class EcbError(Exception):
    """The feed could not be used. Terminal: retrying will not help (a bad URL, a malformed document)."""


class EcbTransientError(EcbError):
    """The ECB answered 5xx or 429: try again later."""


class EcbRate(NamedTuple):
    """1 EUR = ``rate`` ``quote`` on ``date`` (a plain tuple: ``on, quote, rate = item`` works)."""

    date: date
    quote: str
    rate: Decimal


def feed_url(days: str) -> str:
    if days not in FEEDS:
        raise ValueError(f"Unknown ECB feed {days!r}; expected one of {', '.join(FEEDS)}.")
    return settings.ECB_FX_URL.rstrip("/") + "/" + FEEDS[days]


def fetch(days: str = "daily", *, client: httpx.Client | None = None) -> bytes:
    """Download one feed. Transport errors propagate as ``httpx.TransportError`` (transient)."""
    url = feed_url(days)
    if client is None:
        with httpx.Client(timeout=TIMEOUT, follow_redirects=True, headers={"User-Agent": USER_AGENT}) as c:
            response = c.get(url)
    else:
        response = client.get(url, timeout=TIMEOUT)
    if response.status_code >= 500 or response.status_code == 429:
        raise EcbTransientError(f"ECB feed {url} answered {response.status_code}; will retry.")
    if response.status_code != 200:
        raise EcbError(f"ECB feed {url} answered {response.status_code}.")
    return response.content


def parse(document: bytes | str) -> list[EcbRate]:
    """Every (date, quote, rate) in an ECB eurofxref document, EUR base, in document order."""
    if isinstance(document, str):
        document = document.encode()
    # The feed never has a DTD; refusing one keeps entity-expansion tricks out of the parser.
    if b"<!DOCTYPE" in document[:4096].upper():
        raise EcbError("ECB feed carries a DOCTYPE; refusing to parse it.")
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise EcbError(f"ECB feed is not well-formed XML: {exc}") from exc
    if root.tag != _ENVELOPE:
        raise EcbError(f"ECB feed root is {root.tag!r}, expected gesmes:Envelope.")
    outer = root.find(_CUBE)
    if outer is None:
        raise EcbError("ECB feed has no Cube element.")
    rates: list[EcbRate] = []
    for day in outer.findall(_CUBE):
        time = day.get("time")
        try:
            on = date.fromisoformat(time or "")
        except ValueError as exc:
            raise EcbError(f"ECB feed has a Cube with time={time!r}.") from exc
        for cell in day.findall(_CUBE):
            quote, raw = cell.get("currency", ""), cell.get("rate", "")
            if len(quote) != 3 or not quote.isalpha() or not quote.isupper():
                raise EcbError(f"ECB feed has currency {quote!r} on {on}.")
            try:
                rate = Decimal(raw)
            except InvalidOperation as exc:
                raise EcbError(f"ECB feed has rate {raw!r} for {quote} on {on}.") from exc
            if not rate.is_finite() or rate <= 0 or rate >= MAX_RATE:
                raise EcbError(f"ECB feed has rate {raw!r} for {quote} on {on}.")
            rates.append(EcbRate(on, quote, rate))
    return rates


def fetch_rates(days: str = "daily", *, client: httpx.Client | None = None) -> list[EcbRate]:
    """Download and parse one feed: ``[(date, quote, rate), ...]`` with EUR as the base."""
    rates = parse(fetch(days, client=client))
    logger.info("ECB %s feed: %d rates over %d days", days, len(rates), len({r.date for r in rates}))
    return rates
