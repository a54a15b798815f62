"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 21:43:59.974661
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Full-text search is kept current by the database itself (a generated tsvector column on
# PostgreSQL, FTS5 tables maintained by triggers on SQLite), so rows written by any path, bulk
# imports included, are searchable at once. Both use no stemming and no accent folding, so the
# matching rules are the same: case-insensitive words, prefix matching.
SEARCHABLE: dict[str, tuple[str, ...]] = {
    "organizations": ("name", "alternate_name", "description"),
    "services": ("name", "alternate_name", "description"),
    "locations": ("name", "alternate_name", "description"),
    "taxonomy_terms": ("name", "code", "description"),
}


def _partial_unique(table: str, columns: tuple[str, ...], *alternatives: str) -> None:
    for column in alternatives:
        op.create_index(
            f"uq_{table}_{column}",
            table,
            [*columns, column],
            unique=True,
            sqlite_where=sa.text(f"{column} IS NOT NULL"),
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
        )


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(tzinfo=None) if op.get_bind().dialect.name == "sqlite" else now


def _create_search_indexes() -> None:
    bind = op.get_bind()
    for table, columns in SEARCHABLE.items():
        if bind.dialect.name == "postgresql":
            document = " || ' ' || ".join(f"coalesce({c}, '')" for c in columns)
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN search_vector tsvector "
                f"GENERATED ALWAYS AS (to_tsvector('simple', {document})) STORED"
            )
            op.execute(f"CREATE INDEX ix_{table}_search ON {table} USING gin (search_vector)")
            continue
        cols = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        op.execute(
            f"CREATE VIRTUAL TABLE {table}_fts USING fts5({cols}, content='{table}', "
            f"content_rowid='rowid', tokenize='unicode61 remove_diacritics 0')"
        )
        op.execute(
            f"CREATE TRIGGER {table}_fts_insert AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {table}_fts(rowid, {cols}) VALUES (new.rowid, {new}); END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_fts_delete AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {table}_fts({table}_fts, rowid, {cols}) "
            f"VALUES ('delete', old.rowid, {old}); END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_fts_update AFTER UPDATE ON {table} BEGIN "
            f"INSERT INTO {table}_fts({table}_fts, rowid, {cols}) "
            f"VALUES ('delete', old.rowid, {old}); "
            f"INSERT INTO {table}_fts(rowid, {cols}) VALUES (new.rowid, {new}); END"
        )


def _drop_search_indexes() -> None:
    bind = op.get_bind()
    for table in SEARCHABLE:
        if bind.dialect.name == "postgresql":
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_search")
            op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_vector")
        else:
            for suffix in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_fts_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {table}_fts")


def _make_audit_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
        return
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_events_no_{operation.lower()} BEFORE {operation} ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )


def _drop_audit_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
        return
    for operation in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{operation}")


