from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = _("Compliance")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from compliance import loader

        # Validate every rule file at start-up: a broken file stops the process with the file and rule named.
        loader.rule_specs()
        post_migrate.connect(load_rule_files_after_migrate, sender=self, dispatch_uid="compliance_load_rule_files")


def load_rule_files_after_migrate(sender, using=DEFAULT_DB_ALIAS, **kwargs):
    """Keep the rules table in step with the rule files on every ``migrate``, so a deploy that changes a file
    (and every fresh or test database) has its rules without a manual load."""
    if using != DEFAULT_DB_ALIAS:
        return
    from compliance.models import Rule, RuleTerm
    from compliance.services import rule_files_sync

    tables = set(connections[using].introspection.table_names())
    if {Rule._meta.db_table, RuleTerm._meta.db_table} <= tables:
        rule_files_sync()
