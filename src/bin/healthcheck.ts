// The Docker HEALTHCHECK: exits 0 when this container's process answers GET /healthz on 127.0.0.1, at
// PORT (the web process) or at WORKER_METRICS_PORT (the worker, when it serves one); 1 otherwise.
import { parseSettings, processEnv } from '../config';

const TIMEOUT_MS = 3000;

async function answers(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    return res.status === 200;
  } catch {
    return false;
  }
}

async function main(): Promise<number> {
  const { PORT, WORKER_METRICS_PORT } = parseSettings(processEnv(), ['PORT', 'WORKER_METRICS_PORT']);
  const ports = [PORT, ...(WORKER_METRICS_PORT ? [WORKER_METRICS_PORT] : [])];
  const results = await Promise.all(ports.map(answers));
  if (results.some(Boolean)) return 0;
  process.stderr.write(`unhealthy: nothing answered GET /healthz on 127.0.0.1 port ${ports.join(' or ')}\n`);
  return 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`unhealthy: ${err.message}\n`);
    process.exit(1);
  },
);
