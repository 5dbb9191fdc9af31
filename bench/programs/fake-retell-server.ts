/**
 * The test suite's fake Retell API in a process of its own, so its CPU is not charged to the bridge.
 *
 * Env: RETELL_API_KEY (required), RETELL_DELAY_MS (answer delay, default 0), RETELL_CONCURRENCY_LIMIT
 * (what get-concurrency reports as the limit, default 20).
 * IPC: sends `{ type: 'ready', url }` once listening; answers `{ type: 'stats' }` with
 * `{ type: 'stats', registrations }`, the number of calls registered since start.
 */
import { FakeRetell } from '../../src/sandbox/fake-retell';

const apiKey = process.env.RETELL_API_KEY;
if (!apiKey) {
  process.stderr.write('fake-retell-server: RETELL_API_KEY is required\n');
  process.exit(2);
}

const fake = new FakeRetell(apiKey);
const delayMs = Number(process.env.RETELL_DELAY_MS ?? 0);
if (process.env.RETELL_CONCURRENCY_LIMIT) fake.concurrency = { current: 0, limit: Number(process.env.RETELL_CONCURRENCY_LIMIT) };
fake.behaviour = { kind: 'ok', ...(delayMs > 0 ? { delayMs } : {}) };

// The fake keeps every registration for the tests to inspect; here only the count matters, so the
// list is emptied once a second and the memory stays flat however long the benchmark runs.
let counted = 0;
const drain = () => {
  counted += fake.registrations.length;
  fake.registrations.length = 0;
  return counted;
};
setInterval(drain, 1000).unref();

process.on('message', (m: { type?: string }) => {
  if (m?.type === 'stats') process.send?.({ type: 'stats', registrations: drain() });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => void fake.stop().finally(() => process.exit(0)));

void fake.start().then(() => process.send?.({ type: 'ready', url: fake.url }));
