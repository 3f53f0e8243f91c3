-- Secrets sealed in the application (shared/src/crypto/sealed.ts): AES-256-GCM
-- with a random nonce and the owner bound in as authenticated data, so no key
-- ever travels to PostgreSQL and a sealed value copied onto another row does
-- not open. Rows written before this migration keep their pgcrypto ciphertext
-- in the old bytea column: readers open it in the application until
-- `keys rotate` re-seals it and clears that column. A row holds one form or
-- the other, never both.

-- The whole storage config (settings and secrets as one JSON), sealed for
-- [tenant id, 'storage', provider]. `settings` stays only for the masked view.
ALTER TABLE tenant_storage_configs
  ADD COLUMN sealed text,
  ADD CONSTRAINT tenant_storage_configs_one_secret_form CHECK (sealed IS NULL OR secrets IS NULL);
COMMENT ON COLUMN tenant_storage_configs.sealed IS 'v1.<key id>.<nonce>.<ciphertext>.<tag>: the whole config, sealed for [tenant_id, storage, provider]';
COMMENT ON COLUMN tenant_storage_configs.secrets IS 'legacy pgcrypto ciphertext of the secret fields; emptied by keys rotate';
COMMENT ON COLUMN tenant_storage_configs.key_id IS 'the key the sealed (or legacy) value was made with';

-- Webhook signing secrets, sealed for [subscriber id, 'webhook'].
ALTER TABLE webhook_subscribers
  ADD COLUMN sealed_secret text,
  ALTER COLUMN secret DROP NOT NULL,
  ADD CONSTRAINT webhook_subscribers_one_secret_form CHECK (num_nonnulls(secret, sealed_secret) = 1);
COMMENT ON COLUMN webhook_subscribers.sealed_secret IS 'v1.<key id>.<nonce>.<ciphertext>.<tag>: the signing secret, sealed for [id, webhook]';
COMMENT ON COLUMN webhook_subscribers.secret IS 'legacy pgcrypto ciphertext of the signing secret; emptied by keys rotate';

-- Answers kept for Idempotency-Key replays held the webhook signing secret in
-- clear. A secret is shown once: replays now answer it masked, so the ones
-- already stored are masked the same way.
UPDATE idempotency_keys
   SET response_body = jsonb_set(response_body, '{secret}', '"********"')
 WHERE jsonb_typeof(response_body) = 'object' AND response_body ? 'secret';
