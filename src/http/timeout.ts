/** Raised by `withTimeout` when the operation did not settle in time. */
export class TimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/**
 * Settles as `operation` does, or rejects with a TimeoutError after `ms`. The operation itself is not
 * cancelled (most clients here cannot be); its late result is ignored. The timer never keeps the
 * process alive.
 */
export async function withTimeout<T>(operation: Promise<T>, ms: number, message = `timed out after ${ms} ms`): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      operation,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(message)), ms);
        timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits for `operation` for at most `ms`, whatever it does: for a cleanup step (closing a client whose
 * server may be gone) that must not hold up shutdown. Returns true when it settled in time.
 */
export async function settleWithin(operation: Promise<unknown>, ms: number): Promise<boolean> {
  try {
    await withTimeout(operation, ms);
    return true;
  } catch (err) {
    return !(err instanceof TimeoutError);
  }
}
