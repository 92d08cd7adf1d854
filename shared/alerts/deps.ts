/**
 * scaleOnAlert's dependencies, built once per instance: the scaling functions' shared deps (the
 * cluster's ports, Cloud Monitoring, the executor) and how many targets a tick sweeps at once.
 */
import type { Config } from '../runtime/config';
import { buildScalingDeps } from '../scaling/deps';
import type { ScaleOnAlertDeps } from './handler';

export const SWEEP_CONCURRENCY = 8;

export async function buildScaleOnAlertDeps(config: Config): Promise<ScaleOnAlertDeps> {
  return { ...(await buildScalingDeps(config)), sweepConcurrency: SWEEP_CONCURRENCY };
}
