/**
 * The storage SDK clients, each built in one place from a tenant's config and
 * the guarded agents of the egress policy, for the verifier's probes and the
 * provisioner's backup writers alike. A subpath of its own
 * (`@deeplens/shared/storage-clients`): services that talk to no storage do
 * not load the SDKs.
 */
export { createAzureContainerClient } from './azure-client.js';
export { createGcsClient, DEFAULT_GCS_ENDPOINT, LIBRARY_TOKEN_URL, type GcsClient } from './gcs-client.js';
export { createMinioClient, createS3Client, minioTargetOf, s3TargetOf, type S3Target } from './s3-client.js';
export { egressRefusal, storageFailure } from './storage-errors.js';
