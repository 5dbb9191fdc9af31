import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { loadConfig } from '../../src/config';
import type { Metrics } from '../../src/observability/metrics';
import { FakeRetell } from '../../src/sandbox/fake-retell';
import { FakeTwilioApi } from '../../src/sandbox/fake-twilio';
import { startWeb, type RunningWeb } from '../../src/web/start';
import { startWorker, type RunningWorker } from '../../src/worker/start';
import { RETELL_KEY, testEnv, type TestBridge } from '../support/bridge';
import { liveCall, waitFor } from '../support/calls';
import { EVENTS_ENV } from '../support/events';
import { memoryLogger } from '../support/logs';
import { freePort } from '../support/ports';
import { selectors, variableSelectors, type Selector } from '../support/promql';
import { deletePrefix, uniquePrefix, waitReady } from '../support/redis';
import { functionCallBody, postRetell } from '../support/retell-signing';
import { ACCOUNT_SID, AUTH_TOKEN } from '../support/twilio-signing';

const ROOT = path.join(__dirname, '../..');
const DASHBOARD = 'deploy/grafana/bridge-dashboard.json';
const ALERTS = 'deploy/prometheus/alerts.yml';
const ALERT_TESTS = 'deploy/prometheus/alerts.test.yml';
/** Series Prometheus makes itself, not read from the bridge. */
const PROMETHEUS_OWN = new Set(['up']);
/** Labels Prometheus adds to every series it scrapes. */
const TARGET_LABELS = ['job', 'instance'];

interface Panel {
  type: string;
  id: number;
  title: string;
  description?: string;
  datasource?: { type: string; uid: string };
  fieldConfig?: { defaults: { unit?: string } };
  targets?: { expr: string; datasource?: { uid: string } }[];
}
interface Dashboard {
  __inputs: { name: string; type: string; pluginId: string }[];
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string }; current?: { value: unknown } }[] };
  uid: string;
  title: string;
}
interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const dashboard = JSON.parse(read(DASHBOARD)) as Dashboard;
const rules = (parseYaml(read(ALERTS)) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const panels = dashboard.panels.filter((p) => p.type !== 'row');

/** Every PromQL expression of the dashboard (panels and variables) and the rules, with where it is. */
function expressions(): { where: string; expr: string; selectors: Selector[] }[] {
  return [
    ...panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr, selectors: selectors(t.expr) }))),
    ...dashboard.templating.list
      .filter((v) => v.type === 'query')
      .map((v) => {
        const query = typeof v.query === 'string' ? v.query : v.query.query;
        return { where: `variable $${v.name}`, expr: query, selectors: variableSelectors(query) };
      }),
    ...rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr, selectors: selectors(r.expr) })),
  ];
}

