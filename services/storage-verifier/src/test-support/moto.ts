// The emulators moved to the test kit; this re-export serves verify-storage.e2e until it moves to test/e2e.
export { startMoto, type MotoServer } from '@deeplens/shared/testing';
