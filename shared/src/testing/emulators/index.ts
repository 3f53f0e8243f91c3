/**
 * Stand-ins for the world outside the platform that tests of several services
 * need: storage providers (moto for S3 and MinIO, Azurite, Samba, a GCS
 * fixture), hostile servers, and listeners that count or echo what reaches them.
 */
export { DEV_ACCOUNT, DEV_KEY, startAzurite, type AzuriteServer } from './azurite.js';
export { startCountingListener, startRedirectingServer } from './counting-listener.js';
export { startEchoServer } from './echo-server.js';
export { startGcsFixture, type GcsFixture, type ServiceAccount } from './gcs-fixture.js';
export { startBrokenHttp, type BrokenHttpMode } from './hostile-http.js';
export { startHostileSmb, type HostileMode, type HostileSmbServer } from './hostile-smb.js';
export { startMoto, type MotoServer } from './moto.js';
export { SAMBA_USER, startSamba, type SambaServer } from './samba.js';
export { startSilentServer } from './silent-server.js';
