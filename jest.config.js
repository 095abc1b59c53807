/**
 * Jest in native ESM mode (run with NODE_OPTIONS=--experimental-vm-modules), as two projects:
 * `tcp` runs every spec; `websocket` runs the messaging specs again with every user on the
 * WebSocket transport (spec/helpers/transport.ts).
 */
const common = {
  testEnvironment: 'node',
  roots: ['<rootDir>/spec'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, isolatedModules: true }] },
};

/** Specs whose users come from spec/helpers (makeUser, the reliability harness). */
const messagingSpecs = [
  'user/mcuser',
  'user/transports',
  'user/conversation',
  'user/reconnect',
  'user/receive-path',
  'user/unlimited',
  'user/login-options',
  'user/server-grade',
  'user/json',
  'user/cancel-dispose',
  'rest/delivery',
  'emulator/online',
  'reliability/harness',
  'reliability/lifecycle',
  'reliability/network-faults',
  'reliability/secrets',
].map((name) => `<rootDir>/spec/${name}.spec.ts`);

export default {
  testTimeout: 30000,
  projects: [
    { ...common, displayName: 'tcp', testMatch: ['**/*.spec.ts'] },
    { ...common, displayName: 'websocket', testMatch: messagingSpecs, globals: { MIMC_TEST_TRANSPORT: 'websocket' } },
  ],
};
