from celery import shared_task

from accounts.scoping import organization_task
from connectors.imports import service


@shared_task(name="connectors.imports.tasks.run_file_import", acks_late=True)
@organization_task
def run_file_import(*, organization, import_id: int) -> str | None:
    file_import = service.file_import_run(import_id=import_id)
    return file_import.status if file_import else None
