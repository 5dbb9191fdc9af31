import { AsyncLocalStorage } from 'node:async_hooks';

/** What every log line written while handling a request carries. */
export interface RequestContext {
  requestId: string;
}

/**
 * The request being handled, wherever in its asynchronous work the code is. The logger reads it for
 * each line, so handlers need not pass a request logger down to the services they call.
 */
export const requestContext = new AsyncLocalStorage<RequestContext>();
