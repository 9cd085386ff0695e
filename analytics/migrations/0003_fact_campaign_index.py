# The fact table can hold many millions of rows: build the index without blocking writes.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0001_initial"),
        ("analytics", "0002_rollups_profit_alerts"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="adperformancedaily",
            index=models.Index(
                fields=["organization", "campaign_id", "grain", "date"], name="analytics_adperf_campaign_idx"
            ),
        ),
    ]
