-- Domain events of the provisioner and the storage verifier: inserted in the
-- transaction that commits the fact, put on the Redis stream after the commit
-- and marked published. A publisher that dies in between leaves the row
-- unpublished; the event dispatcher publishes such rows after a grace period
-- (at least once: consumers de-duplicate on the event id, which is stable).
CREATE TABLE domain_event_outbox (
  id uuid PRIMARY KEY,
  type text NOT NULL,
  tenant_id uuid,
  event jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
CREATE INDEX domain_event_outbox_unpublished ON domain_event_outbox (created_at) WHERE published_at IS NULL;

-- Webhook subscribers. The signing secret is encrypted like storage secrets
-- (pgp_sym_encrypt under the keyring's current key, key id beside it) and
-- shown once, in the answer that creates the subscriber.
CREATE TABLE webhook_subscribers (
  id uuid PRIMARY KEY,
  url text NOT NULL,
  description text,
  -- Empty: every event type.
  event_types text[] NOT NULL DEFAULT '{}',
  secret bytea NOT NULL,
  key_id text NOT NULL,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz
);
CREATE INDEX webhook_subscribers_active ON webhook_subscribers (created_at) WHERE active;

-- Events the dispatcher has fanned out, so each webhook.deliver job carries ids only.
CREATE TABLE webhook_events (
  id uuid PRIMARY KEY,
  type text NOT NULL,
  body jsonb NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_events_received ON webhook_events (received_at);

-- Every delivery attempt: outcome, status code, duration, error. Never a secret or a signature.
CREATE TABLE webhook_deliveries (
  id bigserial PRIMARY KEY,
  subscriber_id uuid NOT NULL REFERENCES webhook_subscribers (id),
  event_id uuid NOT NULL REFERENCES webhook_events (id),
  event_type text NOT NULL,
  attempt integer NOT NULL CHECK (attempt >= 1),
  outcome text NOT NULL CHECK (outcome IN ('delivered', 'failed')),
  status_code integer,
  duration_ms integer NOT NULL,
  error text,
  attempted_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (subscriber_id, event_id, attempt)
);
CREATE INDEX webhook_deliveries_by_subscriber ON webhook_deliveries (subscriber_id, attempted_at DESC);

DO $$
DECLARE
  platform_role text := current_setting('deeplens.platform_role');
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON domain_event_outbox, webhook_subscribers, webhook_events TO %I', platform_role);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON webhook_deliveries TO %I', platform_role);
  EXECUTE format('GRANT USAGE ON SEQUENCE webhook_deliveries_id_seq TO %I', platform_role);
END $$;
