import pytest

from accounts.models import Role
from accounts.tests.factories import OrganizationFactory, member


@pytest.fixture
def org(db):
    return OrganizationFactory()


@pytest.fixture
def other_org(db):
    return OrganizationFactory(name="Other Seller")


@pytest.fixture
def owner(org):
    return member(org, Role.OWNER)


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def client_for(client, organization, role):
    user = member(organization, role)
    client.force_login(user)
    return client, user
