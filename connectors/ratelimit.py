"""A token bucket per platform and account, shared by every worker process.

Redis holds the buckets when ``RATE_LIMIT_REDIS_URL`` (or a ``redis://`` broker) is configured; otherwise a
row per bucket in PostgreSQL, updated under ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

import time
from functools import cache

from django.conf import settings
from django.db import transaction

REDIS_SCRIPT = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or ARGV[2])
local updated = tonumber(redis.call('HGET', KEYS[1], 'updated') or ARGV[3])
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
tokens = tokens - 1
local wait = 0
if tokens < 0 then wait = -tokens / rate end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'updated', now)
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(wait)
"""


def _redis_url() -> str | None:
    url = getattr(settings, "RATE_LIMIT_REDIS_URL", None)
    if url is None and str(settings.CELERY_BROKER_URL).startswith(("redis://", "rediss://")):
        url = settings.CELERY_BROKER_URL  # unset: the broker, when it is Redis
    return url or None  # "" chooses the database explicitly


@cache
def _redis(url: str):
    import redis

    client = redis.Redis.from_url(url)
    return client, client.register_script(REDIS_SCRIPT)


def _take_redis(url: str, key: str, rate: float, burst: float) -> float:
    _, script = _redis(url)
    return float(script(keys=[f"chuhai:ratelimit:{key}"], args=[rate, burst, time.time()]))


def _take_database(key: str, rate: float, burst: float) -> float:
    from connectors.models import RateLimitBucket

    now = time.time()
    with transaction.atomic():
        bucket, _ = RateLimitBucket.objects.select_for_update().get_or_create(
            key=key, defaults={"tokens": burst, "updated_at": now}
        )
        tokens = min(burst, bucket.tokens + max(0.0, now - bucket.updated_at) * rate)
        tokens -= 1
        wait = -tokens / rate if tokens < 0 else 0.0
        bucket.tokens, bucket.updated_at = tokens, now
        bucket.save(update_fields=["tokens", "updated_at"])
    return wait


def acquire(key: str, *, rate: float, burst: float, sleep=time.sleep) -> float:
    """Take one token from bucket ``key`` (``rate`` per second, up to ``burst``), sleeping if none is left.

    Returns the seconds waited. A token taken while waiting is owed: the bucket goes negative, so concurrent
    callers queue behind each other instead of all waking at once.
    """
    url = _redis_url()
    wait = _take_redis(url, key, rate, burst) if url else _take_database(key, rate, burst)
    if wait > 0:
        sleep(wait)
    return wait
