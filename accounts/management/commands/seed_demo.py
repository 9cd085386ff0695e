"""Create (or bring back up to date) the demo seller organization. Safe to run any number of times."""

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import services
from accounts.models import Membership, Organization, Role, User

DEMO_PASSWORD = "chuhai-demo-2026"
DEMO_ORG_SLUG = "demo-seller"
DEMO_USERS = [
    ("owner@demo.chuhai.test", "Lin Wei", Role.OWNER),
    ("analyst@demo.chuhai.test", "Chen Jing", Role.ANALYST),
]
DEMO_STAFF = ("support@chuhai.test", "Customer Success")


class Command(BaseCommand):
    help = "Create the demo seller organization with an owner and an analyst (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-connect",
            dest="connect",
            action="store_false",
            help="Do not connect the demo organization to the local fake platforms.",
        )

    @transaction.atomic
    def handle(self, *args, **options):
        users = {}
        for email, name, _role in DEMO_USERS:
            users[email] = self._user(email, name)
        staff = self._user(*DEMO_STAFF)
        if not staff.is_staff:
            staff.is_staff = True
            staff.is_superuser = True
            staff.save(update_fields=["is_staff", "is_superuser"])

        owner_email = DEMO_USERS[0][0]
        organization = Organization.objects.filter(slug=DEMO_ORG_SLUG).first()
        if organization is None:
            organization = services.organization_create(
                owner=users[owner_email],
                name="Demo Seller Co. (深圳出海贸易)",
                home_currency="CNY",
                time_zone="Asia/Shanghai",
                default_language="en",
                data_region="sg",
            )
            Organization.objects.filter(pk=organization.pk).update(slug=DEMO_ORG_SLUG)
            organization.refresh_from_db()
        for email, _name, role in DEMO_USERS:
            Membership.unscoped_objects.update_or_create(
                organization=organization, user=users[email], defaults={"role": role}
            )
        if options["connect"]:
            self._connect(organization, users[owner_email])
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo organization '{organization.slug}' ready. Sign in as {owner_email} "
                f"(owner) or {DEMO_USERS[1][0]} (analyst), password {DEMO_PASSWORD}."
            )
        )

    def _connect(self, organization, owner):
        """Connect the demo accounts on the fake platforms (development only) and queue their first sync.

        This module sits in accounts, which depends on no other app; the demo wiring is the one place that
        reaches up, and it does so lazily, only when asked to connect.
        """
        from analytics.tasks import refresh_fx_rates
        from connectors.demo import demo_connections_create

        connections = demo_connections_create(organization=organization, user=owner)
        if connections:
            transaction.on_commit(lambda: refresh_fx_rates.delay(days="hist"))
            self.stdout.write(
                f"Connected {len(connections)} demo account(s) on the fake platforms; the worker loads their history."
            )

    def _user(self, email, name):
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=DEMO_PASSWORD, name=name)
        EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
        return user
