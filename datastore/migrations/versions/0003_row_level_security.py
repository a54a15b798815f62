"""row level security

PostgreSQL only (a no-op on SQLite): row-level security as defense in depth on tenant-owned
tables. RLS bounds *tenants* only; the access plan's row scopes stay the real guard.

Roles
  ``sharegraph_app`` (NOLOGIN, NOBYPASSRLS, not a superuser) is the role a scoped transaction
  switches to with ``SET LOCAL ROLE`` (``datastore/rls.py``). Roles are cluster-wide and many
  databases of one cluster run this migration, so it is created only when missing (and a
  concurrent creation by another database's migration is tolerated); the migration refuses to
  go on if an existing ``sharegraph_app`` could bypass RLS. The connecting user, when it is not a
  superuser, is granted membership so that ``SET LOCAL ROLE`` is allowed (a superuser may switch
  to any role). The downgrade never drops the role nor revokes that membership: other databases
  of the cluster may still use them. It revokes what this database granted and drops the
  policies.

Privileges
  ``sharegraph_app`` gets USAGE on the schema, SELECT/INSERT/UPDATE/DELETE on every table and
  USAGE on every sequence, now and (ALTER DEFAULT PRIVILEGES, for tables the migrating role
  creates later) in future, except: ``events`` and ``audit_events`` get SELECT/INSERT only
  (append-only logs), and the Alembic version table gets nothing.

Tables with row-level security (ENABLE + FORCE, so the owner is subject to it too)
  Every ``TenantOwned`` model's table, written out below (migrations are frozen; a test fails
  when a ``TenantOwned`` table is missing). Each has two permissive policies:

  * ``tenant_isolation`` FOR ALL TO ``sharegraph_app``: ``tenant_id`` must be one of the tenants
    in the transaction-local setting ``sharegraph.directory_tenants`` (the resource directory:
    exactly the models of ``authz.plan.DIRECTORY_MODELS``) or ``sharegraph.record_tenants``
    (every other tenant-owned table); ``*`` means every tenant. Unset or empty means none.
  * ``owner_access`` FOR ALL TO the role running this migration (the tables' owner), USING and
    WITH CHECK true: under FORCE RLS, migrations, seeding and admin tools running as a
    non-superuser owner keep working. (Superusers bypass RLS anyway.)

Tables with a ``tenant_id`` but no row-level security
  * ``events``, ``audit_events`` (and ``audit_seals`` of 0004): written by the system on behalf
    of many tenants in one transaction; the app role may only read and append.
  * ``partner_organizations``, ``principals``, ``role_assignments``: identity tables, where
    ``tenant_id`` is a membership, not an owner; authentication reads them before any plan (or
    scope) exists. ``tenants``, ``instance`` and ``api_keys`` have no ``tenant_id``.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "sharegraph_app"
RECORD_SETTING = "sharegraph.record_tenants"
DIRECTORY_SETTING = "sharegraph.directory_tenants"

# authz.plan.DIRECTORY_MODELS, as tables.
DIRECTORY_TABLES: tuple[str, ...] = (
    "addresses",
    "attributes",
    "languages",
    "locations",
    "organizations",
    "phones",
    "programs",
    "schedules",
    "service_areas",
    "service_at_locations",
    "service_capacities",
    "services",
    "taxonomies",
    "taxonomy_terms",
    "units",
)

# Every other TenantOwned model's table.
RECORD_TABLES: tuple[str, ...] = (
    "capacity_history",
    "client_consents",
    "clients",
    "contact_form_versions",
    "contact_forms",
    "contact_record_needs",
    "contact_records",
    "follow_ups",
    "form_fields",
    "inventories",
    "inventory_items",
    "outcomes",
    "queue_entries",
    "queue_forms",
    "queue_programs",
    "queue_statuses",
    "referral_queues",
    "referral_status_history",
    "referrals",
    "sharing_agreements",
)

# Tables with a tenant_id column and deliberately no RLS (see the module docstring).
APPEND_ONLY_TABLES: tuple[str, ...] = ("events", "audit_events")
NO_RLS_TENANT_TABLES: tuple[str, ...] = (
    *APPEND_ONLY_TABLES,
    "audit_seals",
    "partner_organizations",
    "principals",
    "role_assignments",
)


def _tenant_predicate(setting: str) -> str:
    value = f"current_setting('{setting}', true)"
    # A transaction-local setting reads '' (not NULL) once its transaction ended: nullif.
    # The ANY arm never sees '*' (nullif), so it cannot fail to cast whatever order the OR is
    # evaluated in. The scalar subqueries become InitPlans: the setting is read and parsed once
    # per query, not once per row (~1.1 µs a row otherwise, a seq scan ~12x slower). The no-op
    # outer cast keeps `ANY (expression)` from being parsed as `ANY (subquery)`.
    return (
        f"(SELECT nullif({value}, '') = '*') OR tenant_id = ANY "
        f"((SELECT string_to_array(nullif(nullif({value}, ''), '*'), ',')::uuid[])::uuid[])"
    )


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _version_table() -> str:
    return str(op.get_context().version_table)


def upgrade() -> None:
    if not _is_postgresql():
        return
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN
                BEGIN
                    CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN
                    NULL;  -- created meanwhile by the migration of another database
                END;
            END IF;
            IF EXISTS (
                SELECT FROM pg_catalog.pg_roles
                WHERE rolname = '{APP_ROLE}' AND (rolsuper OR rolbypassrls)
            ) THEN
                RAISE EXCEPTION 'role {APP_ROLE} must not be a superuser nor have BYPASSRLS';
            END IF;
            IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
               AND NOT pg_catalog.pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN
                EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
            END IF;
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO {APP_ROLE}', current_schema());
            EXECUTE format(
                'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO {APP_ROLE}',
                current_schema()
            );
            EXECUTE format(
                'GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO {APP_ROLE}', current_schema()
            );
            EXECUTE format(
                'ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
                'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}',
                current_schema()
            );
            EXECUTE format(
                'ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE ON SEQUENCES TO {APP_ROLE}',
                current_schema()
            );
        END $$
        """
    )
    for table in APPEND_ONLY_TABLES:
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {APP_ROLE}")
    op.execute(f'REVOKE ALL ON "{_version_table()}" FROM {APP_ROLE}')

    for tables, setting in ((DIRECTORY_TABLES, DIRECTORY_SETTING), (RECORD_TABLES, RECORD_SETTING)):
        predicate = _tenant_predicate(setting)
        for table in tables:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY tenant_isolation ON {table} AS PERMISSIVE FOR ALL TO {APP_ROLE} "
                f"USING ({predicate}) WITH CHECK ({predicate})"
            )
            op.execute(
                f"CREATE POLICY owner_access ON {table} AS PERMISSIVE FOR ALL TO CURRENT_USER "
                "USING (true) WITH CHECK (true)"
            )


def downgrade() -> None:
    if not _is_postgresql():
        return
    for table in (*DIRECTORY_TABLES, *RECORD_TABLES):
        op.execute(f"DROP POLICY IF EXISTS owner_access ON {table}")
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    # The role and the connecting user's membership stay: other databases may use them.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN
                EXECUTE format(
                    'ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON SEQUENCES FROM {APP_ROLE}',
                    current_schema()
                );
                EXECUTE format(
                    'ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON TABLES FROM {APP_ROLE}',
                    current_schema()
                );
                EXECUTE format(
                    'REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM {APP_ROLE}', current_schema()
                );
                EXECUTE format(
                    'REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM {APP_ROLE}', current_schema()
                );
                EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM {APP_ROLE}', current_schema());
            END IF;
        END $$
        """
    )
