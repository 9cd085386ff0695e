"""Report-file imports: store the upload, then (in a task) detect, check every row, and load all or nothing."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Organization, User
from analytics.services import ad_performance_upsert
from campaigns.models import Channel
from campaigns.services import ad_account_upsert, ad_groups_upsert, campaigns_upsert
from connectors.imports import pipeline
from connectors.imports.errors import ImportProblem
from connectors.models import FileImport, RunStatus

logger = logging.getLogger(__name__)

MAX_BYTES = 200 * 1024 * 1024
PROGRESS_ROWS = 50_000
CHUNK_BYTES = 1024 * 1024
_EXTENSION = re.compile(r"^[a-z0-9]{1,8}$")


def _max_bytes() -> int:
    return getattr(settings, "FILE_IMPORT_MAX_BYTES", MAX_BYTES)


def _progress_rows() -> int:
    return getattr(settings, "FILE_IMPORT_PROGRESS_ROWS", PROGRESS_ROWS)


def _too_big(limit: int) -> ValidationError:
    return ValidationError(
        _("The file is larger than %(limit)s MB. Download the report for a shorter date range and upload each part.")
        % {"limit": limit // (1024 * 1024)},
        code="too_big",
    )


def file_import_create(
    *, organization: Organization, uploaded_file, user: User | None, marketplace: str = "", dispatch: bool = True
) -> FileImport:
    """Store the upload under MEDIA_ROOT/imports/<org id>/<sha256>.<ext> (streamed in chunks while hashing),
    record it, and queue the import after commit. Raises ValidationError for empty or oversized files.

    ``dispatch=False`` leaves the import queued for a caller that runs ``file_import_run`` itself."""
    limit = _max_bytes()
    declared = getattr(uploaded_file, "size", None)
    if declared == 0:
        raise ValidationError(_("The file is empty."), code="empty")
    if declared is not None and declared > limit:
        raise _too_big(limit)
    name = Path(uploaded_file.name or "report").name[:255]
    extension = Path(name).suffix.lower().lstrip(".")
    extension = extension if _EXTENSION.match(extension) else "bin"
    folder = Path(settings.MEDIA_ROOT) / "imports" / str(organization.pk)
    folder.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    handle, partial = tempfile.mkstemp(dir=folder, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in uploaded_file.chunks(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise _too_big(limit)
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise ValidationError(_("The file is empty."), code="empty")
        sha256 = digest.hexdigest()
        stored = folder / f"{sha256}.{extension}"
        os.replace(partial, stored)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    with transaction.atomic():
        file_import = FileImport.unscoped_objects.create(
            organization=organization,
            original_name=name,
            stored_path=str(stored.relative_to(Path(settings.MEDIA_ROOT))),
            sha256=sha256,
            size_bytes=size,
            marketplace=marketplace.strip().upper()[:32],
            uploaded_by=user,
        )
        if dispatch:
            transaction.on_commit(lambda: _dispatch(organization.pk, file_import.pk))
    return file_import


def _dispatch(organization_id: int, import_id: int) -> None:
    from connectors.imports.tasks import run_file_import

    run_file_import.delay(organization_id=organization_id, import_id=import_id)


def _claim(import_id: int) -> FileImport | None:
    now = timezone.now()
    claimed = FileImport.objects.filter(pk=import_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, progress=0, updated_at=now
    )
    if not claimed:
        return None
    return FileImport.objects.select_related("organization").get(pk=import_id)


def _finish(file_import: FileImport, status: str, message: str, errors: list[dict] | None = None) -> None:
    file_import.status = status
    file_import.message = message
    file_import.errors = errors or []
    file_import.finished_at = timezone.now()
    if status == RunStatus.SUCCEEDED:
        file_import.progress = 100
    else:
        file_import.rows_written = 0  # all or nothing: a failed load was rolled back
    file_import.save(
        update_fields=[
            "status",
            "message",
            "errors",
            "finished_at",
            "progress",
            "rows_total",
            "rows_written",
            "detected_format",
            "updated_at",
        ]
    )


def file_import_run(*, import_id: int) -> FileImport | None:
    """Claim a queued import and carry it out: detect, validate every row, then load everything in one
    transaction, or nothing. Runs inside the organization's scope (the task provides it)."""
    file_import = _claim(import_id)
    if file_import is None:
        return None  # already running elsewhere, finished, or not this organization's
    try:
        previous = (
            FileImport.objects.filter(sha256=file_import.sha256, status=RunStatus.SUCCEEDED)
            .exclude(pk=file_import.pk)
            .order_by("created_at")
            .first()
        )
        if previous is not None:
            file_import.detected_format = previous.detected_format
            message = _("This file was already imported on %(date)s; nothing was loaded again.") % {
                "date": date_format(timezone.localtime(previous.created_at), "DATE_FORMAT")
            }
            _finish(file_import, RunStatus.SUCCEEDED, message)
            return file_import
        _run(file_import)
    except ImportProblem as exc:
        _finish(file_import, RunStatus.FAILED, exc.message, exc.errors)
    except Exception:
        logger.exception("file import %s failed", file_import.pk)
        _finish(
            file_import,
            RunStatus.FAILED,
            _("Something went wrong on our side while importing. We have been told; try again later."),
        )
    return file_import


