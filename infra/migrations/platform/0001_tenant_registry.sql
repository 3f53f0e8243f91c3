-- The platform database: the tenant registry, its storage, databases, usage,
-- plans, idempotency keys, the audit log and the archive of finished jobs.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE plans (
  id text PRIMARY KEY,
  display_name text NOT NULL,
  storage_bytes bigint NOT NULL CHECK (storage_bytes >= 0),
  api_calls_per_month bigint NOT NULL CHECK (api_calls_per_month >= 0),
  max_collections integer NOT NULL CHECK (max_collections >= 0),
  support text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO plans (id, display_name, storage_bytes, api_calls_per_month, max_collections, support) VALUES
  ('free', 'Free', 1::bigint * 1024 * 1024 * 1024, 1000, 5, 'community'),
  ('premium', 'Premium', 100::bigint * 1024 * 1024 * 1024, 100000, 50, 'email'),
  ('enterprise', 'Enterprise', 1000::bigint * 1024 * 1024 * 1024, 1000000, 500, 'dedicated');

CREATE TABLE tenants (
  id uuid PRIMARY KEY,
  name text NOT NULL CHECK (name ~ '^[a-z][a-z0-9-]{1,48}[a-z0-9]$'),
  display_name text,
  domain text,
  plan text NOT NULL REFERENCES plans (id),
  status text NOT NULL CHECK (status IN ('provisioning', 'active', 'failed', 'suspended', 'deprovisioning', 'deleted')),
  status_reason text,
  -- Per-tenant overrides of the plan's limits; NULL means "the plan's".
  storage_bytes_limit bigint CHECK (storage_bytes_limit >= 0),
  api_calls_limit bigint CHECK (api_calls_limit >= 0),
  max_collections_limit integer CHECK (max_collections_limit >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz
);
-- A name or domain is taken while its tenant exists in any state but deleted.
CREATE UNIQUE INDEX tenants_live_name ON tenants (name) WHERE status <> 'deleted';
CREATE UNIQUE INDEX tenants_live_domain ON tenants (lower(domain)) WHERE status <> 'deleted' AND domain IS NOT NULL;
CREATE INDEX tenants_listing ON tenants (created_at, id);
CREATE INDEX tenants_by_status ON tenants (status, plan);

CREATE TABLE tenant_databases (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  db_type text NOT NULL CHECK (db_type IN ('metadata', 'vectors', 'cache')),
  database_name text NOT NULL,
  -- The last template migration applied to this database (the fleet's progress).
  template_version text,
  created_at timestamptz NOT NULL DEFAULT now(),
  dropped_at timestamptz
);
CREATE UNIQUE INDEX tenant_databases_live_type ON tenant_databases (tenant_id, db_type) WHERE dropped_at IS NULL;
CREATE UNIQUE INDEX tenant_databases_live_name ON tenant_databases (database_name) WHERE dropped_at IS NULL;

-- Storage: non-secret settings in clear, secrets encrypted with pgcrypto
-- (pgp_sym_encrypt) under the key named by key_id. The key itself only ever
-- arrives as a bind parameter.
CREATE TABLE tenant_storage_configs (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
  provider text NOT NULL CHECK (provider IN ('azure_blob', 'aws_s3', 'gcs', 'minio', 'nfs', 'smb')),
  settings jsonb NOT NULL DEFAULT '{}',
  secrets bytea,
  key_id text,
  version integer NOT NULL DEFAULT 1,
  is_platform_default boolean NOT NULL DEFAULT false,
  status text NOT NULL DEFAULT 'unverified' CHECK (status IN ('unverified', 'verifying', 'verified', 'failed')),
  last_tested_at timestamptz,
  last_error jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenant_storage_by_status ON tenant_storage_configs (provider, status);

-- Usage events, partitioned by month of occurrence. The aggregator creates
-- partitions ahead of time; the default partition catches anything else.
CREATE TABLE api_usage_logs (
  event_id uuid NOT NULL,
  tenant_id uuid NOT NULL,
  endpoint text NOT NULL,
  method text NOT NULL,
  status_code integer NOT NULL,
  duration_ms integer NOT NULL,
  request_bytes bigint NOT NULL DEFAULT 0,
  response_bytes bigint NOT NULL DEFAULT 0,
  occurred_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (occurred_at);
CREATE TABLE api_usage_logs_default PARTITION OF api_usage_logs DEFAULT;
CREATE INDEX api_usage_logs_tenant_time ON api_usage_logs (tenant_id, occurred_at);

CREATE TABLE idempotency_keys (
  key text PRIMARY KEY,
  -- Who used the key (a fingerprint of the token, never the token) and for what.
  principal text NOT NULL,
  request_hash text NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'done')),
  status_code integer,
  response_headers jsonb,
  response_body jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL DEFAULT now() + interval '24 hours'
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL,
  tenant_id uuid,
  details jsonb NOT NULL DEFAULT '{}',
  -- Steps of retried jobs write their entry once.
  dedupe_key text UNIQUE
);
CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, occurred_at);

-- Finished jobs, kept after Redis lets them go (Redis keeps a bounded number).
CREATE TABLE job_records (
  id uuid PRIMARY KEY,
  type text NOT NULL,
  tenant_id uuid,
  state text NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 1,
  progress jsonb,
  result jsonb,
  error jsonb,
  created_at timestamptz NOT NULL,
  started_at timestamptz,
  finished_at timestamptz
);
CREATE INDEX job_records_finished ON job_records (finished_at);

DO $$
DECLARE
  platform_role text := current_setting('deeplens.platform_role');
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', platform_role);
  EXECUTE format('GRANT SELECT ON plans TO %I', platform_role);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON tenants, tenant_databases, tenant_storage_configs TO %I', platform_role);
  EXECUTE format('GRANT DELETE ON tenant_storage_configs, tenant_databases TO %I', platform_role);
  EXECUTE format('GRANT SELECT, INSERT ON api_usage_logs TO %I', platform_role);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys, job_records TO %I', platform_role);
  -- The audit log is append-only for the services.
  EXECUTE format('GRANT SELECT, INSERT ON audit_log TO %I', platform_role);
  EXECUTE format('GRANT USAGE ON SEQUENCE audit_log_id_seq TO %I', platform_role);
  EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO %I', platform_role);
END $$;
