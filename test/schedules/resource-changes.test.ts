/** What a tick's event says it changed: each plan action in the event's vocabulary (pure). */
import { describe, expect, it } from 'vitest';
import { parseOutboundEvent } from '../../events/outbound';
import type { PlanAction } from '../../shared/domain/plan';
import { resourceChanges } from '../../shared/schedules/handler';

const CLUSTER = 'projects/p/locations/us-central1/clusters/c';
const capacity = {
  pool: 'triton-l4-spot-od',
  gpuClass: 'l4',
  machineType: 'g2-standard-8',
  spot: false,
  gpusPerNode: 1,
  maxNodes: 3,
  nodeHourlyUsd: 0.85,
};

describe('resourceChanges', () => {
  it.each<{ name: string; action: PlanAction; want: unknown }>([
    {
      name: 'replicas to zero',
      action: {
        kind: 'scaleWorkload',
        target: 'Deployment/triton/triton-l4',
        costDeltaPerHour: 0,
        reason: 'downtime',
        before: { replicas: 2 },
        after: { replicas: 0 },
      } as PlanAction,
      want: { kind: 'deployment-replicas', target: 'triton/triton-l4', from: 2, to: 0 },
    },
    {
      name: 'the on-demand pool a scale-out added, deleted as the downtime begins',
      action: {
        kind: 'deleteNodePool',
        target: 'nodePool/triton-l4-spot-od',
        costDeltaPerHour: -2.55,
        reason: 'the on-demand pool added after a stockout goes with the scale-out',
        before: { name: 'triton-l4-spot-od' },
        after: null,
        capacityBefore: capacity,
        capacityAfter: null,
      },
      want: { kind: 'node-pool-deleted', target: `${CLUSTER}/nodePools/triton-l4-spot-od`, from: 3, to: 0 },
    },
  ])('$name', ({ action, want }) => {
    const changes = resourceChanges([action], CLUSTER);
    expect(changes).toEqual([want]);
    // What the event would carry is valid for the event's schema.
    const event = {
      specversion: '1.0',
      id: 'x',
      source: '//inferplane.dev/projects/local-project/functions/schedule-applier',
      type: 'dev.inferplane.schedule.v1.applied',
      time: '2026-12-02T03:00:00.000Z',
      datacontenttype: 'application/json',
      data: {
        dryRun: false,
        schedule: 'nights',
        windowState: 'downtime',
        actions: changes,
        estimatedGpuHoursSaved: 0,
        estimatedUsdSaved: 0,
      },
    };
    expect(() => parseOutboundEvent(event)).not.toThrow();
  });
});
