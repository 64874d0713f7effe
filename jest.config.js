// Jest runs in native ESM mode (node-seal 7 and @noble/curves 2 are ESM-only).
// ts-jest only strips types here (isolatedModules); `npm run typecheck` does the type checking.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 60_000,
  // One temporary folder per run (TMPDIR), removed at its end: no veilsum-* folders left behind.
  globalSetup: '<rootDir>/test/support/temp-root-setup.ts',
  globalTeardown: '<rootDir>/test/support/temp-root-teardown.ts',
  verbose: false,
};
