import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts import services
from accounts.models import AuditEvent, Invitation, Membership, Organization, Role, User

PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified(self, create, extracted, **kwargs):
        if create and extracted is not False:
            self.save()
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Seller {n}")
    slug = factory.Sequence(lambda n: f"seller-{n}")
    home_currency = "USD"
    time_zone = "UTC"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.VIEWER

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.unscoped_objects.create(*args, **kwargs)


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.test")
    role = Role.MARKETER
    nonce = factory.Faker("hexify", text="^" * 32)
    expires_at = factory.LazyFunction(lambda: timezone.now() + services.INVITATION_TTL)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.unscoped_objects.create(*args, **kwargs)


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent

    organization = factory.SubFactory(OrganizationFactory)
    verb = "test.event"
    target_type = "accounts.organization"
    target_id = "1"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.unscoped_objects.create(*args, **kwargs)


def member(organization, role=Role.OWNER, **user_kwargs):
    """A user with a verified email who belongs to ``organization`` with ``role``."""
    return MembershipFactory(organization=organization, role=role, user=UserFactory(**user_kwargs)).user