def _run(file_import: FileImport) -> None:
    path = Path(settings.MEDIA_ROOT) / file_import.stored_path
    plan = pipeline.plan_import(path, marketplace=file_import.marketplace, source_ref=file_import.pk)
    file_import.detected_format = plan.format
    file_import.save(update_fields=["detected_format", "updated_at"])

    def checked(rows: int, fraction: float) -> None:
        file_import.rows_total = rows
        file_import.progress = min(49, int(50 * fraction))
        file_import.save(update_fields=["rows_total", "progress", "updated_at"])

    result = pipeline.validate(plan, progress=checked, every=_progress_rows())
    file_import.rows_total = result.rows
    if result.errors:
        if result.truncated:
            found = _("Nothing was imported: the file has at least %(count)d problems.") % {
                "count": pipeline.MAX_ERRORS
            }
        else:
            found = ngettext(
                "Nothing was imported: the file has %(count)d problem.",
                "Nothing was imported: the file has %(count)d problems.",
                len(result.errors),
            ) % {"count": len(result.errors)}
        first = _("Row %(row)s, “%(column)s”: %(message)s") % result.errors[0]
        message = f"{found} {first}"
        raise ImportProblem(message, errors=result.errors)
    if not result.rows:
        raise ImportProblem(_("The report has no rows to import. Check its date range and filters."))
    _load(file_import, plan, result)


def _load(file_import: FileImport, plan: pipeline.Plan, result: pipeline.Validation) -> None:
    organization = file_import.organization
    progress = _SideProgress(file_import.pk)
    every, total = _progress_rows(), result.rows

    def facts():
        for count, fact in enumerate(pipeline.iter_facts(plan), start=1):
            if count % every == 0:
                progress.write(50 + int(49 * count / total), count)
            yield fact

    try:
        with transaction.atomic():
            _entities_upsert(organization, plan.channel, result, file_import.marketplace, plan.config.portfolios)
            _read, written = ad_performance_upsert(organization=organization, facts=facts())
            file_import.rows_written = written
            _facts_loaded(file_import, plan, result)
            message = _("Imported %(rows)s rows for %(first)s to %(last)s.") % {
                "rows": result.rows,
                "first": date_format(result.first_day, "DATE_FORMAT"),
                "last": date_format(result.last_day, "DATE_FORMAT"),
            }
            _finish(file_import, RunStatus.SUCCEEDED, message)
    finally:
        progress.close()


def _facts_loaded(file_import: FileImport, plan: pipeline.Plan, result: pipeline.Validation) -> None:
    """Tell analytics what the import loaded (inside its transaction): its days are dirty for the rollups, the
    file is a data source, and a rollup refresh is queued after commit. A file is a snapshot that nothing
    restates later: its source has no restatement window."""
    from analytics import rollups, sources

    organization = file_import.organization
    rollups.rollups_mark_dirty(organization=organization, start=result.first_day, end=result.last_day)
    accounts = list(result.accounts.items())
    account_id, currency = accounts[0] if len(accounts) == 1 else ("", "")
    sources.data_source_upsert(
        organization=organization,
        source="import",
        source_ref=file_import.pk,
        platform=plan.channel,
        label=file_import.original_name,
        channel=plan.channel,
        account_id=account_id,
        marketplace=file_import.marketplace,
        currency=currency,
        attribution_window=plan.config.attribution,
        data_through=result.last_day,
        synced_at=timezone.now(),
    )
    rollups.rollups_refresh_soon(organization=organization)


def _entities_upsert(organization, channel: str, result: pipeline.Validation, marketplace: str, portfolios) -> None:
    """The ad accounts, campaigns and ad groups the file names, with the ids the facts use."""
    label = Channel(channel).label
    for account_id, currency in result.accounts.items():
        key = account_id.removeprefix("import:")
        account = ad_account_upsert(
            organization=organization,
            channel=channel,
            external_id=account_id,
            name=(_("%(channel)s %(key)s (file import)") % {"channel": label, "key": key})[:255],
            currency=currency,
            marketplace=marketplace,
        )
        campaigns_upsert(
            organization=organization,
            ad_account=account,
            rows=[
                {
                    "external_id": campaign_id,
                    "name": (name or campaign_id)[:255],
                    "state": "",
                    "targeting_type": "",
                    "budget": None,
                    "budget_type": "",
                    "portfolio": portfolios.get(campaign_id, ""),
                }
                for (account_key, campaign_id), name in result.campaigns.items()
                if account_key == account_id
            ],
        )
        ad_groups_upsert(
            organization=organization,
            ad_account=account,
            rows=[
                {
                    "campaign_external_id": campaign_id,
                    "external_id": group_id,
                    "name": (name or group_id)[:255],
                    "state": "",
                    "default_bid": None,
                }
                for (account_key, campaign_id, group_id), name in result.ad_groups.items()
                if account_key == account_id
            ],
        )


class _SideProgress:
    """Progress written on a second connection, in autocommit: the load runs in one long transaction whose
    own writes nobody sees until it commits, and the import row must not be locked by it meanwhile (the
    final status is written inside the transaction, after the last progress write)."""

    def __init__(self, import_id: int):
        self.import_id = import_id
        self.connection = None

    def write(self, progress: int, rows_written: int) -> None:
        if self.connection is None:
            self.connection = connections.create_connection(DEFAULT_DB_ALIAS)
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {FileImport._meta.db_table} SET progress = %s, rows_written = %s, updated_at = now() "
                "WHERE id = %s AND status = %s",
                [progress, rows_written, self.import_id, RunStatus.RUNNING],
            )

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
