-- The shared identity database: users, roles and tenant memberships.
-- A tenant sees only its own memberships, and only users who belong to it.
CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email text NOT NULL,
  display_name text,
  password_hash text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE roles (
  id text PRIMARY KEY,
  description text NOT NULL
);
INSERT INTO roles (id, description) VALUES
  ('owner', 'Manages the tenant, its billing and its members'),
  ('admin', 'Manages collections, storage and members'),
  ('member', 'Uploads, organises and searches images'),
  ('viewer', 'Searches and views images');

CREATE TABLE tenant_memberships (
  tenant_id uuid NOT NULL,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role_id text NOT NULL REFERENCES roles (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX tenant_memberships_user ON tenant_memberships (user_id);

CREATE FUNCTION current_tenant_id() RETURNS uuid
  LANGUAGE sql STABLE
  AS $$ SELECT nullif(current_setting('app.current_tenant_id', true), '')::uuid $$;

CREATE FUNCTION set_tenant_context(p_tenant_id uuid) RETURNS void
  LANGUAGE sql
  AS $$ SELECT set_config('app.current_tenant_id', p_tenant_id::text, false) $$;

ALTER TABLE tenant_memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_memberships
  USING (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);

-- Membership lookups inside the users policy must not themselves be filtered
-- by the caller's rights, hence SECURITY DEFINER.
CREATE FUNCTION user_in_current_tenant(p_user_id uuid) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
  AS $$ SELECT EXISTS (
    SELECT 1 FROM tenant_memberships
     WHERE user_id = p_user_id
       AND tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid) $$;

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users USING (user_in_current_tenant(id));

DO $$
DECLARE
  tenant_role text := current_setting('deeplens.tenant_role');
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', tenant_role);
  EXECUTE format('GRANT SELECT ON roles TO %I', tenant_role);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_memberships TO %I', tenant_role);
  EXECUTE format('GRANT SELECT, UPDATE ON users TO %I', tenant_role);
  EXECUTE format('GRANT EXECUTE ON FUNCTION set_tenant_context(uuid), current_tenant_id(), user_in_current_tenant(uuid) TO %I', tenant_role);
  EXECUTE 'REVOKE ALL ON SCHEMA public FROM PUBLIC';
  EXECUTE 'REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC';
END $$;
