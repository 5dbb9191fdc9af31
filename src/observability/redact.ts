/** A URL for logs and printed output: any password in it is masked. */
export function displayUrl(url: string | null | undefined): string {
  if (!url) return '(none)';
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