/** Runs promtool, failing with how to get it when it is not installed (CI installs Debian's package). */
function promtool(...args: string[]): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8' });
  if ((run.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error("promtool is not installed: install Debian's `prometheus` package (apt-get install prometheus; .ci/run does), which provides /usr/bin/promtool");
  }
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('the PromQL scanner the checks below rely on', () => {
  it('when an expression groups, ranges, compares and calls functions, then only its series are read, with their labels', () => {
    const expr =
      'histogram_quantile(0.99, sum by (le, route) (rate(bridge_webhook_duration_seconds_bucket{job=~"$job", route="/twilio/voice"}[$__rate_interval]))) > 1e3 ' +
      'and on() sum without (instance) (increase(bridge_jobs_total{result=~"fail\\"ed|x"}[15m] offset 5m)) / ignoring(name) group_left() up == bool 0 or vector(1)';
    expect(selectors(expr)).toEqual([
      { metric: 'bridge_webhook_duration_seconds_bucket', labels: ['job', 'route'] },
      { metric: 'bridge_jobs_total', labels: ['result'] },
      { metric: 'up', labels: [] },
    ]);
    expect(variableSelectors('label_values(bridge_redis_up{job=~"$job"}, instance)')).toEqual([{ metric: 'bridge_redis_up', labels: ['job'] }]);
  });
});

describe('the Grafana dashboard (deploy/grafana/bridge-dashboard.json)', () => {
  it('when imported, then it asks for a Prometheus data source, and every panel and variable queries the one chosen', () => {
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
    const variable = dashboard.templating.list.find((v) => v.type === 'datasource');
    expect(variable).toMatchObject({ name: 'datasource', query: 'prometheus', current: { value: '${DS_PROMETHEUS}' } });
    const elsewhere = read(DASHBOARD).match(/\$\{DS_PROMETHEUS\}/g) ?? [];
    expect(elsewhere.length).toBe(2); // the variable's current text and value; everything else goes through ${datasource}
    for (const p of panels) {
      expect({ panel: p.title, ds: p.datasource?.uid, targets: (p.targets ?? []).map((t) => t.datasource?.uid) }).toEqual({
        panel: p.title,
        ds: '${datasource}',
        targets: (p.targets ?? []).map(() => '${datasource}'),
      });
    }
  });

  it('when read, then it has rows over each concern, and every panel has a unique id, a description, a unit and a query', () => {
    const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title);
    expect(rows).toEqual(
      expect.arrayContaining(['Overview', 'Calls (web)', 'Latency', 'Retell registration', 'Function calls and jobs', 'Queues', 'Twilio REST API (worker)', 'Events', 'Campaigns', 'SMS and recording', 'Processes']),
    );
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect({ panel: p.title, description: (p.description ?? '').length > 20, unit: Boolean(p.fieldConfig?.defaults.unit), queries: (p.targets ?? []).length > 0 }).toEqual({
        panel: p.title,
        description: true,
        unit: true,
        queries: true,
      });
    }
  });

  it('when its queries are parsed by promtool (Grafana variables filled in), then every one is valid PromQL', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bridge-dashboard-'));
    try {
      const fill = (expr: string) => expr.replace(/\$__rate_interval|\$__interval/g, '1m').replace(/\$job|\$instance/g, '.*');
      const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
      const file = path.join(dir, 'dashboard-queries.yml');
      writeFileSync(file, stringifyYaml({ groups: [{ name: 'dashboard', rules: queries.map((expr, i) => ({ record: `dashboard_query_${i}`, expr: fill(expr) })) }] }));
      const run = promtool('check', 'rules', file);
      expect({ status: run.status, output: run.output }).toEqual({ status: 0, output: expect.stringContaining(`SUCCESS: ${queries.length} rules found`) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the Prometheus alert rules (deploy/prometheus/alerts.yml)', () => {
  it('when checked by promtool, then they are valid', () => {
    const run = promtool('check', 'rules', ALERTS);
    expect({ status: run.status, output: run.output }).toEqual({ status: 0, output: expect.stringContaining(`SUCCESS: ${rules.length} rules found`) });
  });

  it("when their unit tests run in promtool, then each passes", () => {
    const run = promtool('test', 'rules', ALERT_TESTS);
    expect({ status: run.status, output: run.output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('when listed, then they cover fallbacks, registrations, failed jobs, the event backlog, stalled campaigns, a process down and Redis', () => {
    const byName = new Map(rules.map((r) => [r.alert, r.expr]));
    expect(byName.get('BridgeFallbackRateHigh')).toContain('bridge_fallbacks_total');
    expect(byName.get('BridgeRetellRegistrationsFailing')).toContain('bridge_retell_registration_duration_seconds_count{result!="ok"}');
    expect(byName.get('BridgeJobsFailed')).toContain('bridge_jobs_total{result="failed"}');
    expect(byName.get('BridgeEventBacklog')).toContain('bridge_events_backlog');
    expect(byName.get('BridgeCampaignStalled')).toMatch(/bridge_campaign_tasks_due.*bridge_campaign_dials_total/);
    expect(byName.get('BridgeDown')).toContain('up{');
    expect(byName.get('BridgeRedisUnreachable')).toContain('bridge_redis_up == 0');
  });

  it('when an alert fires, then it carries a severity, a summary, a description and a runbook that is a section of docs/operating.md', () => {
    const slug = (h: string) => h.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-');
    const headings = new Set([...read('docs/operating.md').matchAll(/^#{1,4} (.*)$/gm)].map((m) => slug(m[1]!)));
    for (const r of rules) {
      expect({ alert: r.alert, severity: r.labels.severity, summary: Boolean(r.annotations.summary), description: (r.annotations.description ?? '').length > 40 }).toEqual({
        alert: r.alert,
        severity: expect.stringMatching(/^(critical|warning)$/),
        summary: true,
        description: true,
      });
      expect({ alert: r.alert, runbook: r.annotations.runbook }).toEqual({ alert: r.alert, runbook: `docs/operating.md#${r.alert.toLowerCase()}` });
      expect({ alert: r.alert, section: headings.has(r.alert.toLowerCase()) }).toEqual({ alert: r.alert, section: true });
    }
  });

  it('when their unit tests are read, then every alert is shown firing at least once', () => {
    const tests = (parseYaml(read(ALERT_TESTS)) as { tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[] }).tests;
    const fired = new Set(tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    expect(rules.map((r) => r.alert).filter((a) => !fired.has(a))).toEqual([]);
  });
});

/** What a process's /metrics serves: each sample name with the labels it may carry once scraped. */
async function served(url: string, metrics: Metrics): Promise<{ text: string; samples: Map<string, Set<string>> }> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  // Label names come from the registry the endpoint serves: a labelled series appears only once counted.
  const labelNames = new Map(metrics.prometheus.getMetricsAsArray().map((m) => [m.name, (m as unknown as { labelNames?: string[] }).labelNames ?? []]));
  const samples = new Map<string, Set<string>>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const labels = [...(labelNames.get(name!) ?? []), ...TARGET_LABELS];
    if (type === 'histogram') {
      samples.set(`${name}_bucket`, new Set([...labels, 'le']));
      samples.set(`${name}_count`, new Set(labels));
      samples.set(`${name}_sum`, new Set(labels));
    } else if (type === 'summary') {
      samples.set(name!, new Set([...labels, 'quantile']));
      samples.set(`${name}_count`, new Set(labels));
      samples.set(`${name}_sum`, new Set(labels));
    } else {
      samples.set(name!, new Set(labels));
    }
  }
  return { text, samples };
}

describe('the metrics the dashboard and the alerts name, against a real web and worker', () => {
  const prefix = uniquePrefix('monitoring');
  let retell: FakeRetell;
  let twilio: FakeTwilioApi;
  let web: RunningWeb;
  let worker: RunningWorker;
  let workerUrl: string;

  beforeAll(async () => {
    retell = await new FakeRetell(RETELL_KEY).start();
    twilio = await new FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN).start();
    const port = await freePort();
    workerUrl = `http://127.0.0.1:${port}`;
    const config = loadConfig(
      testEnv({
        ...EVENTS_ENV,
        RETELL_BASE_URL: retell.url,
        TWILIO_API_BASE_URL: twilio.url,
        REDIS_PREFIX: prefix,
        TRANSFER_DESTINATIONS: '{"sales":"+14155550101"}',
        WORKER_METRICS_PORT: String(port),
        LOG_LEVEL: 'warn',
      }),
    );
    // As production builds them: each process with its own registry, default process metrics included.
    web = await startWeb({ config, logger: memoryLogger('warn').logger, port: 0, host: '127.0.0.1' });
    twilio.callee.deliverTo = web.url;
    await waitReady(web.container.redis);
    worker = startWorker({ config, logger: memoryLogger('warn').logger });
    await waitFor('the worker to serve /metrics', async () => (await fetch(`${workerUrl}/healthz`).catch(() => undefined))?.ok === true, 20_000);
  });

  afterAll(async () => {
    web.server.closeAllConnections();
    await Promise.all([web.close(), worker.close(5000)]);
    await retell.stop();
    await twilio.stop();
    await deletePrefix(prefix);
  });

  it('when a call is answered and transferred, then every series named in the dashboard and the rules is served by the web or the worker, with the labels used', async () => {
    // One call through both processes, so the labelled series of the path a call takes are counted too.
    const bridge = { url: web.url, retell, twilio } as unknown as TestBridge;
    const { callSid, callId } = await liveCall(bridge);
    const res = await postRetell(web.url, '/retell/functions/transfer_call', functionCallBody('transfer_call', callId, { destination: 'sales' }));
    expect(res.status).toBe(200);
    await waitFor('the worker to transfer the call', async () => twilio.callUpdates(callSid).length === 1, 20_000);
    await waitFor('the worker to count the job', async () => /^bridge_jobs_total\{name="transfer",result="completed"\} 1$/m.test(await (await fetch(`${workerUrl}/metrics`)).text()), 10_000);

    const fromWeb = await served(web.url, web.container.metrics);
    const fromWorker = await served(workerUrl, worker.metrics);
    expect(fromWeb.text).toMatch(/^bridge_voice_answers_total\{outcome="registered"\} 1$/m);
    expect(fromWorker.text).toMatch(/^bridge_twilio_request_duration_seconds_count\{resource="Calls",method="POST",code="200"\} 1$/m);

    const missing: string[] = [];
    const unknownLabels: string[] = [];
    const named = expressions();
    for (const { where, selectors: found } of named) {
      for (const { metric, labels } of found) {
        if (PROMETHEUS_OWN.has(metric)) continue;
        const known = fromWeb.samples.get(metric) ?? fromWorker.samples.get(metric);
        if (!known) {
          missing.push(`${metric} (${where})`);
          continue;
        }
        for (const label of labels) if (!known.has(label)) unknownLabels.push(`${metric}{${label}} (${where})`);
      }
    }
    expect({ missing, unknownLabels }).toEqual({ missing: [], unknownLabels: [] });
    // The checks above saw the expressions' series: the scanner found them all.
    const names = new Set(named.flatMap((e) => e.selectors.map((s) => s.metric)));
    expect(names.size).toBeGreaterThan(25);
    for (const metric of ['bridge_webhook_duration_seconds_bucket', 'bridge_retell_registration_duration_seconds_count', 'bridge_events_backlog', 'bridge_queue_jobs', 'process_cpu_seconds_total', 'bridge_campaign_dials_total']) {
      expect({ metric, named: names.has(metric) }).toEqual({ metric, named: true });
    }
  });

  it('when each process is scraped, then it serves the series of its own side: the queue depths from the web, the event backlog and Twilio timings from the worker, Redis and process figures from both', async () => {
    const fromWeb = await served(web.url, web.container.metrics);
    const fromWorker = await served(workerUrl, worker.metrics);
    for (const metric of ['bridge_queue_jobs', 'bridge_webhook_duration_seconds_bucket', 'bridge_redis_up', 'process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds']) {
      expect({ metric, web: fromWeb.samples.has(metric) }).toEqual({ metric, web: true });
    }
    for (const metric of ['bridge_events_backlog', 'bridge_jobs_total', 'bridge_twilio_request_duration_seconds_bucket', 'bridge_redis_up', 'process_cpu_seconds_total', 'nodejs_heap_size_used_bytes']) {
      expect({ metric, worker: fromWorker.samples.has(metric) }).toEqual({ metric, worker: true });
    }
    expect(fromWorker.text).toMatch(/^bridge_events_backlog\{stage="stream"\} \d+$/m);
  });

  it('when the metrics are listed in docs/operating.md, then every bridge_ series either process serves is there', async () => {
    const docs = read('docs/operating.md');
    const names = new Set([...(await served(web.url, web.container.metrics)).text.matchAll(/^# TYPE (bridge_\w+)/gm), ...(await served(workerUrl, worker.metrics)).text.matchAll(/^# TYPE (bridge_\w+)/gm)].map((m) => m[1]!));
    expect([...names].filter((name) => !docs.includes(`\`${name}`))).toEqual([]);
  });

  it('when no campaign has run, then both processes serve the campaign series at 0, so the stalled-campaign alert can be evaluated', async () => {
    for (const { text } of [await served(web.url, web.container.metrics), await served(workerUrl, worker.metrics)]) {
      expect(text).toMatch(/^# TYPE bridge_campaign_tasks_due gauge$/m);
      expect(text).toMatch(/^bridge_campaign_tasks_due 0$/m);
      expect(text).toMatch(/^# TYPE bridge_campaign_dials_total counter$/m);
      for (const result of ['placed', 'refused', 'skipped_dnc', 'failed']) expect(text).toContain(`bridge_campaign_dials_total{result="${result}"} 0\n`);
    }
  });
});
