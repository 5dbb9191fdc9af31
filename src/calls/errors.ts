/**
 * Redis (the call store, or the job queue that lives beside it) could not be used. Routes answer it
 * with 503, so Twilio's or Retell's retry comes back later instead of seeing a 500 that blames the
 * request.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * Runs an operation on Redis, turning any failure of Redis into a StoreUnavailableError (which the
 * routes answer 503, so Twilio or Retell retries).
 */
export async function orStoreUnavailable<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    if (err instanceof StoreUnavailableError) throw err;
    throw new StoreUnavailableError(`call store unavailable: ${(err as Error).message}`, { cause: err });
  }
}