def upgrade() -> None:
    op.create_table(
        "instance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("demo", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_instance_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instance")),
    )
    op.create_table(
        "tenants",
        sa.Column(
            "name",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "clients",
        sa.Column("first_name", sa.String(length=255), nullable=True),
        sa.Column("last_name", sa.String(length=255), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("postal_code", sa.String(length=32), nullable=True),
        sa.Column("county", sa.String(length=255), nullable=True),
        sa.Column("preferred_language", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_clients_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
    )
    op.create_index(op.f("ix_clients_tenant_id"), "clients", ["tenant_id"], unique=False)
    op.create_table(
        "contact_forms",
        sa.Column(
            "name",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_contact_forms_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_forms")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_contact_forms_tenant_id_name")),
    )
    op.create_index(
        op.f("ix_contact_forms_tenant_id"), "contact_forms", ["tenant_id"], unique=False
    )
    op.create_table(
        "partner_organizations",
        sa.Column(
            "name",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_partner_organizations_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_organizations")),
        sa.UniqueConstraint("name", name=op.f("uq_partner_organizations_name")),
    )
    op.create_index(
        op.f("ix_partner_organizations_tenant_id"),
        "partner_organizations",
        ["tenant_id"],
        unique=False,
    )
    op.create_table(
        "taxonomies",
        sa.Column(
            "name",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("uri", sa.String(length=2048), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("source_system", sa.String(length=255), nullable=True),
        sa.Column("source_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_taxonomies_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxonomies")),
        sa.UniqueConstraint(
            "tenant_id", "source_system", "source_key", name="uq_taxonomies_source"
        ),
    )
    op.create_index(op.f("ix_taxonomies_tenant_id"), "taxonomies", ["tenant_id"], unique=False)
    op.create_table(
        "units",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("scheme", sa.String(length=255), nullable=True),
        sa.Column("identifier", sa.String(length=255), nullable=True),
        sa.Column("uri", sa.String(length=2048), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_units_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_units_tenant_id_name")),
    )
    op.create_index(op.f("ix_units_tenant_id"), "units", ["tenant_id"], unique=False)
    op.create_table(
        "contact_form_versions",
        sa.Column("form_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["form_id"],
            ["contact_forms.id"],
            name=op.f("fk_contact_form_versions_form_id_contact_forms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_contact_form_versions_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_form_versions")),
        sa.UniqueConstraint(
            "form_id", "version", name=op.f("uq_contact_form_versions_form_id_version")
        ),
    )
    op.create_index(
        op.f("ix_contact_form_versions_form_id"), "contact_form_versions", ["form_id"], unique=False
    )
    op.create_index(
        op.f("ix_contact_form_versions_tenant_id"),
        "contact_form_versions",
        ["tenant_id"],
        unique=False,
    )
    op.create_table(
        "organizations",
        sa.Column(
            "name",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("alternate_name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("website", sa.String(length=2048), nullable=True),
        sa.Column("tax_status", sa.String(length=255), nullable=True),
        sa.Column("tax_id", sa.String(length=64), nullable=True),
        sa.Column("year_incorporated", sa.Integer(), nullable=True),
        sa.Column("legal_status", sa.String(length=255), nullable=True),
        sa.Column("logo", sa.String(length=2048), nullable=True),
        sa.Column("uri", sa.String(length=2048), nullable=True),
        sa.Column("parent_organization_id", sa.Uuid(), nullable=True),
        sa.Column("partner_organization_id", sa.Uuid(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("source_system", sa.String(length=255), nullable=True),
        sa.Column("source_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_organization_id"],
            ["organizations.id"],
            name=op.f("fk_organizations_parent_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_organization_id"],
            ["partner_organizations.id"],
            name=op.f("fk_organizations_partner_organization_id_partner_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_organizations_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint(
            "tenant_id", "source_system", "source_key", name="uq_organizations_source"
        ),
    )
    op.create_index(
        op.f("ix_organizations_parent_organization_id"),
        "organizations",
        ["parent_organization_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_organizations_partner_organization_id"),
        "organizations",
        ["partner_organization_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_organizations_tenant_id"), "organizations", ["tenant_id"], unique=False
    )
    op.create_index(
        op.f("ix_organizations_tenant_id_name"),
        "organizations",
        ["tenant_id", "name"],
        unique=False,
    )
    op.create_table(
        "principals",
        sa.Column(
            "name",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "user",
                "api-client",
                name="principal_kind",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("partner_organization_id", sa.Uuid(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "(tenant_id IS NULL) <> (partner_organization_id IS NULL)",
            name=op.f("ck_principals_one_home"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_organization_id"],
            ["partner_organizations.id"],
            name=op.f("fk_principals_partner_organization_id_partner_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_principals_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_principals")),
        sa.UniqueConstraint("name", name=op.f("uq_principals_name")),
    )
    op.create_index(
        op.f("ix_principals_partner_organization_id"),
        "principals",
        ["partner_organization_id"],
        unique=False,
    )
    op.create_index(op.f("ix_principals_tenant_id"), "principals", ["tenant_id"], unique=False)
    op.create_table(
        "taxonomy_terms",
        sa.Column("taxonomy_id", sa.Uuid(), nullable=True),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("code", sa.String(length=255), nullable=True),
        sa.Column(
            "name",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("term_uri", sa.String(length=2048), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("source_system", sa.String(length=255), nullable=True),
        sa.Column("source_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["taxonomy_terms.id"],
            name=op.f("fk_taxonomy_terms_parent_id_taxonomy_terms"),
        ),
        sa.ForeignKeyConstraint(
            ["taxonomy_id"],
            ["taxonomies.id"],
            name=op.f("fk_taxonomy_terms_taxonomy_id_taxonomies"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_taxonomy_terms_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxonomy_terms")),
        sa.UniqueConstraint(
            "tenant_id", "source_system", "source_key", name="uq_taxonomy_terms_source"
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "taxonomy_id",
            "code",
            name=op.f("uq_taxonomy_terms_tenant_id_taxonomy_id_code"),
        ),
    )
    op.create_index(
        op.f("ix_taxonomy_terms_parent_id"), "taxonomy_terms", ["parent_id"], unique=False
    )
    op.create_index(
        op.f("ix_taxonomy_terms_taxonomy_id"), "taxonomy_terms", ["taxonomy_id"], unique=False
    )
    op.create_index(
        op.f("ix_taxonomy_terms_tenant_id"), "taxonomy_terms", ["tenant_id"], unique=False
    )
    op.create_table(
        "api_keys",
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=True),
        sa.Column("demo", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_api_keys_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index(op.f("ix_api_keys_principal_id"), "api_keys", ["principal_id"], unique=False)
    op.create_table(
        "attributes",
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("link_type", sa.String(length=64), nullable=False),
        sa.Column("link_entity", sa.String(length=64), nullable=False),
        sa.Column("taxonomy_term_id", sa.Uuid(), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("label", sa.String(length=255), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["taxonomy_term_id"],
            ["taxonomy_terms.id"],
            name=op.f("fk_attributes_taxonomy_term_id_taxonomy_terms"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_attributes_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attributes")),
        sa.UniqueConstraint(
            "link_entity",
            "link_id",
            "taxonomy_term_id",
            name=op.f("uq_attributes_link_entity_link_id_taxonomy_term_id"),
        ),
    )
    op.create_index(op.f("ix_attributes_link_id"), "attributes", ["link_id"], unique=False)
    op.create_index(
        op.f("ix_attributes_taxonomy_term_id"), "attributes", ["taxonomy_term_id"], unique=False
    )
    op.create_index(
        op.f("ix_attributes_taxonomy_term_id_link_entity_link_id"),
        "attributes",
        ["taxonomy_term_id", "link_entity", "link_id"],
        unique=False,
    )
    op.create_index(op.f("ix_attributes_tenant_id"), "attributes", ["tenant_id"], unique=False)
    op.create_table(
        "audit_events",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=255), nullable=True),
        sa.Column("record_type", sa.String(length=64), nullable=True),
        sa.Column(
            "record_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "coordinates",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_audit_events_principal_id_principals"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_audit_events_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("id", name=op.f("uq_audit_events_id")),
    )
    op.create_index(op.f("ix_audit_events_tenant_id"), "audit_events", ["tenant_id"], unique=False)
    op.create_table(
        "contact_records",
        sa.Column("form_version_id", sa.Uuid(), nullable=True),
        sa.Column(
            "channel",
            sa.Enum(
                "call",
                "chat",
                "text",
                "email",
                "walk-in",
                name="channel",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker_id", sa.Uuid(), nullable=True),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column(
            "answers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("narrative", sa.Text(), nullable=True),
        sa.Column(
            "risk_level",
            sa.Enum(
                "none",
                "low",
                "moderate",
                "high",
                "imminent",
                name="risk_level",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=True,
        ),
        sa.Column("caller_postal_code", sa.String(length=32), nullable=True),
        sa.Column("caller_county", sa.String(length=255), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_contact_records_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["form_version_id"],
            ["contact_form_versions.id"],
            name=op.f("fk_contact_records_form_version_id_contact_form_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_contact_records_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["principals.id"], name=op.f("fk_contact_records_worker_id_principals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_records")),
    )
    op.create_index(
        op.f("ix_contact_records_client_id"), "contact_records", ["client_id"], unique=False
    )
    op.create_index(
        op.f("ix_contact_records_form_version_id"),
        "contact_records",
        ["form_version_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_contact_records_tenant_id"), "contact_records", ["tenant_id"], unique=False
    )
    op.create_index(
        op.f("ix_contact_records_tenant_id_started_at_id"),
        "contact_records",
        ["tenant_id", "started_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_contact_records_tenant_id_updated_at_id"),
        "contact_records",
        ["tenant_id", "updated_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_contact_records_worker_id"), "contact_records", ["worker_id"], unique=False
    )
    op.create_table(
        "events",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "event_type",
            sa.Enum(
                "created",
                "updated",
                "deleted",
                name="event_type",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("record_type", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("record_version", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["principals.id"], name=op.f("fk_events_actor_id_principals")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_events_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_events")),
        sa.UniqueConstraint("id", name=op.f("uq_events_id")),
    )
    op.create_index(
        op.f("ix_events_record_type_record_id"),
        "events",
        ["record_type", "record_id"],
        unique=False,
    )
    op.create_index(op.f("ix_events_tenant_id"), "events", ["tenant_id"], unique=False)
    op.create_table(
        "form_fields",
        sa.Column("form_version_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "text",
                "textarea",
                "number",
                "boolean",
                "date",
                "single-select",
                "multi-select",
                name="field_type",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column(
            "options",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column(
            "sensitivity",
            sa.Enum(
                "public",
                "internal",
                "pii",
                "clinical",
                "part2",
                name="sensitivity",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["form_version_id"],
            ["contact_form_versions.id"],
            name=op.f("fk_form_fields_form_version_id_contact_form_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_form_fields_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_fields")),
        sa.UniqueConstraint(
            "form_version_id", "key", name=op.f("uq_form_fields_form_version_id_key")
        ),
    )
    op.create_index(
        op.f("ix_form_fields_form_version_id"), "form_fields", ["form_version_id"], unique=False
    )
    op.create_index(op.f("ix_form_fields_tenant_id"), "form_fields", ["tenant_id"], unique=False)
    op.create_table(
        "locations",
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column(
            "location_type",
            sa.Enum(
                "physical",
                "postal",
                "virtual",
                name="location_type",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column(
            "name",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("alternate_name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("transportation", sa.Text(), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("latitude", sa.Numeric(precision=9, scale=6, asdecimal=False), nullable=True),
        sa.Column("longitude", sa.Numeric(precision=9, scale=6, asdecimal=False), nullable=True),
        sa.Column("external_identifier", sa.String(length=255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("source_system", sa.String(length=255), nullable=True),
        sa.Column("source_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "latitude IS NULL OR (latitude BETWEEN -90 AND 90)", name=op.f("ck_locations_latitude")
        ),
        sa.CheckConstraint(
            "longitude IS NULL OR (longitude BETWEEN -180 AND 180)",
            name=op.f("ck_locations_longitude"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_locations_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_locations_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
        sa.UniqueConstraint("tenant_id", "source_system", "source_key", name="uq_locations_source"),
    )
    op.create_index(
        op.f("ix_locations_latitude_longitude"),
        "locations",
        ["latitude", "longitude"],
        unique=False,
    )
    op.create_index(
        op.f("ix_locations_organization_id"), "locations", ["organization_id"], unique=False
    )
    op.create_index(op.f("ix_locations_tenant_id"), "locations", ["tenant_id"], unique=False)
    op.create_table(
        "programs",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column(
            "name",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("alternate_name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("source_system", sa.String(length=255), nullable=True),
        sa.Column("source_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_programs_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_programs_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programs")),
        sa.UniqueConstraint("tenant_id", "source_system", "source_key", name="uq_programs_source"),
    )
    op.create_index(
        op.f("ix_programs_organization_id"), "programs", ["organization_id"], unique=False
    )
    op.create_index(op.f("ix_programs_tenant_id"), "programs", ["tenant_id"], unique=False)
    op.create_table(
        "referral_queues",
        sa.Column(
            "name",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("need_term_id", sa.Uuid(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["need_term_id"],
            ["taxonomy_terms.id"],
            name=op.f("fk_referral_queues_need_term_id_taxonomy_terms"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_referral_queues_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_queues")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_referral_queues_tenant_id_name")),
    )
    op.create_index(
        op.f("ix_referral_queues_tenant_id"), "referral_queues", ["tenant_id"], unique=False
    )
    op.create_table(
        "role_assignments",
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "tenant-admin",
                "call-taker",
                "api-client",
                "portal-user",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("partner_organization_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "(tenant_id IS NULL) <> (partner_organization_id IS NULL)",
            name=op.f("ck_role_assignments_one_domain"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_organization_id"],
            ["partner_organizations.id"],
            name=op.f("fk_role_assignments_partner_organization_id_partner_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_role_assignments_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_role_assignments_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_assignments")),
    )
    _partial_unique(
        "role_assignments", ("principal_id", "role"), "tenant_id", "partner_organization_id"
    )
    op.create_index(
        op.f("ix_role_assignments_partner_organization_id"),
        "role_assignments",
        ["partner_organization_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_role_assignments_principal_id"), "role_assignments", ["principal_id"], unique=False
    )
    op.create_index(
        op.f("ix_role_assignments_tenant_id"), "role_assignments", ["tenant_id"], unique=False
    )
    op.create_table(
        "addresses",
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("attention", sa.String(length=255), nullable=True),
        sa.Column("address_1", sa.String(length=255), nullable=False),
        sa.Column("address_2", sa.String(length=255), nullable=True),
        sa.Column("city", sa.String(length=255), nullable=False),
        sa.Column("region", sa.String(length=255), nullable=True),
        sa.Column("state_province", sa.String(length=255), nullable=False),
        sa.Column("postal_code", sa.String(length=32), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column(
            "address_type",
            sa.Enum(
                "physical",
                "postal",
                "virtual",
                name="address_type",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_addresses_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_addresses_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addresses")),
    )
    op.create_index(op.f("ix_addresses_location_id"), "addresses", ["location_id"], unique=False)
    op.create_index(op.f("ix_addresses_postal_code"), "addresses", ["postal_code"], unique=False)
    op.create_index(op.f("ix_addresses_tenant_id"), "addresses", ["tenant_id"], unique=False)
    op.create_table(
        "contact_record_needs",
        sa.Column("contact_record_id", sa.Uuid(), nullable=False),
        sa.Column("taxonomy_term_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_record_id"],
            ["contact_records.id"],
            name=op.f("fk_contact_record_needs_contact_record_id_contact_records"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["taxonomy_term_id"],
            ["taxonomy_terms.id"],
            name=op.f("fk_contact_record_needs_taxonomy_term_id_taxonomy_terms"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_contact_record_needs_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_record_needs")),
        sa.UniqueConstraint(
            "contact_record_id",
            "taxonomy_term_id",
            name=op.f("uq_contact_record_needs_contact_record_id_taxonomy_term_id"),
        ),
    )
    op.create_index(
        op.f("ix_contact_record_needs_contact_record_id"),
        "contact_record_needs",
        ["contact_record_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_contact_record_needs_taxonomy_term_id"),
        "contact_record_needs",
        ["taxonomy_term_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_contact_record_needs_tenant_id"),
        "contact_record_needs",
        ["tenant_id"],
        unique=False,
    )
    op.create_table(
        "follow_ups",
        sa.Column("contact_record_id", sa.Uuid(), nullable=False),
        sa.Column("assigned_tenant_id", sa.Uuid(), nullable=True),
        sa.Column("assigned_principal_id", sa.Uuid(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "completed",
                "cancelled",
                name="follow_up_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assigned_principal_id"],
            ["principals.id"],
            name=op.f("fk_follow_ups_assigned_principal_id_principals"),
        ),
        sa.ForeignKeyConstraint(
            ["assigned_tenant_id"],
            ["tenants.id"],
            name=op.f("fk_follow_ups_assigned_tenant_id_tenants"),
        ),
        sa.ForeignKeyConstraint(
            ["completed_by_id"],
            ["principals.id"],
            name=op.f("fk_follow_ups_completed_by_id_principals"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_record_id"],
            ["contact_records.id"],
            name=op.f("fk_follow_ups_contact_record_id_contact_records"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_follow_ups_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
    )
    op.create_index(
        op.f("ix_follow_ups_assigned_principal_id"),
        "follow_ups",
        ["assigned_principal_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_follow_ups_assigned_tenant_id"), "follow_ups", ["assigned_tenant_id"], unique=False
    )
    op.create_index(
        op.f("ix_follow_ups_contact_record_id"), "follow_ups", ["contact_record_id"], unique=False
    )
    op.create_index(op.f("ix_follow_ups_tenant_id"), "follow_ups", ["tenant_id"], unique=False)
    op.create_table(
        "queue_entries",
        sa.Column("queue_id", sa.Uuid(), nullable=False),
        sa.Column("contact_record_id", sa.Uuid(), nullable=True),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column("status_key", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("assigned_program_id", sa.Uuid(), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removal_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assigned_program_id"],
            ["programs.id"],
            name=op.f("fk_queue_entries_assigned_program_id_programs"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_queue_entries_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["contact_record_id"],
            ["contact_records.id"],
            name=op.f("fk_queue_entries_contact_record_id_contact_records"),
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["referral_queues.id"],
            name=op.f("fk_queue_entries_queue_id_referral_queues"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_queue_entries_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_entries")),
    )
    op.create_index(
        op.f("ix_queue_entries_assigned_program_id"),
        "queue_entries",
        ["assigned_program_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_queue_entries_client_id"), "queue_entries", ["client_id"], unique=False
    )
    op.create_index(
        op.f("ix_queue_entries_contact_record_id"),
        "queue_entries",
        ["contact_record_id"],
        unique=False,
    )
    op.create_index(op.f("ix_queue_entries_queue_id"), "queue_entries", ["queue_id"], unique=False)
    op.create_index(
        op.f("ix_queue_entries_queue_id_status_key_priority"),
        "queue_entries",
        ["queue_id", "status_key", "priority"],
        unique=False,
    )
    op.create_index(
        op.f("ix_queue_entries_tenant_id"), "queue_entries", ["tenant_id"], unique=False
    )
    op.create_table(
        "queue_forms",
        sa.Column("queue_id", sa.Uuid(), nullable=False),
        sa.Column("form_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["form_id"], ["contact_forms.id"], name=op.f("fk_queue_forms_form_id_contact_forms")
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["referral_queues.id"],
            name=op.f("fk_queue_forms_queue_id_referral_queues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_queue_forms_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_forms")),
        sa.UniqueConstraint("queue_id", "form_id", name=op.f("uq_queue_forms_queue_id_form_id")),
    )
    op.create_index(op.f("ix_queue_forms_form_id"), "queue_forms", ["form_id"], unique=False)
    op.create_index(op.f("ix_queue_forms_queue_id"), "queue_forms", ["queue_id"], unique=False)
    op.create_index(op.f("ix_queue_forms_tenant_id"), "queue_forms", ["tenant_id"], unique=False)
    op.create_table(
        "queue_programs",
        sa.Column("queue_id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_queue_programs_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["referral_queues.id"],
            name=op.f("fk_queue_programs_queue_id_referral_queues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_queue_programs_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_programs")),
        sa.UniqueConstraint(
            "queue_id", "program_id", name=op.f("uq_queue_programs_queue_id_program_id")
        ),
    )
    op.create_index(
        op.f("ix_queue_programs_program_id"), "queue_programs", ["program_id"], unique=False
    )
    op.create_index(
        op.f("ix_queue_programs_queue_id"), "queue_programs", ["queue_id"], unique=False
    )
    op.create_index(
        op.f("ix_queue_programs_tenant_id"), "queue_programs", ["tenant_id"], unique=False
    )
    op.create_table(
        "queue_statuses",
        sa.Column("queue_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column(
            "canonical_status",
            sa.Enum(
                "draft",
                "requested",
                "accepted",
                "rejected",
                "in-progress",
                "on-hold",
                "failed",
                "completed",
                "cancelled",
                "entered-in-error",
                name="referral_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["referral_queues.id"],
            name=op.f("fk_queue_statuses_queue_id_referral_queues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_queue_statuses_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_statuses")),
        sa.UniqueConstraint("queue_id", "key", name=op.f("uq_queue_statuses_queue_id_key")),
    )
    op.create_index(
        op.f("ix_queue_statuses_queue_id"), "queue_statuses", ["queue_id"], unique=False
    )
    op.create_index(
        op.f("ix_queue_statuses_tenant_id"), "queue_statuses", ["tenant_id"], unique=False
    )
    op.create_table(
        "services",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=True),
        sa.Column(
            "name",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("alternate_name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "inactive",
                "defunct",
                "temporarily closed",
                name="service_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("interpretation_services", sa.Text(), nullable=True),
        sa.Column("application_process", sa.Text(), nullable=True),
        sa.Column("fees_description", sa.Text(), nullable=True),
        sa.Column("eligibility_description", sa.Text(), nullable=True),
        sa.Column("minimum_age", sa.Integer(), nullable=True),
        sa.Column("maximum_age", sa.Integer(), nullable=True),
        sa.Column("alert", sa.Text(), nullable=True),
        sa.Column("wait_time", sa.String(length=255), nullable=True),
        sa.Column("assured_date", sa.Date(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("source_system", sa.String(length=255), nullable=True),
        sa.Column("source_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_services_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_services_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_services_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("tenant_id", "source_system", "source_key", name="uq_services_source"),
    )
    op.create_index(
        op.f("ix_services_organization_id"), "services", ["organization_id"], unique=False
    )
    op.create_index(op.f("ix_services_program_id"), "services", ["program_id"], unique=False)
    op.create_index(op.f("ix_services_tenant_id"), "services", ["tenant_id"], unique=False)
    op.create_index(
        op.f("ix_services_tenant_id_name"), "services", ["tenant_id", "name"], unique=False
    )
    op.create_table(
        "service_at_locations",
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("source_system", sa.String(length=255), nullable=True),
        sa.Column("source_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_service_at_locations_location_id_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_at_locations_service_id_services"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_service_at_locations_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_at_locations")),
        sa.UniqueConstraint(
            "service_id", "location_id", name=op.f("uq_service_at_locations_service_id_location_id")
        ),
        sa.UniqueConstraint(
            "tenant_id", "source_system", "source_key", name="uq_service_at_locations_source"
        ),
    )
    op.create_index(
        op.f("ix_service_at_locations_location_id"),
        "service_at_locations",
        ["location_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_service_at_locations_service_id"),
        "service_at_locations",
        ["service_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_service_at_locations_tenant_id"),
        "service_at_locations",
        ["tenant_id"],
        unique=False,
    )
    op.create_table(
        "service_capacities",
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("program_id", sa.Uuid(), nullable=True),
        sa.Column("unit_id", sa.Uuid(), nullable=False),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("maximum", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "capacity",
                "no-capacity",
                "waitlist",
                "additional-assessment-required",
                name="capacity_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(service_id IS NULL) <> (program_id IS NULL)",
            name=op.f("ck_service_capacities_one_target"),
        ),
        sa.CheckConstraint(
            "available >= 0", name=op.f("ck_service_capacities_available_non_negative")
        ),
        sa.CheckConstraint(
            "maximum IS NULL OR maximum >= 0",
            name=op.f("ck_service_capacities_maximum_non_negative"),
        ),
        sa.CheckConstraint(
            "reserved >= 0 AND reserved <= available",
            name=op.f("ck_service_capacities_reserved_in_range"),
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_service_capacities_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_service_capacities_service_id_services")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_service_capacities_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_service_capacities_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_capacities")),
    )
    _partial_unique("service_capacities", ("unit_id",), "service_id", "program_id")
    op.create_index(
        op.f("ix_service_capacities_program_id"), "service_capacities", ["program_id"], unique=False
    )
    op.create_index(
        op.f("ix_service_capacities_service_id"), "service_capacities", ["service_id"], unique=False
    )
    op.create_index(
        op.f("ix_service_capacities_tenant_id"), "service_capacities", ["tenant_id"], unique=False
    )
    op.create_table(
        "capacity_history",
        sa.Column("capacity_id", sa.Uuid(), nullable=False),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("maximum", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "capacity",
                "no-capacity",
                "waitlist",
                "additional-assessment-required",
                name="capacity_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("changed_by_id", sa.Uuid(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["capacity_id"],
            ["service_capacities.id"],
            name=op.f("fk_capacity_history_capacity_id_service_capacities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["changed_by_id"],
            ["principals.id"],
            name=op.f("fk_capacity_history_changed_by_id_principals"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_capacity_history_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capacity_history")),
    )
    op.create_index(
        op.f("ix_capacity_history_capacity_id"), "capacity_history", ["capacity_id"], unique=False
    )
    op.create_index(
        op.f("ix_capacity_history_tenant_id"), "capacity_history", ["tenant_id"], unique=False
    )
    op.create_table(
        "phones",
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("service_at_location_id", sa.Uuid(), nullable=True),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("extension", sa.String(length=32), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_phones_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_phones_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_at_location_id"],
            ["service_at_locations.id"],
            name=op.f("fk_phones_service_at_location_id_service_at_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_phones_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_phones_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phones")),
    )
    op.create_index(op.f("ix_phones_location_id"), "phones", ["location_id"], unique=False)
    op.create_index(op.f("ix_phones_organization_id"), "phones", ["organization_id"], unique=False)
    op.create_index(
        op.f("ix_phones_service_at_location_id"), "phones", ["service_at_location_id"], unique=False
    )
    op.create_index(op.f("ix_phones_service_id"), "phones", ["service_id"], unique=False)
    op.create_index(op.f("ix_phones_tenant_id"), "phones", ["tenant_id"], unique=False)
    op.create_table(
        "referrals",
        sa.Column("contact_record_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column("service_at_location_id", sa.Uuid(), nullable=True),
        sa.Column("program_id", sa.Uuid(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "requested",
                "accepted",
                "rejected",
                "in-progress",
                "on-hold",
                "failed",
                "completed",
                "cancelled",
                "entered-in-error",
                name="referral_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "service_at_location_id IS NOT NULL OR program_id IS NOT NULL",
            name=op.f("ck_referrals_has_target"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_referrals_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["contact_record_id"],
            ["contact_records.id"],
            name=op.f("fk_referrals_contact_record_id_contact_records"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["principals.id"], name=op.f("fk_referrals_created_by_id_principals")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_referrals_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["service_at_location_id"],
            ["service_at_locations.id"],
            name=op.f("fk_referrals_service_at_location_id_service_at_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_referrals_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
    )
    op.create_index(op.f("ix_referrals_client_id"), "referrals", ["client_id"], unique=False)
    op.create_index(
        op.f("ix_referrals_contact_record_id"), "referrals", ["contact_record_id"], unique=False
    )
    op.create_index(op.f("ix_referrals_program_id"), "referrals", ["program_id"], unique=False)
    op.create_index(
        op.f("ix_referrals_service_at_location_id"),
        "referrals",
        ["service_at_location_id"],
        unique=False,
    )
    op.create_index(op.f("ix_referrals_tenant_id"), "referrals", ["tenant_id"], unique=False)
    op.create_index(
        op.f("ix_referrals_tenant_id_status"), "referrals", ["tenant_id", "status"], unique=False
    )
    op.create_table(
        "schedules",
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("service_at_location_id", sa.Uuid(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("dtstart", sa.Date(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("wkst", sa.String(length=2), nullable=True),
        sa.Column("freq", sa.String(length=16), nullable=True),
        sa.Column("interval", sa.Integer(), nullable=True),
        sa.Column("byday", sa.String(length=64), nullable=True),
        sa.Column("byweekno", sa.String(length=64), nullable=True),
        sa.Column("bymonthday", sa.String(length=64), nullable=True),
        sa.Column("byyearday", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("opens_at", sa.String(length=8), nullable=True),
        sa.Column("closes_at", sa.String(length=8), nullable=True),
        sa.Column("schedule_link", sa.String(length=2048), nullable=True),
        sa.Column("attending_type", sa.String(length=255), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_schedules_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_at_location_id"],
            ["service_at_locations.id"],
            name=op.f("fk_schedules_service_at_location_id_service_at_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_schedules_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_schedules_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    op.create_index(op.f("ix_schedules_location_id"), "schedules", ["location_id"], unique=False)
    op.create_index(
        op.f("ix_schedules_service_at_location_id"),
        "schedules",
        ["service_at_location_id"],
        unique=False,
    )
    op.create_index(op.f("ix_schedules_service_id"), "schedules", ["service_id"], unique=False)
    op.create_index(op.f("ix_schedules_tenant_id"), "schedules", ["tenant_id"], unique=False)
    op.create_table(
        "service_areas",
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("service_at_location_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("extent", sa.Text(), nullable=True),
        sa.Column("extent_type", sa.String(length=32), nullable=True),
        sa.Column("uri", sa.String(length=2048), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_at_location_id"],
            ["service_at_locations.id"],
            name=op.f("fk_service_areas_service_at_location_id_service_at_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_areas_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_service_areas_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_areas")),
    )
    op.create_index(
        op.f("ix_service_areas_service_at_location_id"),
        "service_areas",
        ["service_at_location_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_service_areas_service_id"), "service_areas", ["service_id"], unique=False
    )
    op.create_index(
        op.f("ix_service_areas_tenant_id"), "service_areas", ["tenant_id"], unique=False
    )
    op.create_table(
        "languages",
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("phone_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("code", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_languages_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["phone_id"],
            ["phones.id"],
            name=op.f("fk_languages_phone_id_phones"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_languages_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_languages_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_languages")),
    )
    op.create_index(op.f("ix_languages_location_id"), "languages", ["location_id"], unique=False)
    op.create_index(op.f("ix_languages_phone_id"), "languages", ["phone_id"], unique=False)
    op.create_index(op.f("ix_languages_service_id"), "languages", ["service_id"], unique=False)
    op.create_index(op.f("ix_languages_tenant_id"), "languages", ["tenant_id"], unique=False)
    op.create_table(
        "outcomes",
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column(
            "code",
            sa.Enum(
                "got-help",
                "could-not-get-help",
                "no-capacity",
                "not-eligible",
                "could-not-contact",
                "no-longer-interested",
                "referred-elsewhere",
                "needs-client-action",
                name="outcome_code",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("outcome_date", sa.Date(), nullable=False),
        sa.Column("reported_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_outcomes_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reported_by_id"],
            ["principals.id"],
            name=op.f("fk_outcomes_reported_by_id_principals"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_outcomes_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
    )
    op.create_index(op.f("ix_outcomes_referral_id"), "outcomes", ["referral_id"], unique=False)
    op.create_index(op.f("ix_outcomes_tenant_id"), "outcomes", ["tenant_id"], unique=False)
    op.create_table(
        "referral_status_history",
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "draft",
                "requested",
                "accepted",
                "rejected",
                "in-progress",
                "on-hold",
                "failed",
                "completed",
                "cancelled",
                "entered-in-error",
                name="from_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "draft",
                "requested",
                "accepted",
                "rejected",
                "in-progress",
                "on-hold",
                "failed",
                "completed",
                "cancelled",
                "entered-in-error",
                name="to_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("changed_by_id", sa.Uuid(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["changed_by_id"],
            ["principals.id"],
            name=op.f("fk_referral_status_history_changed_by_id_principals"),
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_status_history_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_referral_status_history_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_status_history")),
    )
    op.create_index(
        op.f("ix_referral_status_history_referral_id"),
        "referral_status_history",
        ["referral_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_referral_status_history_tenant_id"),
        "referral_status_history",
        ["tenant_id"],
        unique=False,
    )
    _create_search_indexes()
    _make_audit_append_only()
    # The instance's own secret (signs cursors); shared by every gateway process on this database.
    op.bulk_insert(
        sa.table(
            "instance",
            sa.column("id", sa.Integer),
            sa.column("secret", sa.String),
            sa.column("demo", sa.Boolean),
            sa.column("created_at", sa.DateTime(timezone=True)),
        ),
        [{"id": 1, "secret": secrets.token_hex(32), "demo": False, "created_at": _now()}],
    )


def downgrade() -> None:
    _drop_search_indexes()
    _drop_audit_guards()
    op.drop_index(
        op.f("ix_referral_status_history_tenant_id"), table_name="referral_status_history"
    )
    op.drop_index(
        op.f("ix_referral_status_history_referral_id"), table_name="referral_status_history"
    )
    op.drop_table("referral_status_history")
    op.drop_index(op.f("ix_outcomes_tenant_id"), table_name="outcomes")
    op.drop_index(op.f("ix_outcomes_referral_id"), table_name="outcomes")
    op.drop_table("outcomes")
    op.drop_index(op.f("ix_languages_tenant_id"), table_name="languages")
    op.drop_index(op.f("ix_languages_service_id"), table_name="languages")
    op.drop_index(op.f("ix_languages_phone_id"), table_name="languages")
    op.drop_index(op.f("ix_languages_location_id"), table_name="languages")
    op.drop_table("languages")
    op.drop_index(op.f("ix_service_areas_tenant_id"), table_name="service_areas")
    op.drop_index(op.f("ix_service_areas_service_id"), table_name="service_areas")
    op.drop_index(op.f("ix_service_areas_service_at_location_id"), table_name="service_areas")
    op.drop_table("service_areas")
    op.drop_index(op.f("ix_schedules_tenant_id"), table_name="schedules")
    op.drop_index(op.f("ix_schedules_service_id"), table_name="schedules")
    op.drop_index(op.f("ix_schedules_service_at_location_id"), table_name="schedules")
    op.drop_index(op.f("ix_schedules_location_id"), table_name="schedules")
    op.drop_table("schedules")
    op.drop_index(op.f("ix_referrals_tenant_id_status"), table_name="referrals")
    op.drop_index(op.f("ix_referrals_tenant_id"), table_name="referrals")
    op.drop_index(op.f("ix_referrals_service_at_location_id"), table_name="referrals")
    op.drop_index(op.f("ix_referrals_program_id"), table_name="referrals")
    op.drop_index(op.f("ix_referrals_contact_record_id"), table_name="referrals")
    op.drop_index(op.f("ix_referrals_client_id"), table_name="referrals")
    op.drop_table("referrals")
    op.drop_index(op.f("ix_phones_tenant_id"), table_name="phones")
    op.drop_index(op.f("ix_phones_service_id"), table_name="phones")
    op.drop_index(op.f("ix_phones_service_at_location_id"), table_name="phones")
    op.drop_index(op.f("ix_phones_organization_id"), table_name="phones")
    op.drop_index(op.f("ix_phones_location_id"), table_name="phones")
    op.drop_table("phones")
    op.drop_index(op.f("ix_capacity_history_tenant_id"), table_name="capacity_history")
    op.drop_index(op.f("ix_capacity_history_capacity_id"), table_name="capacity_history")
    op.drop_table("capacity_history")
    op.drop_index(op.f("ix_service_capacities_tenant_id"), table_name="service_capacities")
    op.drop_index(op.f("ix_service_capacities_service_id"), table_name="service_capacities")
    op.drop_index(op.f("ix_service_capacities_program_id"), table_name="service_capacities")
    op.drop_table("service_capacities")
    op.drop_index(op.f("ix_service_at_locations_tenant_id"), table_name="service_at_locations")
    op.drop_index(op.f("ix_service_at_locations_service_id"), table_name="service_at_locations")
    op.drop_index(op.f("ix_service_at_locations_location_id"), table_name="service_at_locations")
    op.drop_table("service_at_locations")
    op.drop_index(op.f("ix_services_tenant_id_name"), table_name="services")
    op.drop_index(op.f("ix_services_tenant_id"), table_name="services")
    op.drop_index(op.f("ix_services_program_id"), table_name="services")
    op.drop_index(op.f("ix_services_organization_id"), table_name="services")
    op.drop_table("services")
    op.drop_index(op.f("ix_queue_statuses_tenant_id"), table_name="queue_statuses")
    op.drop_index(op.f("ix_queue_statuses_queue_id"), table_name="queue_statuses")
    op.drop_table("queue_statuses")
    op.drop_index(op.f("ix_queue_programs_tenant_id"), table_name="queue_programs")
    op.drop_index(op.f("ix_queue_programs_queue_id"), table_name="queue_programs")
    op.drop_index(op.f("ix_queue_programs_program_id"), table_name="queue_programs")
    op.drop_table("queue_programs")
    op.drop_index(op.f("ix_queue_forms_tenant_id"), table_name="queue_forms")
    op.drop_index(op.f("ix_queue_forms_queue_id"), table_name="queue_forms")
    op.drop_index(op.f("ix_queue_forms_form_id"), table_name="queue_forms")
    op.drop_table("queue_forms")
    op.drop_index(op.f("ix_queue_entries_tenant_id"), table_name="queue_entries")
    op.drop_index(op.f("ix_queue_entries_queue_id_status_key_priority"), table_name="queue_entries")
    op.drop_index(op.f("ix_queue_entries_queue_id"), table_name="queue_entries")
    op.drop_index(op.f("ix_queue_entries_contact_record_id"), table_name="queue_entries")
    op.drop_index(op.f("ix_queue_entries_client_id"), table_name="queue_entries")
    op.drop_index(op.f("ix_queue_entries_assigned_program_id"), table_name="queue_entries")
    op.drop_table("queue_entries")
    op.drop_index(op.f("ix_follow_ups_tenant_id"), table_name="follow_ups")
    op.drop_index(op.f("ix_follow_ups_contact_record_id"), table_name="follow_ups")
    op.drop_index(op.f("ix_follow_ups_assigned_tenant_id"), table_name="follow_ups")
    op.drop_index(op.f("ix_follow_ups_assigned_principal_id"), table_name="follow_ups")
    op.drop_table("follow_ups")
    op.drop_index(op.f("ix_contact_record_needs_tenant_id"), table_name="contact_record_needs")
    op.drop_index(
        op.f("ix_contact_record_needs_taxonomy_term_id"), table_name="contact_record_needs"
    )
    op.drop_index(
        op.f("ix_contact_record_needs_contact_record_id"), table_name="contact_record_needs"
    )
    op.drop_table("contact_record_needs")
    op.drop_index(op.f("ix_addresses_tenant_id"), table_name="addresses")
    op.drop_index(op.f("ix_addresses_postal_code"), table_name="addresses")
    op.drop_index(op.f("ix_addresses_location_id"), table_name="addresses")
    op.drop_table("addresses")
    op.drop_index(op.f("ix_role_assignments_tenant_id"), table_name="role_assignments")
    op.drop_index(op.f("ix_role_assignments_principal_id"), table_name="role_assignments")
    op.drop_index(
        op.f("ix_role_assignments_partner_organization_id"), table_name="role_assignments"
    )
    op.drop_table("role_assignments")
    op.drop_index(op.f("ix_referral_queues_tenant_id"), table_name="referral_queues")
    op.drop_table("referral_queues")
    op.drop_index(op.f("ix_programs_tenant_id"), table_name="programs")
    op.drop_index(op.f("ix_programs_organization_id"), table_name="programs")
    op.drop_table("programs")
    op.drop_index(op.f("ix_locations_tenant_id"), table_name="locations")
    op.drop_index(op.f("ix_locations_organization_id"), table_name="locations")
    op.drop_index(op.f("ix_locations_latitude_longitude"), table_name="locations")
    op.drop_table("locations")
    op.drop_index(op.f("ix_form_fields_tenant_id"), table_name="form_fields")
    op.drop_index(op.f("ix_form_fields_form_version_id"), table_name="form_fields")
    op.drop_table("form_fields")
    op.drop_index(op.f("ix_events_tenant_id"), table_name="events")
    op.drop_index(op.f("ix_events_record_type_record_id"), table_name="events")
    op.drop_table("events")
    op.drop_index(op.f("ix_contact_records_worker_id"), table_name="contact_records")
    op.drop_index(op.f("ix_contact_records_tenant_id_updated_at_id"), table_name="contact_records")
    op.drop_index(op.f("ix_contact_records_tenant_id_started_at_id"), table_name="contact_records")
    op.drop_index(op.f("ix_contact_records_tenant_id"), table_name="contact_records")
    op.drop_index(op.f("ix_contact_records_form_version_id"), table_name="contact_records")
    op.drop_index(op.f("ix_contact_records_client_id"), table_name="contact_records")
    op.drop_table("contact_records")
    op.drop_index(op.f("ix_audit_events_tenant_id"), table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index(op.f("ix_attributes_tenant_id"), table_name="attributes")
    op.drop_index(
        op.f("ix_attributes_taxonomy_term_id_link_entity_link_id"), table_name="attributes"
    )
    op.drop_index(op.f("ix_attributes_taxonomy_term_id"), table_name="attributes")
    op.drop_index(op.f("ix_attributes_link_id"), table_name="attributes")
    op.drop_table("attributes")
    op.drop_index(op.f("ix_api_keys_principal_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index(op.f("ix_taxonomy_terms_tenant_id"), table_name="taxonomy_terms")
    op.drop_index(op.f("ix_taxonomy_terms_taxonomy_id"), table_name="taxonomy_terms")
    op.drop_index(op.f("ix_taxonomy_terms_parent_id"), table_name="taxonomy_terms")
    op.drop_table("taxonomy_terms")
    op.drop_index(op.f("ix_principals_tenant_id"), table_name="principals")
    op.drop_index(op.f("ix_principals_partner_organization_id"), table_name="principals")
    op.drop_table("principals")
    op.drop_index(op.f("ix_organizations_tenant_id_name"), table_name="organizations")
    op.drop_index(op.f("ix_organizations_tenant_id"), table_name="organizations")
    op.drop_index(op.f("ix_organizations_partner_organization_id"), table_name="organizations")
    op.drop_index(op.f("ix_organizations_parent_organization_id"), table_name="organizations")
    op.drop_table("organizations")
    op.drop_index(op.f("ix_contact_form_versions_tenant_id"), table_name="contact_form_versions")
    op.drop_index(op.f("ix_contact_form_versions_form_id"), table_name="contact_form_versions")
    op.drop_table("contact_form_versions")
    op.drop_index(op.f("ix_units_tenant_id"), table_name="units")
    op.drop_table("units")
    op.drop_index(op.f("ix_taxonomies_tenant_id"), table_name="taxonomies")
    op.drop_table("taxonomies")
    op.drop_index(op.f("ix_partner_organizations_tenant_id"), table_name="partner_organizations")
    op.drop_table("partner_organizations")
    op.drop_index(op.f("ix_contact_forms_tenant_id"), table_name="contact_forms")
    op.drop_table("contact_forms")
    op.drop_index(op.f("ix_clients_tenant_id"), table_name="clients")
    op.drop_table("clients")
    op.drop_table("tenants")
    op.drop_table("instance")
