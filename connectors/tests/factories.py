import factory

from accounts.tests.factories import OrganizationFactory
from connectors.models import Connection, FileImport, SyncRun


class _Unscoped(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.unscoped_objects.create(*args, **kwargs)


class ConnectionFactory(_Unscoped):
    class Meta:
        model = Connection

    organization = factory.SubFactory(OrganizationFactory)
    platform = "amazon_ads"
    name = factory.Sequence(lambda n: f"Profile {n}")
    external_id = factory.Sequence(lambda n: str(1000000 + n))
    marketplace = "US"
    region = "NA"
    currency = "USD"
    time_zone = "America/Los_Angeles"
    lookback_days = 14
    credentials = factory.LazyFunction(lambda: {"refresh_token": "Atzr|test", "access_token": "Atza|test"})


class SyncRunFactory(_Unscoped):
    class Meta:
        model = SyncRun

    connection = factory.SubFactory(ConnectionFactory)
    organization = factory.SelfAttribute("connection.organization")
    window_start = factory.Faker("date_object")
    window_end = factory.SelfAttribute("window_start")


class FileImportFactory(_Unscoped):
    class Meta:
        model = FileImport

    organization = factory.SubFactory(OrganizationFactory)
    original_name = "search-terms.csv"
    stored_path = "imports/none.csv"
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
