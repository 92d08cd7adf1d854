/**
 * What the local servers were asked to change: every server's request log, and the mutating
 * requests since a snapshot (the hostile-input tests' "nothing written").
 */
import type { LocalCloud } from '../../infra/local/cloud';
import type { LoggedRequest } from '../../infra/local/common/server';

export function requestLogs(cloud: LocalCloud): Record<string, readonly LoggedRequest[]> {
  return {
    storage: cloud.storage.requestLog,
    gke: cloud.gke.requestLog,
    kubernetes: cloud.kubernetes.requestLog,
    triton: cloud.triton.requestLog,
    monitoring: cloud.monitoring.requestLog,
  };
}

/** The size of every server's log now, to compare with later. */
export function logSizes(cloud: LocalCloud): Record<string, number> {
  return Object.fromEntries(Object.entries(requestLogs(cloud)).map(([k, v]) => [k, v.length]));
}

/** The mutating requests (not GET or HEAD, not the servers' own `/__` controls) since `since`. */
export function writesSince(cloud: LocalCloud, since: Record<string, number>): string[] {
  return Object.entries(requestLogs(cloud)).flatMap(([name, log]) =>
    log
      .slice(since[name] ?? 0)
      .filter((r) => !['GET', 'HEAD'].includes(r.method) && !r.url.startsWith('/__'))
      .map((r) => `${name} ${r.method} ${r.url}`),
  );
}
