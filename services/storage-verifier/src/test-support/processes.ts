// The process and port helpers moved to the test kit; this re-export serves verify-storage.e2e until it moves to test/e2e.
export { freePort, makeTempDir } from '@deeplens/shared/testing';
