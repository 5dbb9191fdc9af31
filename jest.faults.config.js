/**
 * The fault-injection suite (`npm run test:faults`): real redis-server processes on free ports, real web
 * processes, faults injected with signals and a TCP proxy. One file at a time, so the cases do not
 * compete for the CPU and their timing bounds stay meaningful.
 */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests/faults'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
  maxWorkers: 1,
  testTimeout: 60000,
  slowTestThreshold: 30,
};
