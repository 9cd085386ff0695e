"""The HTTP layer every platform client uses: timeouts, a shared rate limiter, and the retry policy.

Short waits (a 429 with a small Retry-After, a 502) are retried here a few times with bounded backoff;
anything longer surfaces as ``TransientError`` so the Celery task can retry later without holding a worker.
"""

from __future__ import annotations

import datetime
import email.utils
import logging
import random
import time
from collections.abc import Callable

import httpx

from connectors import ratelimit
from connectors.errors import AuthorizationError, PlatformError, TransientError

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_INLINE_WAIT = 30.0


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP-date; since Python 3.10 an unparsable one raises instead of returning None
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:  # "-0000" parses naive; HTTP-dates are always UTC
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return max(0.0, parsed.timestamp() - time.time())


class PlatformHTTP:
    """An httpx client with a per-platform token bucket and the retry rules above."""

    def __init__(
        self,
        *,
        platform: str,
        bucket: str,
        rate: float,
        burst: float,
        retries: int = 4,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        retry_statuses: frozenset[int] | set[int] = frozenset(RETRY_STATUSES),
    ):
        self.platform = platform
        self.retry_statuses = retry_statuses  # a client that reads its platform's 429 bodies itself drops 429
        self.bucket = f"{platform}:{bucket}"
        self.rate, self.burst = rate, burst
        self.retries = retries
        self.sleep = sleep
        self.client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)

    def close(self):
        self.client.close()

    def request(self, method: str, url: str, *, limited: bool = True, stream: bool = False, **kwargs) -> httpx.Response:
        """``stream=True`` returns the final response with its body unread: the caller iterates it and closes it."""
        attempt = 0
        while True:
            if limited:
                ratelimit.acquire(self.bucket, rate=self.rate, burst=self.burst, sleep=self.sleep)
            try:
                if stream:
                    response = self.client.send(self.client.build_request(method, url, **kwargs), stream=True)
                else:
                    response = self.client.request(method, url, **kwargs)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if attempt >= self.retries:
                    raise TransientError(
                        f"{self.platform} did not answer ({exc.__class__.__name__}); the sync will retry.",
                        detail=str(exc),
                    ) from exc
                self._backoff(attempt, None)
                attempt += 1
                continue
            if response.status_code in self.retry_statuses:
                if stream:
                    response.read()  # a short error body; reading it to the end also releases the connection
                wait = retry_after_seconds(response)
                if attempt >= self.retries or (wait is not None and wait > MAX_INLINE_WAIT):
                    raise TransientError(
                        f"{self.platform} is busy or unavailable (HTTP {response.status_code}); the sync will retry.",
                        retry_after=wait,
                        detail=response.text[:500],
                    )
                self._backoff(attempt, wait)
                attempt += 1
                continue
            return response

    def _backoff(self, attempt: int, retry_after: float | None) -> None:
        delay = retry_after if retry_after is not None else min(MAX_INLINE_WAIT, (2**attempt) + random.random())
        logger.info("%s: waiting %.1fs before retry %d", self.platform, delay, attempt + 1)
        self.sleep(delay)


def raise_for_status(response: httpx.Response, *, platform: str, reauth_statuses=(401,)) -> httpx.Response:
    """Turn a final 4xx into the error class the engine understands."""
    if response.status_code < 400:
        return response
    if response.status_code in reauth_statuses:
        raise AuthorizationError(
            f"{platform} rejected our access (HTTP {response.status_code}). Reconnect the account to continue.",
            detail=response.text[:500],
        )
    raise PlatformError(
        f"{platform} refused the request (HTTP {response.status_code}): {response.text[:300]}",
        detail=response.text[:2000],
    )
