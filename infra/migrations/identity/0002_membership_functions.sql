-- Membership and user changes only through functions that check the tenant
-- context. Before this, a tenant context could insert a membership for any
-- user (the policy checked only tenant_id) and, that user now "in" its
-- tenant, rewrite the user's password_hash. The role that holds tenant
-- contexts (identity_service) now reads the tables and calls the functions;
-- it writes nothing directly. tenant_service loses every right here: tenant
-- login roles, its members, never connect to this database.

-- The functions run as their owner, the migration role. A superuser owner
-- bypasses RLS; any other owner is bound by the FORCEd policies, so it is
-- let through here, and only it: identity_service can never become it.
DO $$
BEGIN
  EXECUTE format('CREATE POLICY definer_access ON tenant_memberships TO %I USING (true) WITH CHECK (true)', current_user);
  EXECUTE format('CREATE POLICY definer_access ON users TO %I USING (true) WITH CHECK (true)', current_user);
END $$;

-- Every UPDATE policy says what a row may become, not only which rows may be touched.
DROP POLICY tenant_isolation ON users;
CREATE POLICY tenant_isolation ON users USING (user_in_current_tenant(id)) WITH CHECK (user_in_current_tenant(id));

CREATE FUNCTION require_tenant_context() RETURNS uuid
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public
  AS $$
DECLARE
  tenant uuid := current_tenant_id();
BEGIN
  IF tenant IS NULL THEN
    RAISE EXCEPTION 'no tenant context: call set_tenant_context first' USING ERRCODE = '42501';
  END IF;
  RETURN tenant;
END $$;

-- Whether the user belongs to a tenant other than the current one.
CREATE FUNCTION user_in_other_tenant(p_user_id uuid, p_tenant uuid) RETURNS boolean
  LANGUAGE sql STABLE SET search_path = pg_catalog, public
  AS $$ SELECT EXISTS (SELECT 1 FROM tenant_memberships WHERE user_id = p_user_id AND tenant_id <> p_tenant) $$;

-- A new user, member of the current tenant from the start.
CREATE FUNCTION create_user(p_email text, p_display_name text, p_password_hash text, p_role_id text) RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$
DECLARE
  tenant uuid := require_tenant_context();
  new_id uuid;
BEGIN
  INSERT INTO users (email, display_name, password_hash) VALUES (p_email, p_display_name, p_password_hash) RETURNING id INTO new_id;
  INSERT INTO tenant_memberships (tenant_id, user_id, role_id) VALUES (tenant, new_id, p_role_id);
  RETURN new_id;
END $$;

-- An existing user joins the current tenant, unless another tenant has them:
-- such a user is added by the platform, never by one of their tenants.
CREATE FUNCTION add_membership(p_user_id uuid, p_role_id text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$
DECLARE
  tenant uuid := require_tenant_context();
BEGIN
  IF user_in_other_tenant(p_user_id, tenant) THEN
    RAISE EXCEPTION 'user % cannot be added to this tenant', p_user_id USING ERRCODE = '42501';
  END IF;
  INSERT INTO tenant_memberships (tenant_id, user_id, role_id) VALUES (tenant, p_user_id, p_role_id)
  ON CONFLICT (tenant_id, user_id) DO NOTHING;
END $$;

CREATE FUNCTION change_membership_role(p_user_id uuid, p_role_id text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$
DECLARE
  tenant uuid := require_tenant_context();
BEGIN
  UPDATE tenant_memberships SET role_id = p_role_id WHERE tenant_id = tenant AND user_id = p_user_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'user % is not a member of this tenant', p_user_id USING ERRCODE = 'P0002';
  END IF;
END $$;

-- A user left in no tenant is deleted: an account nobody holds could
-- otherwise be claimed by any tenant (add_membership) and rewritten.
CREATE FUNCTION remove_membership(p_user_id uuid) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$
DECLARE
  tenant uuid := require_tenant_context();
BEGIN
  DELETE FROM tenant_memberships WHERE tenant_id = tenant AND user_id = p_user_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'user % is not a member of this tenant', p_user_id USING ERRCODE = 'P0002';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM tenant_memberships WHERE user_id = p_user_id) THEN
    DELETE FROM users WHERE id = p_user_id;
  END IF;
END $$;

-- Changes a user of the current tenant (NULL keeps a field). A user who also
-- belongs to another tenant is that tenant's user too: only the platform
-- changes them.
CREATE FUNCTION update_user(p_user_id uuid, p_email text, p_display_name text, p_password_hash text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$
DECLARE
  tenant uuid := require_tenant_context();
BEGIN
  IF NOT EXISTS (SELECT 1 FROM tenant_memberships WHERE tenant_id = tenant AND user_id = p_user_id) THEN
    RAISE EXCEPTION 'user % is not a member of this tenant', p_user_id USING ERRCODE = 'P0002';
  END IF;
  IF user_in_other_tenant(p_user_id, tenant) THEN
    RAISE EXCEPTION 'user % also belongs to another tenant; only the platform may change them', p_user_id USING ERRCODE = '42501';
  END IF;
  UPDATE users SET email = coalesce(p_email, email), display_name = coalesce(p_display_name, display_name),
                   password_hash = coalesce(p_password_hash, password_hash), updated_at = now()
   WHERE id = p_user_id;
END $$;

DO $$
DECLARE
  tenant_role text := current_setting('deeplens.tenant_role');
  identity_role text := current_setting('deeplens.identity_role');
BEGIN
  EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I', tenant_role);
  EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM %I', tenant_role);
  EXECUTE format('REVOKE ALL ON SCHEMA public FROM %I', tenant_role);
  EXECUTE 'REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC';

  EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', identity_role);
  EXECUTE format('GRANT SELECT ON roles, tenant_memberships, users TO %I', identity_role);
  EXECUTE format($g$GRANT EXECUTE ON FUNCTION set_tenant_context(uuid), current_tenant_id(), user_in_current_tenant(uuid),
    create_user(text, text, text, text), add_membership(uuid, text), change_membership_role(uuid, text),
    remove_membership(uuid), update_user(uuid, text, text, text) TO %I$g$, identity_role);
END $$;
