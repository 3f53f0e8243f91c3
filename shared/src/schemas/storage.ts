import { Type, type Static, type TSchema } from '@sinclair/typebox';

/**
 * Storage configurations per provider, with the seed document's fields.
 * The same schemas validate the HTTP body (through Fastify's ajv) and the
 * decrypted config a worker reads back. Secret fields are listed per provider:
 * they are encrypted at rest and masked in every answer.
 */

const text = (options: { maxLength?: number; description?: string } = {}) =>
  Type.String({
    minLength: 1,
    maxLength: options.maxLength ?? 1024,
    ...(options.description ? { description: options.description } : {}),
  });
const optionalText = (description?: string) => Type.Optional(text(description ? { description } : {}));
const secret = (maxLength = 4096) =>
  Type.String({ minLength: 1, maxLength, description: 'secret: stored encrypted, never shown' });

const azureBlobConfig = Type.Object(
  {
    connection_string: secret(),
    container: Type.String({ pattern: '^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$', description: 'container name' }),
    cdn_endpoint: optionalText('optional CDN base URL'),
  },
  { additionalProperties: false },
);

const awsS3Config = Type.Object(
  {
    access_key: secret(256),
    secret_key: secret(256),
    region: Type.String({ pattern: '^[a-z0-9-]{2,32}$' }),
    bucket: Type.String({ minLength: 3, maxLength: 63 }),
    cloudfront_domain: optionalText('optional CloudFront domain'),
    endpoint: optionalText('for S3-compatible services: their endpoint URL'),
    force_path_style: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const gcsConfig = Type.Object(
  {
    service_account_key: secret(16_384),
    bucket: Type.String({ minLength: 3, maxLength: 222 }),
    project_id: Type.String({ minLength: 1, maxLength: 64 }),
    cdn_domain: optionalText('optional CDN domain'),
    api_endpoint: optionalText('optional JSON API endpoint (private endpoints, emulators)'),
  },
  { additionalProperties: false },
);

export const minioConfig = Type.Object(
  {
    endpoint: text({ description: 'URL such as https://minio.company.com:9000' }),
    access_key: secret(256),
    secret_key: secret(256),
    bucket: Type.String({ minLength: 3, maxLength: 63 }),
    secure: Type.Optional(Type.Boolean()),
    region: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  },
  { additionalProperties: false },
);

const nfsConfig = Type.Object(
  {
    mount_path: Type.String({ minLength: 1, maxLength: 1024, pattern: '^/' }),
    share_path: optionalText('the export, for reference'),
    protocol: Type.Optional(Type.Literal('nfs')),
  },
  { additionalProperties: false },
);

const smbConfig = Type.Object(
  {
    share_path: Type.String({ minLength: 3, maxLength: 1024, pattern: '^(//|\\\\\\\\)[^/\\\\]+[/\\\\][^/\\\\]+' }),
    username: text({ maxLength: 256 }),
    password: secret(256),
    domain: Type.Optional(Type.String({ maxLength: 256 })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    mount_path: optionalText('where the share is mounted, for reference'),
    protocol: Type.Optional(Type.Literal('smb')),
  },
  { additionalProperties: false },
);

const storageConfigSchemas = {
  azure_blob: azureBlobConfig,
  aws_s3: awsS3Config,
  gcs: gcsConfig,
  minio: minioConfig,
  nfs: nfsConfig,
  smb: smbConfig,
} as const;

export type StorageProvider = keyof typeof storageConfigSchemas;
export const storageProviders = Object.keys(storageConfigSchemas) as StorageProvider[];
export type StorageConfigOf<P extends StorageProvider> = Static<(typeof storageConfigSchemas)[P]>;
export type AnyStorageConfig = { [P in StorageProvider]: { provider: P; config: StorageConfigOf<P> } }[StorageProvider];

const secretFields: { [P in StorageProvider]: ReadonlyArray<keyof StorageConfigOf<P> & string> } = {
  azure_blob: ['connection_string'],
  aws_s3: ['access_key', 'secret_key'],
  gcs: ['service_account_key'],
  minio: ['access_key', 'secret_key'],
  nfs: [],
  smb: ['password'],
};

export const MASK = '********';

/**
 * `{provider, config}` as the HTTP body takes it. ajv's `discriminator` picks
 * the branch by `provider`, so an error names the field of that provider's
 * config instead of "must match one schema".
 */
export const storageInputSchema = Type.Unsafe<AnyStorageConfig>({
  type: 'object',
  description: 'a storage provider and its configuration',
  required: ['provider', 'config'],
  discriminator: { propertyName: 'provider' },
  oneOf: storageProviders.map((provider) =>
    Type.Object(
      { provider: Type.Literal(provider), config: storageConfigSchemas[provider] as TSchema },
      { additionalProperties: false },
    ),
  ),
});

/** Splits a config into what may be shown and what must be encrypted. */
export function splitSecrets(provider: StorageProvider, config: Record<string, unknown>) {
  const secretNames = new Set<string>(secretFields[provider]);
  const settings: Record<string, unknown> = {};
  const secrets: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) (secretNames.has(key) ? secrets : settings)[key] = value;
  return { settings, secrets };
}

/** The config as answers show it: every secret field replaced by the mask. */
export function maskedConfig(provider: StorageProvider, settings: Record<string, unknown>) {
  const masked: Record<string, unknown> = { ...settings };
  for (const field of secretFields[provider]) masked[field] = MASK;
  return masked;
}
