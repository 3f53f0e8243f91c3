-- One outbox for everything the platform hands to Redis after a commit:
-- catalog jobs (kind 'job': name is the job name, body its payload, id the
-- catalog's job id) and domain events (kind 'event': name is the event type,
-- body the envelope, id the event id). A writer inserts its rows in the
-- transaction that commits the change, so no job and no event exists before
-- that commit; after it, the writer publishes them and sets published_at.
-- A writer that dies or loses Redis in between leaves them unpublished, and
-- the event dispatcher's sweep publishes them (at least once: job ids make a
-- second add a no-op, consumers de-duplicate events on their id).
CREATE TABLE outbox (
  kind text NOT NULL CHECK (kind IN ('job', 'event')),
  id uuid NOT NULL,
  name text NOT NULL,
  tenant_id uuid,
  body jsonb NOT NULL,
  -- The writer's DEEPLENS_QUEUE_PREFIX: a sweep publishes only its own installation's rows
  -- (test runs share one platform database between many prefixes). NULL: any (rows moved here below).
  queue_prefix text,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  PRIMARY KEY (kind, id)
);
CREATE INDEX outbox_unpublished ON outbox (created_at) WHERE published_at IS NULL;
-- Published rows are pruned by age with the job records (shared/src/repositories/housekeeping.ts).
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- What the two former outboxes still held unpublished moves here; the rest is history.
INSERT INTO outbox (kind, id, name, tenant_id, body, created_at)
SELECT 'event', id, type, tenant_id, event, created_at
  FROM domain_event_outbox
 WHERE published_at IS NULL
ON CONFLICT DO NOTHING;

-- Quota events were published from their own rows: the envelope is built here as
-- services/usage-aggregator/src/steps/quota-events.ts builds it.
INSERT INTO outbox (kind, id, name, tenant_id, body, created_at)
SELECT 'event', q.id, e.type, q.tenant_id,
       jsonb_build_object(
         'type', e.type,
         'version', 1,
         'id', q.id,
         'occurredAt', to_char(q.emitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
         'tenantId', q.tenant_id,
         'data', jsonb_build_object(
           'limit', CASE q.limit_name WHEN 'api_calls' THEN 'apiCalls' WHEN 'storage_bytes' THEN 'storageBytes' ELSE 'collections' END,
           'threshold', CASE WHEN q.threshold >= 100 THEN 100 ELSE 80 END,
           'period', to_char(q.period, 'YYYY-MM'),
           'used', q.used,
           'limitValue', q.limit_value)),
       q.emitted_at
  FROM quota_events q
 CROSS JOIN LATERAL (SELECT CASE WHEN q.threshold >= 100 THEN 'quota.exceeded' ELSE 'quota.warning' END AS type) e
 WHERE q.published_at IS NULL
ON CONFLICT DO NOTHING;

-- quota_events stays the once-per-period record of a threshold crossed; publishing is the outbox's.
DROP INDEX quota_events_unpublished;
ALTER TABLE quota_events DROP COLUMN published_at;
DROP TABLE domain_event_outbox;

DO $$
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON outbox TO %I', current_setting('deeplens.platform_role'));
END $$;
