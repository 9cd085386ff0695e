"""Periodic work, defined in code and written to django-celery-beat by ``manage.py sync_schedules``.

Crontabs are in UTC. Every entry expires, so a backlog after an outage does not replay stale runs.
"""

SCHEDULES = {
    "accounts.expire-invitations": {
        "task": "accounts.tasks.fan_out_expire_invitations",
        "crontab": {"minute": "15", "hour": "*"},
        "expires": 50 * 60,
        "description": "Mark invitations past their expiry date as expired, per organization.",
    },
}
