/**
 * The files written from the settings' schema (src/config/): .env.example, docs/configuration.md, and the
 * env lists of app.json (Heroku) and render.yaml (Render). Pure: given what the files hold now, it says
 * what they should hold; scripts/settings.ts writes them or checks them (`npm run settings [-- --check]`).
 *
 * Everything comes from each setting's metadata (`setting()` in src/config/parse.ts; a text it leaves out
 * is its description, see `filledIn`): the comment and placeholder of .env.example, the row of the docs'
 * table, and `deploy`, which says where the platforms take the setting from. Of app.json and render.yaml only the env lists are written; the rest of those
 * files (services, plans, commands, comments) is kept as it is.
 */
import { parse as parseYaml, parseDocument, isMap, isSeq, type YAMLMap, type YAMLSeq } from 'yaml';
import { CONCERNS } from '../src/config';
import { defaultOf, filledIn, metaOf, type Concern, type FilledMeta, type SettingMeta } from '../src/config/parse';

/** One setting, as the files see it. */
export interface Entry {
  key: string;
  concern: Concern;
  /** Its metadata, with the texts it leaves to the description filled in. */
  meta: FilledMeta;
  /** Its default as written in the environment ('' for an empty list), or undefined. */
  fallback: string | undefined;
  /** Whether its default is a number (shown plain in the docs, not as code). */
  numeric: boolean;
  /** Whether the bridge refuses to start without it. */
  required: boolean;
}

/** Every setting, concern by concern, in the order of CONCERNS and of each concern's file. */
export function entries(): Entry[] {
  return CONCERNS.flatMap((concern: Concern) =>
    Object.entries(concern.settings).map(([key, schema]) => {
      const meta = metaOf(schema);
      for (const field of ['description', 'example', 'deploy'] as const) {
        if (meta[field] === undefined) throw new Error(`${key} has no ${field} in its metadata: declare it with setting() in its concern's file of src/config/`);
      }
      const fallback = defaultOf(schema);
      return {
        key,
        concern,
        meta: filledIn(meta as SettingMeta & Required<Pick<SettingMeta, 'example' | 'deploy'>>),
        fallback: fallback === undefined ? undefined : String(fallback),
        numeric: typeof fallback === 'number',
        required: !schema.safeParse(undefined).success,
      };
    }),
  );
}

/** `text` in lines of at most `width` characters (a longer word stays whole), each starting with `prefix`; a newline in `text` starts a new line. */
function wrap(text: string, width: number, prefix: string): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      if (line && prefix.length + line.length + 1 + word.length > width) {
        lines.push(prefix + line);
        line = word;
      } else {
        line = line ? `${line} ${word}` : word;
      }
    }
    lines.push(prefix + line);
  }
  return lines;
}

/** The widest a comment line of the written files may be. */
const WIDTH = 112;
/** The widest a line of render.yaml may be with a comment after its value (longer, the comment goes above it). */
const INLINE_WIDTH = 120;

// ---- .env.example

const ENV_EXAMPLE_HEADER = `# Copy to .env (or set these in your platform's settings) and replace the placeholders: the bridge refuses
# to start with them. Empty values count as unset. Without any Twilio or Retell setting, npm run dev runs
# the local sandbox instead: to try it, do not copy this file (or empty those settings in the copy).
# npm start and npm run worker read the environment only, not this file.`;

/** What .env.example sets a setting to: its placeholder, else its default, else nothing. */
export function envExampleValue(entry: Entry): string {
  if (entry.meta.dotenv === false) throw new Error(`${entry.key} is not in .env.example`);
  return entry.meta.dotenv.value ?? entry.fallback ?? '';
}

export function renderEnvExample(list: readonly Entry[] = entries()): string {
  const blocks: string[] = [ENV_EXAMPLE_HEADER];
  for (const concern of CONCERNS) {
    const lines: string[] = [];
    for (const entry of list.filter((e) => e.concern === concern)) {
      const dotenv = entry.meta.dotenv;
      if (dotenv === false) continue;
      if (dotenv.paragraph && lines.length) lines.push('');
      if (dotenv.comment) lines.push(...wrap(dotenv.comment, WIDTH, '# '));
      const value = envExampleValue(entry);
      if (/[\n\r]/.test(value)) throw new Error(`${entry.key}: a value of .env.example must fit on one line`);
      lines.push(`${entry.key}=${value}`);
    }
    if (lines.length) blocks.push(lines.join('\n'));
  }
  return `${blocks.join('\n\n')}\n`;
}

