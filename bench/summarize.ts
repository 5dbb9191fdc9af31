/**
 * Medians over several `npm run bench -- --json FILE` runs, as Markdown tables:
 *
 *   for i in 1 2 3; do npm run bench -- --json /tmp/bench-$i.json; done
 *   node -r tsx/cjs bench/summarize.ts /tmp/bench-*.json
 */
import { readFileSync } from 'node:fs';
import type { Measurement } from './lib/measure';
import { fmt, median, renderTable, type Section } from './lib/report';
import type { Summary } from './scenarios/voice';

interface RunFile {
  machine: string;
  sections: Section[];
}

type VoiceData = { summary: Record<string, Record<string, Summary & { ratio?: number; pairedRatio?: number }>>; runs: Measurement[] };

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: node -r tsx/cjs bench/summarize.ts RUN.json...\n');
  process.exit(2);
}
const runs = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as RunFile);
const section = (run: RunFile, startsWith: string) => run.sections.find((s) => s.title.startsWith(startsWith));
const out: string[] = [`Medians over ${runs.length} runs (${files.join(', ')}).`, ''];

const voice = runs.map((r) => section(r, 'New calls')?.data as VoiceData | undefined).filter((d): d is VoiceData => !!d);
if (voice.length) {
  const rows: string[][] = [];
  const concurrencies = Object.keys(voice[0]!.summary);
  for (const c of concurrencies) {
    const names = Object.keys(voice[0]!.summary[c]!);
    const bridges = names.filter((n) => n !== 'naive');
    const cell = (name: string, f: (s: Summary & { ratio?: number }) => number) =>
      median(voice.map((v) => v.summary[c]?.[name]).filter((s) => s !== undefined).map(f));
    for (const name of [...bridges, 'naive']) {
      rows.push([
        c,
        name,
        fmt.int(cell(name, (s) => s.rps)),
        fmt.ms(cell(name, (s) => s.p50)),
        fmt.ms(cell(name, (s) => s.p99)),
        fmt.us(cell(name, (s) => s.cpuUs)),
        name === 'naive' ? '' : fmt.x(cell(name, (s) => s.ratio ?? NaN)),
        name === 'naive' ? '' : fmt.x(cell(name, (s) => s.cpuUs) / cell('naive', (s) => s.cpuUs)),
      ]);
    }
  }
  out.push('### New calls', '', renderTable(['conns', 'bridge', 'req/s', 'p50 ms', 'p99 ms', 'web CPU/req', 'req/s ÷ naive', 'CPU/req ÷ naive'], rows), '');
  const perRun = voice.map((v) => concurrencies.map((c) => `c=${c} ${fmt.x(v.summary[c]?.bridge?.ratio ?? NaN)}`).join(', '));
  out.push(`- bridge ÷ naive throughput by run: ${perRun.map((r, i) => `run ${i + 1}: ${r}`).join('; ')}`);
  const peak = (name: string) => median(voice.map((v) => Math.max(...v.runs.filter((m) => m.target === name).map((m) => m.peakRss))));
  out.push(`- peak RSS under load (VmHWM): bridge ${fmt.mb(peak('bridge'))}, naive ${fmt.mb(peak('naive'))}`, '');
}

const dups = runs.map((r) => section(r, 'Duplicate path')?.data as { runs: Measurement[] } | undefined).filter((d) => !!d);
if (dups.length) {
  const all = dups.flatMap((d) => d!.runs);
  const rows: string[][] = [];
  for (const c of [...new Set(all.map((m) => m.connections))]) {
    for (const name of [...new Set(all.map((m) => m.target))]) {
      const perRun = dups.map((d) => d!.runs.filter((m) => m.target === name && m.connections === c));
      const med = (f: (m: Measurement) => number) => median(perRun.map((ms) => median(ms.map(f))));
      const repeats = all.filter((m) => m.target === name && m.connections === c).reduce((a, m) => a + m.load.requests, 0);
      const registered = all.filter((m) => m.target === name && m.connections === c).reduce((a, m) => a + m.registrations, 0);
      rows.push([String(c), name, fmt.int(med((m) => m.load.rps)), fmt.ms(med((m) => m.load.p50)), fmt.ms(med((m) => m.load.p99)), fmt.us(med((m) => m.webCpuPerRequestUs)), `${fmt.int(registered)} for ${fmt.int(repeats)}`]);
    }
  }
  out.push('### Duplicate path', '', renderTable(['conns', 'bridge', 'req/s', 'p50 ms', 'p99 ms', 'web CPU/req', 'Retell registrations by the repeats (all runs)'], rows), '');
}

const scale = runs.map((r) => section(r, 'Scale-out')?.data as { gain: number; runs: Measurement[] } | undefined).filter((d) => !!d);
if (scale.length) {
  const rows: string[][] = [];
  for (const name of ['cluster-1', 'cluster-2']) {
    const perRun = scale.map((d) => d!.runs.filter((m) => m.target === name));
    const med = (f: (m: Measurement) => number) => median(perRun.map((ms) => median(ms.map(f))));
    rows.push([
      name === 'cluster-1' ? '1 web process' : '2 web processes',
      fmt.int(med((m) => m.load.rps)),
      fmt.ms(med((m) => m.load.p99)),
      fmt.us(med((m) => m.webCpuPerRequestUs)),
      med((m) => m.cores.web).toFixed(2),
      med((m) => m.cores.load + m.cores.retell + m.cores.redis).toFixed(2),
      med((m) => m.cores.machine).toFixed(2),
    ]);
  }
  out.push('### Scale-out', '', renderTable(['web', 'req/s', 'p99 ms', 'web CPU/req', 'web cores', 'helper cores', 'machine cores'], rows), '');
  out.push(`- 2 ÷ 1 by run: ${scale.map((d) => fmt.x(d!.gain)).join(', ')}; median ${fmt.x(median(scale.map((d) => d!.gain)))}`, '');
}

process.stdout.write(`${out.join('\n')}\n`);
