/**
 * The CloudEvent each function's cold start is measured with. Every folder under functions/ is
 * measured; one without a case here gets the storage fixture (and the figure says so), so a new
 * function is never silently left out. A case names what the function does with its event, and
 * may check afterwards that it did that (a 2xx answer does not tell a skip from an acknowledged
 * rejection).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Storage } from '@google-cloud/storage';
import { idempotencyKeyFromEvent } from '../shared/runtime/idempotency';

const FIXTURES = fileURLToPath(new URL('../events/fixtures/', import.meta.url));

export const STORAGE_EVENT = join(FIXTURES, 'storage/valid-finalized-string-int64.json');

export interface CaseEnv {
  storage: Storage;
  /** Where the functions keep their idempotency records. */
  stateBucket: string;
}

export interface ColdStartCase {
  event: string;
  /** What the function does with the event, for the figure's name. */
  path: string;
  /** Throws unless the delivery with these headers did what `path` says. */
  check?(env: CaseEnv, functionName: string, headers: Record<string, string>): Promise<void>;
}

type RecordedStatus = 'skipped' | 'applied' | 'rejected';

/** Reads what the runtime recorded for a delivery and requires one of the given statuses. */
export function recordedAs(...statuses: RecordedStatus[]): NonNullable<ColdStartCase['check']> {
  return async (env, functionName, headers) => {
    const key = idempotencyKeyFromEvent(
      { source: headers['ce-source'] ?? '', id: headers['ce-id'] ?? '' },
      functionName,
    );
    const [bytes] = await env.storage
      .bucket(env.stateBucket)
      .file(`_inferplane/idempotency/${key}.json`)
      .download();
    const record = JSON.parse(bytes.toString('utf8')) as { result?: { status?: unknown } };
    if (!statuses.includes(record.result?.status as RecordedStatus)) {
      throw new Error(
        `${functionName} did not record '${statuses.join("' or '")}' for the event: recorded ${JSON.stringify(record.result)}`,
      );
    }
  };
}

const ROTATE_SECURITY = join(FIXTURES, 'scheduler/valid-rotate-security.json');
const RECONCILE_SCHEDULES = join(FIXTURES, 'scheduler/valid-reconcile-schedules.json');

/**
 * A function's cases, the first being its headline figure. A function whose first event needs
 * the cluster (a tick) has two: an event it handles without the cluster (another job's command on
 * the shared scheduler topic, acknowledged as not its own), which is the cold start the goal
 * compares, and a whole first tick, which also loads the GKE and Kubernetes clients and reads the
 * cluster.
 */
export const COLD_START_CASES: Readonly<Record<string, readonly ColdStartCase[]>> = {
  // The fixture's bucket is not the policy's incoming bucket: deployModel skips it. The skip still
  // reads the policy and writes the idempotency records, as every delivery does.
  deployModel: [{ event: STORAGE_EVENT, path: 'skipped event', check: recordedAs('skipped') }],
  scaleOnAlert: [
    { event: join(FIXTURES, 'monitoring/edge-test-notification.json'), path: 'test notification' },
  ],
  applySchedules: [
    { event: ROTATE_SECURITY, path: "another job's command: no cluster", check: recordedAs('skipped') },
    // A whole tick: it reads the cluster (the scoped fixture names schedules the bench policy lacks).
    {
      event: RECONCILE_SCHEDULES,
      path: 'whole tick: reads the cluster',
      check: recordedAs('applied', 'skipped'),
    },
  ],
  rotateSecurity: [
    { event: RECONCILE_SCHEDULES, path: "another job's command: no cluster", check: recordedAs('skipped') },
    // The first rotation applies the policy's NetworkPolicies; later ones find them in place.
    {
      event: ROTATE_SECURITY,
      path: 'whole rotation: reads the cluster',
      check: recordedAs('applied', 'skipped'),
    },
  ],
};

export function coldStartCases(functionName: string): readonly ColdStartCase[] {
  return (
    COLD_START_CASES[functionName] ?? [
      {
        event: STORAGE_EVENT,
        path: 'storage fixture: no case in bench/coldstart-cases.ts',
      },
    ]
  );
}
