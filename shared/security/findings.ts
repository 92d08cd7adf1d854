/** What a security tick found: one entry per check that failed, never a secret in it. */
export type FindingCheck =
  | 'IMAGE_NOT_PINNED'
  | 'IMAGE_NOT_ALLOWED'
  | 'WORKLOAD_IDENTITY_MISSING'
  | 'NODE_METADATA_NOT_GKE'
  | 'BINARY_AUTHORIZATION_NOT_ENFORCED'
  | 'SECRET_TOO_OLD'
  | 'EXPOSURE_DRIFT'
  | 'EXTERNAL_EXPOSURE'
  | 'CLOUD_ARMOR_MISSING'
  | 'REPOSITORY_API_EXPOSED'
  | 'ROLLOUT_REFUSED';

export interface Finding {
  check: FindingCheck;
  severity: 'warning' | 'error' | 'critical';
  /** What it is about, e.g. `Deployment/triton/triton-l4` or `nodePool/triton-l4`. */
  target: string;
  message: string;
}

export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      a.check.localeCompare(b.check) ||
      a.target.localeCompare(b.target) ||
      a.message.localeCompare(b.message),
  );
}