// ---- docs/configuration.md

const DOCS_INTRO = `Read once at start-up. Bad settings stop the process with every problem at once, one line each, naming the
variable, what is wrong and an example; the placeholders of [\`.env.example\`](../.env.example) are refused. Every
setting is in \`.env.example\` with a comment.`;

/** The default column: what the metadata says, else the default, "required", "empty" or "none". */
function defaultCell(entry: Entry, docs: { default?: string }): string {
  if (docs.default !== undefined) return docs.default;
  if (entry.fallback === '') return 'empty';
  if (entry.fallback !== undefined) return entry.numeric ? entry.fallback : `\`${entry.fallback}\``;
  return entry.required ? 'required' : 'none';
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

export function renderDocs(list: readonly Entry[] = entries()): string {
  const out = [
    '# Configuration',
    '',
    '<!-- Written by `npm run settings` from the settings in src/config/: change them there, then run it. -->',
    '',
    DOCS_INTRO,
  ];
  for (const concern of CONCERNS) {
    const rows: Array<{ keys: string[]; fallback: string; meaning: string }> = [];
    for (const entry of list.filter((e) => e.concern === concern)) {
      const docs = entry.meta.docs;
      if (docs === 'with previous') {
        const row = rows.at(-1);
        if (!row) throw new Error(`${entry.key} shares the row of the setting before it, but it is the first of its concern`);
        row.keys.push(entry.key);
        continue;
      }
      rows.push({ keys: [entry.key], fallback: defaultCell(entry, docs), meaning: docs.meaning });
    }
    out.push('', `## ${concern.title}`, '', '| variable | default | meaning |', '|---|---|---|');
    for (const row of rows) out.push(`| ${row.keys.map((k) => `\`${k}\``).join(', ')} | ${cell(row.fallback)} | ${cell(row.meaning)} |`);
  }
  return `${out.join('\n')}\n`;
}

// ---- app.json

type AppEnv = Record<string, { description: string; value?: string; generator?: 'secret'; required: boolean }>;

/** app.json's env: what Heroku asks for, generates or sets when the app is created. */
export function appJsonEnv(list: readonly Entry[] = entries()): AppEnv {
  const env: AppEnv = {};
  for (const { key, meta, fallback } of list) {
    const deploy = meta.deploy;
    if (deploy.how === 'ask') env[key] = { description: deploy.heroku, required: true };
    if (deploy.how === 'generate') env[key] = { description: deploy.heroku, generator: 'secret', required: false };
    if (deploy.how === 'optional') env[key] = { description: deploy.heroku, required: false };
    if (deploy.how === 'group') {
      const value = deploy.herokuValue ?? deploy.value ?? fallback;
      if (!value) throw new Error(`${key} is in the group but has neither a default nor a deploy value`);
      env[key] = { description: deploy.heroku, value, required: deploy.herokuRequired ?? false };
    }
  }
  return env;
}

/** The span of the value of the top-level `key` in the JSON text `json`. */
function topLevelValueSpan(json: string, key: string): [number, number] {
  let depth = 0;
  let lastString: { text: string; end: number } | undefined;
  let start: number | undefined;
  for (let i = 0; i < json.length; i++) {
    const c = json[i]!;
    if (c === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      lastString = { text: JSON.parse(json.slice(i, j + 1)) as string, end: j + 1 };
      i = j;
      continue;
    }
    if (c === ':' && depth === 1 && lastString?.text === key && start === undefined) {
      start = i + 1;
      while (/\s/.test(json[start]!)) start++;
      if (json[start] !== '{') throw new Error(`app.json: "${key}" is not an object`);
    }
    if (c === '{' || c === '[') depth++;
    if (c === '}' || c === ']') {
      depth--;
      if (start !== undefined && depth === 1) return [start, i + 1];
    }
  }
  throw new Error(`app.json has no top-level "${key}" object`);
}

export function renderAppJson(current: string, list: readonly Entry[] = entries()): string {
  const [start, end] = topLevelValueSpan(current, 'env');
  const lineStart = current.lastIndexOf('\n', start) + 1;
  const indent = /^\s*/.exec(current.slice(lineStart))![0];
  const text = JSON.stringify(appJsonEnv(list), null, 2).replace(/\n/g, `\n${indent}`);
  const result = current.slice(0, start) + text + current.slice(end);
  JSON.parse(result);
  return result;
}

// ---- render.yaml

type EnvVar = Record<string, unknown>;
interface Blueprint {
  web: string;
  worker: string;
  keyvalue: string;
  group: string;
}

/** The envVars lists of render.yaml: the web service's, the worker's, and the environment group's. */
export function renderEnvVars(names: Blueprint, list: readonly Entry[] = entries()): { web: Array<[EnvVar, string?]>; worker: Array<[EnvVar, string?]>; group: Array<[EnvVar, string?]> } {
  const keyvalue = list.filter((e) => e.meta.deploy.how === 'platform' && e.meta.deploy.renderKeyValue);
  const asked = list.filter((e) => e.meta.deploy.how === 'ask');
  const generated = list.filter((e) => e.meta.deploy.how === 'generate');
  const fromKeyValue = (e: Entry): [EnvVar] => [{ key: e.key, fromService: { type: 'keyvalue', name: names.keyvalue, property: 'connectionString' } }];
  const fromWeb = (e: Entry): [EnvVar] => [{ key: e.key, fromService: { type: 'web', name: names.web, envVarKey: e.key } }];
  const note = (e: Entry) => ('renderNote' in e.meta.deploy ? e.meta.deploy.renderNote : undefined);
  return {
    web: [
      ...keyvalue.map(fromKeyValue),
      ...asked.map((e): [EnvVar, string?] => [{ key: e.key, sync: false }, note(e)]),
      ...generated.map((e): [EnvVar] => [{ key: e.key, generateValue: true }]),
      [{ fromGroup: names.group }],
    ],
    worker: [
      ...keyvalue.map(fromKeyValue),
      ...asked.map(fromWeb),
      ...generated.filter((e) => !(e.meta.deploy.how === 'generate' && e.meta.deploy.webOnly)).map(fromWeb),
      [{ fromGroup: names.group }],
    ],
    group: list.flatMap((e): Array<[EnvVar, string?]> => {
      const deploy = e.meta.deploy;
      if (deploy.how !== 'group') return [];
      const value = deploy.value ?? e.fallback;
      if (!value) throw new Error(`${e.key} is in the group but has neither a default nor a deploy value`);
      return [[{ key: e.key, value }, deploy.renderNote]];
    }),
  };
}

/** Words YAML 1.1 reads as booleans (`off`, `yes`, ...); a parser of that older version may still read render.yaml. */
const YAML11_BOOLEAN = /^(y|yes|n|no|true|false|on|off)$/i;

/** A YAML scalar for `value`: plain when it is a simple word or URL that reads back as itself in any YAML version, else quoted. */
function yamlScalar(value: unknown): string {
  if (typeof value === 'boolean') return String(value);
  const s = String(value);
  const plain = /^[A-Za-z0-9_.:/@+-]+$/.test(s) && parseYaml(s) === s && !YAML11_BOOLEAN.test(s);
  const text = plain ? s : !s.includes("'") ? `'${s}'` : JSON.stringify(s);
  if ((parseYaml(`k: ${text}`) as { k: unknown }).k !== s) throw new Error(`cannot write ${JSON.stringify(s)} as a YAML scalar`);
  return text;
}

/** A list item's lines, without the list's own indentation; `note` as a comment at its end, or above it when that would be too long. */
function yamlItem(item: EnvVar, note: string | undefined, indent: number): string[] {
  const lines: string[] = [];
  const walk = (obj: Record<string, unknown>, pad: string) => {
    for (const [k, v] of Object.entries(obj)) {
      if (v !== null && typeof v === 'object') {
        lines.push(`${pad}${k}:`);
        walk(v as Record<string, unknown>, `${pad}  `);
      } else {
        lines.push(`${pad}${k}: ${yamlScalar(v)}`);
      }
    }
  };
  walk(item, '');
  const items = lines.map((l, i) => (i === 0 ? `- ${l}` : `  ${l}`));
  if (!note) return items;
  const inline = `${items.at(-1)!} # ${note}`;
  if (indent + inline.length <= INLINE_WIDTH) return [...items.slice(0, -1), inline];
  return [...wrap(note, WIDTH - indent, '# '), ...items];
}

export function renderRenderYaml(current: string, list: readonly Entry[] = entries()): string {
  const doc = parseDocument(current);
  const services = doc.get('services');
  if (!isSeq(services)) throw new Error('render.yaml has no services list');
  const service = (type: string) => {
    const found = (services as YAMLSeq).items.filter((s): s is YAMLMap => isMap(s) && s.get('type') === type);
    if (found.length !== 1) throw new Error(`render.yaml: expected one service of type ${type}, found ${found.length}`);
    return found[0]!;
  };
  const groups = doc.get('envVarGroups');
  if (!isSeq(groups) || groups.items.length !== 1 || !isMap(groups.items[0])) throw new Error('render.yaml: expected one environment group (envVarGroups)');
  const group = groups.items[0];
  const names: Blueprint = {
    web: String(service('web').get('name')),
    worker: String(service('worker').get('name')),
    keyvalue: String(service('keyvalue').get('name')),
    group: String(group.get('name')),
  };
  const lists = renderEnvVars(names, list);
  const targets: Array<[string, YAMLMap, Array<[EnvVar, string?]>]> = [
    [`the ${names.web} service`, service('web'), lists.web],
    [`the ${names.worker} service`, service('worker'), lists.worker],
    [`the ${names.group} group`, group, lists.group],
  ];

  // Replace each envVars list in the text, from the end so the earlier offsets hold.
  const spans = targets.map(([what, owner, items]) => {
    const node = owner.get('envVars', true);
    if (!isSeq(node) || !node.range) throw new Error(`render.yaml: ${what} has no envVars list`);
    const end = node.range[1];
    const indent = node.range[0] - (current.lastIndexOf('\n', node.range[0] - 1) + 1);
    // Comment lines just above the first item, at its indentation, belong to the list.
    let lineStart = node.range[0] - indent;
    while (lineStart > 0) {
      const previous = current.lastIndexOf('\n', lineStart - 2) + 1;
      if (!new RegExp(`^ {${indent}}#`).test(current.slice(previous, lineStart - 1))) break;
      lineStart = previous;
    }
    const lines = items.flatMap(([item, note]) => yamlItem(item, note, indent));
    const text = lines.join(`\n${' '.repeat(indent)}`) + (current[end - 1] === '\n' ? '\n' : '');
    return { start: lineStart + indent, end, text };
  });
  let result = current;
  for (const { start, end, text } of [...spans].sort((a, b) => b.start - a.start)) result = result.slice(0, start) + text + result.slice(end);

  // What was written reads back as the lists meant.
  const written = parseYaml(result) as { services: Array<{ type: string; envVars: EnvVar[] }>; envVarGroups: Array<{ envVars: EnvVar[] }> };
  const expect = (actual: unknown, wanted: Array<[EnvVar, string?]>, what: string) => {
    if (JSON.stringify(actual) !== JSON.stringify(wanted.map(([item]) => item))) throw new Error(`render.yaml: ${what} does not read back as written`);
  };
  expect(written.services.find((s) => s.type === 'web')!.envVars, lists.web, 'the web service\'s envVars');
  expect(written.services.find((s) => s.type === 'worker')!.envVars, lists.worker, 'the worker\'s envVars');
  expect(written.envVarGroups[0]!.envVars, lists.group, 'the group\'s envVars');
  return result;
}

// ---- all of them

/** The files written from the settings, relative to the repository's root. */
export const SETTINGS_FILES = ['.env.example', 'docs/configuration.md', 'app.json', 'render.yaml'] as const;

/**
 * What each file should hold, given `read` (a file's current text, or undefined when it is missing).
 * app.json and render.yaml must exist: only their env lists are written.
 */
export function renderSettingsFiles(read: (file: string) => string | undefined): Array<{ file: (typeof SETTINGS_FILES)[number]; content: string }> {
  const list = entries();
  const existing = (file: string) => {
    const text = read(file);
    if (text === undefined) throw new Error(`${file} is missing: only its env list is written, the rest must be there`);
    return text;
  };
  return [
    { file: '.env.example', content: renderEnvExample(list) },
    { file: 'docs/configuration.md', content: renderDocs(list) },
    { file: 'app.json', content: renderAppJson(existing('app.json'), list) },
    { file: 'render.yaml', content: renderRenderYaml(existing('render.yaml'), list) },
  ];
}

/** The files whose text differs from what `npm run settings` would write. */
export function driftedFiles(read: (file: string) => string | undefined): string[] {
  return renderSettingsFiles(read)
    .filter(({ file, content }) => read(file) !== content)
    .map(({ file }) => file);
}
