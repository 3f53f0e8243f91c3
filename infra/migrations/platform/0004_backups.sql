-- Backups of tenant databases (into the tenant's own storage) and of the
-- platform database (into the platform's default storage). The API inserts a
-- row as `pending` in the transaction that enqueues the job; the job streams
-- pg_dump to `storage_key` and records size and SHA-256, computed while
-- streaming. Retries overwrite the same key, so one row is one object.
CREATE TABLE backups (
  id uuid PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('tenant', 'platform')),
  tenant_id uuid REFERENCES tenants (id),
  database_name text NOT NULL,
  provider text NOT NULL,
  storage_key text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
  size_bytes bigint,
  sha256 text,
  error_code text,
  error_message text,
  requested_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  CHECK ((kind = 'tenant') = (tenant_id IS NOT NULL))
);
CREATE INDEX backups_by_tenant ON backups (tenant_id, created_at DESC);

-- Restores: one row per request. `restored` means the new database holds the
-- backup and passed the RLS check; `swapped` that it now carries the tenant's
-- registered name (the old one kept as previous_database).
CREATE TABLE backup_restores (
  id uuid PRIMARY KEY,
  backup_id uuid NOT NULL REFERENCES backups (id),
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  -- Set by the job: <registered>_restore_<short id>.
  target_database text,
  swap boolean NOT NULL DEFAULT false,
  status text NOT NULL CHECK (status IN ('pending', 'restored', 'swapped', 'failed')),
  previous_database text,
  error_code text,
  error_message text,
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE INDEX backup_restores_by_tenant ON backup_restores (tenant_id, created_at DESC);

-- The registered database after a swap: same name, other contents; say where they came from.
ALTER TABLE tenant_databases ADD COLUMN restored_from_backup uuid, ADD COLUMN restored_at timestamptz;

DO $$
DECLARE
  platform_role text := current_setting('deeplens.platform_role');
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON backups, backup_restores TO %I', platform_role);
END $$;
