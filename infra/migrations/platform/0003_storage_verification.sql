-- The history of storage verifications: one row per storage.verify job (its
-- retries update the same row), so a tenant can see when each config version
-- was tested, how each step went and why it failed. No secret is ever stored
-- here: messages come from the probe, which scrubs the config's secrets.
CREATE TABLE storage_verifications (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  job_id uuid NOT NULL UNIQUE,
  config_version integer NOT NULL,
  provider text NOT NULL,
  reason text,
  -- verifying while an attempt runs or a retry is pending; then verified or failed.
  status text NOT NULL CHECK (status IN ('verifying', 'verified', 'failed')),
  error_code text,
  error_message text,
  -- [{"step": "write|read|list|delete", "ms": 12, "ok": true}, …] of the latest attempt.
  steps jsonb NOT NULL DEFAULT '[]',
  total_ms integer,
  attempts integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
  max_attempts integer NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE INDEX storage_verifications_by_tenant ON storage_verifications (tenant_id, started_at DESC, id DESC);

DO $$
DECLARE
  platform_role text := current_setting('deeplens.platform_role');
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON storage_verifications TO %I', platform_role);
  EXECUTE format('GRANT USAGE ON SEQUENCE storage_verifications_id_seq TO %I', platform_role);
END $$;
