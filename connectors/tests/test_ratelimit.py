"""The shared token bucket, on PostgreSQL (no Redis configured) and on Redis.

Sleeps are injected and recorded, so nothing waits for real: a caller that finds no token is told how long
to wait and owes the token, so the waits of callers that arrive together are spaced 1/rate apart.
Expected waits are exact up to the real time that passes during the calls, which refills the bucket a little:
each wait is asserted to lie in [expected - elapsed, expected].
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.db import connections

from connectors import ratelimit
from connectors.models import RateLimitBucket

REDIS_URL = "redis://127.0.0.1:6379/15"
RATE, BURST = 4.0, 3.0  # a token every 0.25 s, three at once
TOLERANCE = 0.05  # tokens compared after a handful of calls: the refill of a few milliseconds, times RATE


class Clock:
    """Measures the real time a block takes, to bound how much the bucket refilled meanwhile."""

    def __enter__(self):
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.monotonic() - self.started


def assert_waits(waits, expected, clock):
    assert len(waits) == len(expected)
    for wait, exact in zip(waits, expected, strict=True):
        if exact == 0:
            assert wait == 0.0
        else:
            assert exact - clock.elapsed <= wait <= exact, (waits, expected, clock.elapsed)


def _redis_client():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError:
        return None
    return client


@pytest.fixture(params=["database", "redis"])
def backend(request, settings):
    """Where the buckets live. Yields a function that reads a bucket's tokens and sets its last refill time."""
    key_prefix = f"test:{uuid.uuid4().hex}"
    if request.param == "database":
        settings.RATE_LIMIT_REDIS_URL = ""
        settings.CELERY_BROKER_URL = "filesystem://"

        class Database:
            name = "database"
            prefix = key_prefix

            @staticmethod
            def tokens(key):
                return RateLimitBucket.objects.get(key=key).tokens

            @staticmethod
            def set_updated(key, when):
                RateLimitBucket.objects.filter(key=key).update(updated_at=when)

        yield Database
        return
    client = _redis_client()
    if client is None:
        pytest.skip(f"Redis does not answer PING at {REDIS_URL}")
    settings.RATE_LIMIT_REDIS_URL = REDIS_URL

    class Redis:
        name = "redis"
        prefix = key_prefix

        @staticmethod
        def tokens(key):
            return float(client.hget(f"chuhai:ratelimit:{key}", "tokens"))

        @staticmethod
        def set_updated(key, when):
            client.hset(f"chuhai:ratelimit:{key}", "updated", repr(when))

    try:
        yield Redis
    finally:
        for name in client.scan_iter(f"chuhai:ratelimit:{key_prefix}*"):
            client.delete(name)
        client.close()


def take(key, sleeps, n=1):
    return [ratelimit.acquire(key, rate=RATE, burst=BURST, sleep=sleeps.append) for _ in range(n)]


@pytest.mark.django_db
def test_burst_is_free_then_waits_are_rate_spaced(backend):
    key, sleeps = f"{backend.prefix}:a", []

    with Clock() as clock:
        waits = take(key, sleeps, 6)

    assert_waits(waits, [0.0, 0.0, 0.0, 0.25, 0.50, 0.75], clock)
    assert sleeps == waits[3:]  # slept exactly what was owed, and only then
    assert backend.tokens(key) == pytest.approx(-3.0, abs=TOLERANCE * RATE)


@pytest.mark.django_db
def test_buckets_are_independent_per_key(backend):
    busy, quiet, sleeps = f"{backend.prefix}:busy", f"{backend.prefix}:quiet", []
    with Clock() as clock:
        take(busy, sleeps, 5)
        quiet_waits = take(quiet, sleeps, 3)
        busy_waits = take(busy, sleeps)

    assert quiet_waits == [0.0, 0.0, 0.0]
    assert_waits(busy_waits, [0.75], clock)


@pytest.mark.django_db
def test_tokens_refill_at_the_rate_up_to_the_burst(backend):
    key, sleeps = f"{backend.prefix}:refill", []
    with Clock() as clock:
        take(key, sleeps, 5)  # 3 free, 2 owed: the bucket stands at -2
        backend.set_updated(key, time.time() - 1.0)  # a second later: +4 tokens, so 2
        waits = take(key, sleeps, 3)
    assert_waits(waits, [0.0, 0.0, 0.25], clock)

    with Clock() as clock:
        backend.set_updated(key, time.time() - 3600)  # long idle: capped at the burst, not 14 400 tokens
        waits = take(key, sleeps, 4)
    assert_waits(waits, [0.0, 0.0, 0.0, 0.25], clock)


@pytest.mark.django_db(transaction=True)
def test_concurrent_callers_queue_behind_each_other(backend):
    """Four workers find the bucket empty at once: they are told to wait 1, 2, 3 and 4 intervals."""
    key = f"{backend.prefix}:crowd"
    barrier = threading.Barrier(4)
    waits: list[float] = []
    errors: list[BaseException] = []

    def worker():
        try:
            barrier.wait(5)
            waits.extend(take(key, []))
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    with Clock() as clock:
        take(key, [], 3)  # the burst is gone
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)

    assert errors == []
    assert_waits(sorted(waits), [0.25, 0.50, 0.75, 1.00], clock)


@pytest.mark.django_db
def test_redis_holds_the_buckets_when_configured(settings):
    client = _redis_client()
    if client is None:
        pytest.skip(f"Redis does not answer PING at {REDIS_URL}")
    key = f"test:{uuid.uuid4().hex}"
    try:
        settings.RATE_LIMIT_REDIS_URL = REDIS_URL
        take(key, [], 2)
        assert float(client.hget(f"chuhai:ratelimit:{key}", "tokens")) == pytest.approx(1.0, abs=TOLERANCE * RATE)
        assert 0 < client.ttl(f"chuhai:ratelimit:{key}") <= 3600  # idle buckets expire

        settings.RATE_LIMIT_REDIS_URL = None
        settings.CELERY_BROKER_URL = REDIS_URL  # a Redis broker is used when no URL of its own is set
        take(key, [], 1)
        assert float(client.hget(f"chuhai:ratelimit:{key}", "tokens")) == pytest.approx(0.0, abs=TOLERANCE * RATE)
        assert RateLimitBucket.objects.count() == 0
    finally:
        client.delete(f"chuhai:ratelimit:{key}")
        client.close()


@pytest.mark.django_db
def test_without_redis_the_buckets_are_rows(settings):
    settings.RATE_LIMIT_REDIS_URL = ""
    settings.CELERY_BROKER_URL = "filesystem://"
    key = f"test:{uuid.uuid4().hex}"

    take(key, [], 2)

    bucket = RateLimitBucket.objects.get()
    assert bucket.key == key
    assert bucket.tokens == pytest.approx(1.0, abs=TOLERANCE * RATE)
    assert bucket.updated_at == pytest.approx(time.time(), abs=5)
