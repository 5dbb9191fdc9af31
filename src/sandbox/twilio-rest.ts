/** What the local Twilio's REST resources (calls, recordings, messages) share: Twilio's paging, and injected faults. */
import type { Injection } from './fake-twilio';

export const lingerFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** One page of a list as Twilio's 2010 API pages it (PageSize, Page; the records under the resource's key). */
export function twilioPage<T>(key: string, path: string, q: URLSearchParams, list: readonly T[], json: (item: T) => unknown) {
  const pageSize = Math.min(Math.max(Number(q.get('PageSize') ?? 50) || 50, 1), 1000);
  const page = Math.max(Number(q.get('Page') ?? 0) || 0, 0);
  const slice = list.slice(page * pageSize, (page + 1) * pageSize);
  const pageUri = (n: number) => {
    const p = new URLSearchParams(q);
    p.set('PageSize', String(pageSize));
    p.set('Page', String(n));
    return `${path}?${p}`;
  };
  return {
    [key]: slice.map(json),
    page,
    page_size: pageSize,
    first_page_uri: pageUri(0),
    next_page_uri: (page + 1) * pageSize < list.length ? pageUri(page + 1) : null,
    previous_page_uri: page > 0 ? pageUri(page - 1) : null,
    start: page * pageSize,
    end: page * pageSize + Math.max(slice.length - 1, 0),
    uri: pageUri(page),
  };
}

/**
 * A write (POST) under an injected fault: `hang` never answers and performs nothing, `delay` waits before
 * performing, `error` answers it instead, `late` performs at once and answers after the wait.
 */
export async function performInjected<T>(
  injection: Injection | undefined,
  fail: (status: number, code: number, message: string) => void,
  perform: () => T,
  answer: (result: T) => void,
): Promise<void> {
  if (injection?.kind === 'hang') return;
  if (injection?.kind === 'delay') await lingerFor(injection.ms);
  if (injection?.kind === 'error') return fail(injection.status, injection.code, injection.message ?? `injected ${injection.status}`);
  const result = perform();
  if (injection?.kind === 'late') await lingerFor(injection.ms);
  answer(result);
}
