-- Spare tenant databases: clones of the template made ahead of demand,
-- migrated and proven isolated (RLS) like any tenant database, waiting to be
-- claimed. A provisioning claims one by renaming it (no copy, no connection
-- to it), so a tenant is ready in the time of a rename. A row exists only for
-- a spare that is complete; claimed_by marks one being renamed, so a retry
-- after a crash finishes the same claim.
CREATE TABLE spare_databases (
  database_name text PRIMARY KEY,
  template_version text NOT NULL,
  claimed_by uuid UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX spare_databases_ready ON spare_databases (template_version, created_at) WHERE claimed_by IS NULL;

DO $$
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON spare_databases TO %I', current_setting('deeplens.platform_role'));
END $$;
