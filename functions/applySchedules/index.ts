// applySchedules: Cloud Scheduler tick (Pub/Sub reconcile-schedules) -> downtime windows applied.
// This file only wires: the behaviour lives in shared/schedules/.
import * as functions from '@google-cloud/functions-framework';
import { loadConfig } from '../../shared/runtime/config';
import { cloudEventEntry } from '../../shared/runtime/function';
import { buildApplySchedulesDeps } from '../../shared/schedules/deps';
import { applySchedulesFunction } from '../../shared/schedules/function';
import { startBuilding } from '../../shared/wiring/lazy';
import { withCurrentPolicy } from '../../shared/wiring/shared-deps';
import { warmOnCommand } from '../../shared/wiring/warm';

// Deps start building as the module loads, while the framework starts listening (shared/wiring/lazy.ts);
// a reconcile-schedules delivery starts connecting to the cluster as it arrives (shared/wiring/warm.ts).
const deps = startBuilding(() => buildApplySchedulesDeps(loadConfig()));
functions.cloudEvent(
  applySchedulesFunction.name,
  warmOnCommand(
    cloudEventEntry(applySchedulesFunction, deps, withCurrentPolicy),
    deps,
    'reconcile-schedules',
  ),
);
