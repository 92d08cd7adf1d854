/**
 * A tick's first event needs the cluster (shared/wiring/lazy.ts loads its clients on the first
 * call a plan makes). Waiting for that call serialises two slow things: the idempotency write and
 * the handler's first Cloud Storage reads, then loading the GKE and Kubernetes clients and the
 * GetCluster read. So a tick function's entry starts connecting as soon as a delivery that is
 * its own tick arrives (`warmUpOn`, the `onEvent` hook of `cloudEventHttpEntry`); the handler's first call then awaits a connection already
 * under way. Any other delivery (another job's command, a malformed message) loads nothing.
 *
 * A failed warm-up is not reported here: the connection is a `lazy`, which forgets the failure,
 * and the handler's own call connects again and reports the error through the normal path.
 */
import { parseSchedulerCommandEvent } from '../../events/scheduler';
import type { IncomingCloudEvent } from '../runtime/function';

const warmUps = new WeakMap<object, () => Promise<unknown>>();

/** Records what warming `deps` up means (the deps builder calls it with its lazy connection). */
export function registerWarmUp(deps: object, warm: () => Promise<unknown>): void {
  warmUps.set(deps, warm);
}

/** True when the delivery is a scheduler message carrying `command` (nothing is thrown). */
export function isSchedulerCommand(event: IncomingCloudEvent, command: string): boolean {
  try {
    return parseSchedulerCommandEvent(event).message.payload.command === command;
  } catch {
    return false;
  }
}

/**
 * The hook `cloudEventHttpEntry` calls with each decoded delivery (`onEvent`): a delivery of
 * `command` starts the warm-up registered for the deps; nothing is awaited or thrown, so the
 * delivery's outcome is the entry's alone.
 */
export function warmUpOn(deps: () => Promise<object>, command: string): (event: IncomingCloudEvent) => void {
  return (event) => {
    if (!isSchedulerCommand(event, command)) return;
    deps()
      .then((d) => warmUps.get(d)?.())
      .catch(() => undefined);
  };
}
