"""Reads for the Connections page and the admin."""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery

from accounts.models import Organization
from connectors.models import Connection, ConnectionStatus, FileImport, SyncRun


def organization_connections(*, organization: Organization) -> list[Connection]:
    """Connections with their latest run attached as ``latest_run`` (two queries in all)."""
    latest = SyncRun.unscoped_objects.filter(connection=OuterRef("pk")).order_by("-created_at").values("pk")[:1]
    connections = list(
        Connection.unscoped_objects.filter(organization=organization)
        .exclude(status=ConnectionStatus.DISCONNECTED, last_success_at__isnull=True)
        .annotate(latest_run_id=Subquery(latest))
        .order_by("platform", "name")
    )
    runs = SyncRun.unscoped_objects.in_bulk([c.latest_run_id for c in connections if c.latest_run_id])
    for connection in connections:
        connection.latest_run = runs.get(connection.latest_run_id)
    return connections


def connection_with_latest_run(*, organization: Organization, connection_id: int) -> Connection:
    connection = Connection.unscoped_objects.get(organization=organization, pk=connection_id)
    connection.latest_run = SyncRun.unscoped_objects.filter(connection=connection).order_by("-created_at").first()
    return connection


def connection_runs(*, organization: Organization, connection: Connection, limit: int = 20) -> QuerySet[SyncRun]:
    return SyncRun.unscoped_objects.filter(organization=organization, connection=connection).order_by("-created_at")[
        :limit
    ]


def organization_imports(*, organization: Organization, limit: int = 20) -> QuerySet[FileImport]:
    return (
        FileImport.unscoped_objects.filter(organization=organization)
        .select_related("uploaded_by")
        .order_by("-created_at")[:limit]
    )
