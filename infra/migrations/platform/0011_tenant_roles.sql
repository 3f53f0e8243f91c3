-- Each tenant database is opened with a login role of the tenant's own,
-- `<prefix>tenant_<tenant id hex>`, a member of the NOLOGIN tenant_service
-- group (which holds the table grants the RLS policies are written for) and
-- allowed to CONNECT to that tenant's database only. Its password is sealed
-- by the application (AES-256-GCM, AAD = tenant id and purpose): the key
-- never reaches PostgreSQL, and the clear password exists only in the
-- provisioner that sets it and the aggregator that logs in with it.
CREATE TABLE tenant_db_roles (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
  role_name text NOT NULL UNIQUE,
  password_sealed text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

DO $$
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, DELETE ON tenant_db_roles TO %I', current_setting('deeplens.platform_role'));
END $$;
