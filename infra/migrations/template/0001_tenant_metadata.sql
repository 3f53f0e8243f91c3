-- The tenant database template. Every table carries tenant_id, an index
-- leading on it, and Row Level Security that is both ENABLEd and FORCEd, with
-- policies on the session's tenant context. The tables belong to the
-- migration role, never to tenant_service, so RLS always binds that role.

CREATE FUNCTION current_tenant_id() RETURNS uuid
  LANGUAGE sql STABLE
  AS $$ SELECT nullif(current_setting('app.current_tenant_id', true), '')::uuid $$;

-- As in the seed's .NET example: SELECT set_tenant_context(@tenant_id).
-- It sets the context for the session; pass is_local => true inside a
-- transaction to scope it to that transaction only.
CREATE FUNCTION set_tenant_context(p_tenant_id uuid, is_local boolean DEFAULT false) RETURNS void
  LANGUAGE sql
  AS $$ SELECT set_config('app.current_tenant_id', p_tenant_id::text, is_local) $$;

CREATE TABLE image_collections (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  name text NOT NULL,
  description text,
  settings jsonb NOT NULL DEFAULT '{}',
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX image_collections_tenant_name ON image_collections (tenant_id, name);

CREATE TABLE images (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  collection_id uuid REFERENCES image_collections (id) ON DELETE SET NULL,
  storage_path text NOT NULL,
  original_filename text,
  content_type text,
  size_bytes bigint NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
  checksum_sha256 text,
  width integer,
  height integer,
  processing_status text NOT NULL DEFAULT 'pending'
    CHECK (processing_status IN ('pending', 'processing', 'ready', 'failed')),
  ai_analysis jsonb,
  uploaded_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX images_tenant_collection ON images (tenant_id, collection_id);
CREATE INDEX images_tenant_checksum ON images (tenant_id, checksum_sha256);

CREATE TABLE search_sessions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  user_id uuid,
  started_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz,
  query_count integer NOT NULL DEFAULT 0,
  client_info jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX search_sessions_tenant_started ON search_sessions (tenant_id, started_at);

CREATE TABLE search_queries (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  session_id uuid REFERENCES search_sessions (id) ON DELETE CASCADE,
  query_text text,
  query_type text NOT NULL DEFAULT 'text' CHECK (query_type IN ('text', 'image', 'hybrid')),
  filters jsonb NOT NULL DEFAULT '{}',
  result_count integer,
  duration_ms integer,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX search_queries_tenant_created ON search_queries (tenant_id, created_at);

CREATE TABLE user_preferences (
  tenant_id uuid NOT NULL,
  user_id uuid NOT NULL,
  preferences jsonb NOT NULL DEFAULT '{}',
  feature_flags jsonb NOT NULL DEFAULT '{}',
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE usage_statistics (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  period_start date NOT NULL,
  storage_bytes bigint NOT NULL DEFAULT 0,
  image_count bigint NOT NULL DEFAULT 0,
  collection_count integer NOT NULL DEFAULT 0,
  api_calls bigint NOT NULL DEFAULT 0,
  search_count bigint NOT NULL DEFAULT 0,
  computed_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX usage_statistics_tenant_period ON usage_statistics (tenant_id, period_start);

-- One policy shape for every table: see and write only the current tenant's rows.
DO $$
DECLARE
  tenant_role text := current_setting('deeplens.tenant_role');
  table_name text;
BEGIN
  FOREACH table_name IN ARRAY ARRAY['image_collections', 'images', 'search_sessions', 'search_queries',
                                    'user_preferences', 'usage_statistics'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', table_name);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', table_name);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
      USING (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
      WITH CHECK (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)$p$, table_name);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO %I', table_name, tenant_role);
  END LOOP;
  EXECUTE 'REVOKE ALL ON SCHEMA public FROM PUBLIC';
  EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', tenant_role);
  EXECUTE 'REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC';
  EXECUTE format('GRANT EXECUTE ON FUNCTION set_tenant_context(uuid, boolean), current_tenant_id() TO %I', tenant_role);
END $$;
