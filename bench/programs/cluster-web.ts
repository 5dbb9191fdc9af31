/**
 * Runs N copies of the web process (src/bin/web.ts) behind one port with Node's cluster module, all
 * sharing one Redis, configured by the same environment as a single web process.
 *
 * Env: WEB_PROCESSES (default 2), WEB_ENTRY (another checkout's src/bin/web.ts, default this one's),
 * plus everything src/bin/web.ts reads.
 * IPC: sends `{ type: 'ready', pids }` once every worker listens.
 */
import cluster from 'node:cluster';

if (cluster.isPrimary) {
  const n = Math.max(1, Number(process.env.WEB_PROCESSES ?? 2));
  const listening = new Set<number>();
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('listening', (worker) => {
    listening.add(worker.process.pid ?? 0);
    if (listening.size === n) process.send?.({ type: 'ready', pids: [...listening] });
  });
  cluster.on('exit', (worker, code) => {
    if (!stopping) {
      process.stderr.write(`cluster-web: worker ${worker.process.pid} exited with ${code}\n`);
      process.exit(1);
    }
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {});
    let left = workers.length;
    if (left === 0) process.exit(0);
    for (const w of workers) {
      w?.process.once('exit', () => --left === 0 && process.exit(0));
      w?.process.kill('SIGTERM');
    }
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
} else {
  require(process.env.WEB_ENTRY ?? '../../src/bin/web');
}
