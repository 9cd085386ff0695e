"""A platform that exists only for the engine's tests: a tiny paged report API and the backend that syncs it.

``FakeReportAPI`` is a WSGI app (serve it with ``config.testing.serve_wsgi``). It serves
``GET /v1/report?account=&start=&end=&page=`` as JSON pages of daily campaign rows for the window, checks a
bearer token, records every request, and can be told to misbehave on a given page (``fail``): 429 with a
Retry-After, 5xx, a slow answer (client timeout), 401, 400, a body the backend cannot read ("crash"), an
instruction to die like a killed worker ("kill"), or to hold the request until the test releases it ("gate").
``POST /v1/revoke`` forgets the token, as a real platform does when a seller disconnects.

``EngineTestBackend`` (platform ``test_platform``) talks to it only through ``ctx.http`` (PlatformHTTP), loads
every page as AdFact rows at campaign grain through ``ctx.load_ad_facts`` and checkpoints the page number in
the run's cursor after each page, so a killed run resumes at the next page.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import parse_qs

import httpx

from analytics.services import AdFact
from connectors.backends.base import Backend
from connectors.http import PlatformHTTP, raise_for_status

PLATFORM = "test_platform"
LABEL = "Test Platform"
CHANNEL = "test_channel"


class WorkerKilled(BaseException):  # noqa: N818 - it plays a signal, not an error
    """Raised by the backend when the fake says "kill": like SIGKILL, no ``except Exception`` sees it."""


def fact_values(day: date, campaign: int) -> dict:
    """The upstream numbers for one campaign on one day (deterministic, so tests can state them)."""
    d = day.toordinal() % 97
    return {
        "date": day.isoformat(),
        "campaign_id": f"C{campaign}",
        "campaign_name": f"Campaign {campaign}",
        "impressions": 1000 * campaign + d,
        "clicks": 10 * campaign + d % 7,
        "cost": str(Decimal("1.25") * campaign + Decimal(d) / 100),
        "orders": campaign,
        "units": campaign + 1,
        "sales": str(Decimal("9.90") * campaign + Decimal(d) / 10),
    }


@dataclass
class FakeReportAPI:
    token: str = "token-1"
    campaigns: int = 2
    page_size: int = 3
    requests: list[dict] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    overrides: dict[tuple[str, str], dict] = field(default_factory=dict)  # (day iso, campaign id) -> values
    sleeps: list[float] = field(default_factory=list)  # what PlatformHTTP was asked to sleep
    gate: threading.Event = field(default_factory=threading.Event)
    gate_reached: threading.Event = field(default_factory=threading.Event)
    _faults: dict[object, list[tuple]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- what a test sets up ----------------------------------------------------------------------
    def fail(self, page, fault: str, *args, times: int = 1) -> None:
        """The next ``times`` requests for ``page`` (an int, or "revoke") get ``fault`` instead of the page."""
        self._faults.setdefault(page, []).extend([(fault, *args)] * times)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def rows(self, start: date, end: date) -> list[dict]:
        rows = []
        for offset in range((end - start).days + 1):
            day = start + timedelta(days=offset)
            for campaign in range(1, self.campaigns + 1):
                row = fact_values(day, campaign)
                row.update(self.overrides.get((row["date"], row["campaign_id"]), {}))
                rows.append(row)
        return rows

    def pages(self, start: date, end: date) -> int:
        return max(1, math.ceil(len(self.rows(start, end)) / self.page_size))

    def pages_requested(self) -> list[int]:
        return [r["page"] for r in self.requests if r["path"] == "/v1/report"]

    # --- the WSGI app -------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if path == "/v1/revoke" and environ["REQUEST_METHOD"] == "POST":
            return self._revoke(auth, start_response)
        if path != "/v1/report":
            return self._send(start_response, "404 Not Found", {"error": "not found"})
        page = int(query.get("page", "1"))
        with self._lock:
            self.requests.append({**query, "path": path, "page": page})
            faults = self._faults.get(page) or []
            fault = faults.pop(0) if faults else None
        if fault is not None:
            answered = self._fault(fault, start_response)
            if answered is not None:
                return answered
        if auth != f"Bearer {self.token}" or self.token in self.revoked:
            return self._send(start_response, "401 Unauthorized", {"error": "invalid token"})
        start, end = date.fromisoformat(query["start"]), date.fromisoformat(query["end"])
        rows = self.rows(start, end)
        body = {
            "page": page,
            "pages": self.pages(start, end),
            "rows": rows[(page - 1) * self.page_size : page * self.page_size],
        }
        return self._send(start_response, "200 OK", body)

    def _fault(self, fault: tuple, start_response):
        kind, *args = fault
        if kind == "429":
            return self._send(
                start_response, "429 Too Many Requests", {"error": "throttled"}, [("Retry-After", args[0])]
            )
        if kind in ("500", "502", "503"):
            return self._send(start_response, f"{kind} Server Error", {"error": "upstream trouble"})
        if kind == "401":
            return self._send(start_response, "401 Unauthorized", {"error": "invalid token"})
        if kind == "400":
            return self._send(start_response, "400 Bad Request", {"error": args[0]})
        if kind == "timeout":
            time.sleep(args[0])
            return None  # then answer normally, long after the client gave up
        if kind == "crash":
            return self._send(start_response, "200 OK", {"unexpected": "shape"})
        if kind == "kill":
            return self._send(start_response, "200 OK", {"kill": True})
        if kind == "gate":
            self.gate_reached.set()
            self.gate.wait(timeout=20)
            return None
        raise ValueError(f"unknown fault {kind!r}")

    def _revoke(self, auth: str, start_response):
        with self._lock:
            self.requests.append({"path": "/v1/revoke", "page": None})
            faults = self._faults.get("revoke") or []
            fault = faults.pop(0) if faults else None
        if fault is not None:
            return self._fault(fault, start_response)
        self.revoked.append(auth.removeprefix("Bearer "))
        return self._send(start_response, "200 OK", {"revoked": True})

    @staticmethod
    def _send(start_response, status: str, body: dict, headers=()):
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers])
        return [data]


class EngineTestBackend(Backend):
    platform = PLATFORM
    label = LABEL
    channel = CHANNEL
    default_lookback_days = 3

    def _http_options(self) -> dict:
        conf = self.conf
        return {
            "rate": conf.get("rate", 1000.0),
            "burst": conf.get("burst", 1000.0),
            "retries": conf.get("retries", 2),
            "timeout": httpx.Timeout(conf.get("timeout", 5.0)),
            "sleep": conf["sleep"],
        }

    def revoke(self, *, credentials: dict) -> None:
        http = PlatformHTTP(platform=self.label, bucket="revoke", **self._http_options())
        try:
            response = http.request(
                "POST",
                f"{self.conf['api_url']}/v1/revoke",
                headers={"Authorization": f"Bearer {credentials.get('access_token', '')}"},
            )
            raise_for_status(response, platform=self.label)
        finally:
            http.close()

    def sync(self, ctx) -> None:
        connection = ctx.connection
        http = ctx.http(bucket=connection.external_id, **self._http_options())
        page = ctx.cursor.get("page", 0) + 1
        total = ctx.cursor.get("pages")
        try:
            while total is None or page <= total:
                response = http.request(
                    "GET",
                    f"{self.conf['api_url']}/v1/report",
                    params={
                        "account": connection.external_id,
                        "start": ctx.window_start.isoformat(),
                        "end": ctx.window_end.isoformat(),
                        "page": page,
                    },
                    headers={"Authorization": f"Bearer {ctx.credentials.get('access_token', '')}"},
                )
                raise_for_status(response, platform=self.label)
                payload = response.json()
                if payload.get("kill"):
                    raise WorkerKilled
                total = payload["pages"]
                ctx.load_ad_facts(self._fact(connection, row) for row in payload["rows"])
                ctx.progress(page, total)
                ctx.checkpoint(page=page, pages=total)
                page += 1
        finally:
            http.close()

    @staticmethod
    def _fact(connection, row: dict) -> AdFact:
        return AdFact(
            channel=CHANNEL,
            account_id=connection.external_id,
            marketplace=connection.marketplace,
            date=date.fromisoformat(row["date"]),
            grain="campaign",
            campaign_id=row["campaign_id"],
            campaign_name=row["campaign_name"],
            ad_group_id="",
            ad_group_name="",
            target_id="",
            target_text="",
            match_type="",
            search_term="",
            product_id="",
            impressions=row["impressions"],
            clicks=row["clicks"],
            cost=Decimal(row["cost"]),
            orders=row["orders"],
            units=row["units"],
            sales=Decimal(row["sales"]),
            currency=connection.currency,
            attribution_window="7d click",
            source="api",
            source_ref=connection.pk,
        )
