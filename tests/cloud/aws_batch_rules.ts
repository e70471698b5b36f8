/**
 * AWS Batch's retry decision for a finished attempt, as the Batch docs describe
 * `retryStrategy.evaluateOnExit`: the first entry whose every given pattern matches decides;
 * patterns may end in `*`; with no match Batch retries while attempts remain.
 */
export interface EvaluateOnExit {
  readonly action: string;
  readonly onExitCode?: string;
  readonly onStatusReason?: string;
}

export function awsRetryAction(
  rules: ReadonlyArray<EvaluateOnExit>,
  exit: { code?: number; reason?: string },
): string {
  const glob = (pattern: string, value: string | undefined) =>
    value !== undefined &&
    (pattern.endsWith("*") ? value.startsWith(pattern.slice(0, -1)) : value === pattern);
  for (const r of rules) {
    const codeOk = r.onExitCode === undefined || glob(r.onExitCode, exit.code?.toString());
    const reasonOk = r.onStatusReason === undefined || glob(r.onStatusReason, exit.reason);
    if (codeOk && reasonOk) return r.action;
  }
  return "RETRY";
}
