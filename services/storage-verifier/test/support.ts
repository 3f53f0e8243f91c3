// The platform's processes and dumps moved to the test kit; this re-export serves verify-storage.e2e until it moves to test/e2e.
export { dumpPlatformDatabase, dumpRedis, startPlatform, type Platform } from '@deeplens/shared/testing';
