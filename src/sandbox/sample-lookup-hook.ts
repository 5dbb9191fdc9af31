import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LOOKUP_LIMITS, parseCallInboundAnswer, type CallInboundRequest } from '../features/inbound';
import { verifyRetellSignature } from '../retell/signature';
import { LoopbackServer } from './loopback-server';

/** One request the sample hook answered, for the sandbox to print and for tests. */
export interface SampleLookup {
  from: string | undefined;
  status: number;
  answer: unknown;
}

/**
 * A lookup hook to point INBOUND_WEBHOOK_URL at locally. It does what a real hook must (checks
 * `X-Retell-Signature` over the raw body with RETELL_API_KEY, 401 otherwise) and answers from a JSON
 * file that maps callers' numbers to `call_inbound` answers:
 *
 *   { "+14155550199": { "override_agent_id": "agent_vip", "dynamic_variables": { "customer_name": "Dana" } },
 *     "+14155550666": { "reject": true } }
 *
 * Callers not in the file get `{"call_inbound": {}}`: the agent the bridge would have used. The file is
 * read again on every request, so an edit shows on the next call; a file that has become invalid is
 * answered 500 with the reason, and the bridge uses the default agent.
 */
export class SampleLookupHook extends LoopbackServer {
  readonly lookups: SampleLookup[] = [];

  constructor(
    readonly apiKey: string,
    readonly file: string,
    private readonly onLookup?: (lookup: SampleLookup) => void,
  ) {
    super();
  }

  /** Checks the file before listening, so a mistake in it is reported at start. */
  override async start(): Promise<this> {
    readLookupFile(this.file);
    return super.start();
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > LOOKUP_LIMITS.answerBytes) return this.send(res, 413, { error: 'request too large' }, undefined);
      chunks.push(chunk as Buffer);
    }
    const raw = Buffer.concat(chunks);
    if (req.method !== 'POST') return this.send(res, 405, { error: 'POST only' }, undefined);
    const check = verifyRetellSignature(raw, this.apiKey, req.headers['x-retell-signature'] as string | undefined);
    if (!check.ok) return this.send(res, 401, { error: `Retell signature ${check.reason}` }, undefined);
    let from: string | undefined;
    try {
      from = (JSON.parse(raw.toString('utf8')) as CallInboundRequest).call_inbound?.from_number;
    } catch {
      return this.send(res, 400, { error: 'body is not JSON' }, undefined);
    }
    let entries: Record<string, unknown>;
    try {
      entries = readLookupFile(this.file);
    } catch (err) {
      return this.send(res, 500, { error: (err as Error).message }, from);
    }
    const entry = from !== undefined && Object.hasOwn(entries, from) ? entries[from] : {};
    this.send(res, 200, { call_inbound: entry }, from);
  }

  private send(res: ServerResponse, status: number, answer: unknown, from: string | undefined): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    const lookup = { from, status, answer };
    this.lookups.push(lookup);
    this.onLookup?.(lookup);
  }
}

/**
 * Reads and checks a lookup file: a JSON object from caller numbers to answers the bridge accepts.
 * Throws an Error naming the file and what is wrong.
 */
export function readLookupFile(file: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${file}: ${e.code === 'ENOENT' ? 'no such file' : `not JSON (${e.message})`}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`${file}: must be a JSON object mapping callers' numbers to answers, e.g. {"+14155550199": {"override_agent_id": "agent_vip"}}`);
  }
  for (const [number, entry] of Object.entries(json)) {
    const parsed = parseCallInboundAnswer(JSON.stringify({ call_inbound: entry }));
    if (!parsed.ok || typeof entry !== 'object' || entry === null) {
      throw new Error(`${file}: the entry for ${number} is not an answer the bridge accepts (${parsed.ok ? 'must be an object' : parsed.reason})`);
    }
  }
  return json as Record<string, unknown>;
}
