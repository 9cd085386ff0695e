import httpx
from celery import shared_task

from analytics.fx import ecb, services


@shared_task(
    name="analytics.tasks.refresh_fx_rates",
    autoretry_for=(httpx.TransportError, ecb.EcbTransientError),
    retry_backoff=60,
    retry_backoff_max=15 * 60,
    retry_jitter=True,
    max_retries=5,
)
def refresh_fx_rates(days: str = "90d") -> int:
    """Beat entry: upsert ECB rates. Re-pulls the 90-day feed by default, so a day missed while the ECB
    or we were down is filled by the next run (unchanged rows are not rewritten). Retries network errors
    and 5xx/429 after about 1, 2, 4, 8 and 15 minutes (with jitter); a malformed feed fails at once."""
    return services.fx_rates_refresh(days=days)
