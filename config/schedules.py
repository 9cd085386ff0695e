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
    "analytics.fx-rates": {
        "task": "analytics.tasks.refresh_fx_rates",
        "crontab": {"minute": "30", "hour": "16"},
        "expires": 6 * 60 * 60,
        "description": "Upsert the ECB euro reference rates (published around 16:00 CET) for FX conversion.",
    },
    "analytics.refresh-dirty-rollups": {
        "task": "analytics.tasks.refresh_dirty_rollups",
        "crontab": {"minute": "*/10"},
        "expires": 9 * 60,
        "description": "Queue a rollup refresh for every organization with dirty days (a lost or killed refresh).",
    },
    "analytics.detect-alerts": {
        "task": "analytics.tasks.detect_alerts_all",
        "crontab": {"minute": "30", "hour": "1"},
        "expires": 6 * 60 * 60,
        "description": "Score each organization's recent days for anomalies and email new alerts (09:30 in China).",
    },
    "analytics.weekly-digests": {
        "task": "analytics.tasks.send_weekly_digests",
        "crontab": {"minute": "5"},
        "expires": 50 * 60,
        "description": "Send each organization's weekly digest once it is Monday 08:00 in its time zone (once a week).",
    },
    "campaigns.run-due-rules": {
        "task": "campaigns.tasks.run_due_rules",
        "crontab": {"minute": "20"},
        "expires": 50 * 60,
        "description": "Run each enabled daily or weekly rule once a period, from 06:00 in the organization time zone.",
    },
    "connectors.fan-out-due-syncs": {
        "task": "connectors.tasks.fan_out_due_syncs",
        "crontab": {"minute": "*/5"},
        "expires": 4 * 60,
        "description": "Queue a sync for every connection whose next sync is due.",
    },
    "connectors.sweep-sync-runs": {
        "task": "connectors.tasks.sweep_sync_runs",
        "crontab": {"minute": "*/5"},
        "expires": 4 * 60,
        "description": "Resume runs whose worker died and re-send runs whose message was lost.",
    },
    "connectors.push-proposals-due": {
        "task": "connectors.tasks.push_proposals_due",
        "crontab": {"minute": "*/2"},
        "expires": 100,
        "description": "Push approved changes whose push was lost or left unfinished by a worker that stopped.",
    },
}
