// applySchedules: Cloud Scheduler tick (Pub/Sub reconcile-schedules) -> downtime windows applied.
// This file only wires: the behaviour lives in shared/schedules/.
import * as functions from '@google-cloud/functions-framework';
import { DEFAULT_EVENT_BODY_LIMITS } from '../../shared/runtime/cloudevent-http';
import { loadConfig } from '../../shared/runtime/config';
import { cloudEventHttpEntry } from '../../shared/runtime/function';
import { buildApplySchedulesDeps } from '../../shared/schedules/deps';
import { applySchedulesFunction } from '../../shared/schedules/function';
import { useShippedCompileCache } from '../../shared/wiring/compile-cache';
import { startBuilding } from '../../shared/wiring/lazy';
import { withCurrentPolicy } from '../../shared/wiring/shared-deps';
import { warmUpOn } from '../../shared/wiring/warm';

// Before anything loads on demand (the Storage and cluster chunks): see compile-cache.ts.
useShippedCompileCache(import.meta.url);

// An HTTP function that reads the CloudEvent itself (Eventarc's binary mode, or a raw Pub/Sub push),
// so every delivery it cannot use is acknowledged as a rejection (shared/runtime/function.ts).
// Deps start building as the module loads, while the framework starts listening (shared/wiring/lazy.ts);
// a reconcile-schedules delivery starts connecting to the cluster as it arrives (shared/wiring/warm.ts).
const deps = startBuilding(() => buildApplySchedulesDeps(loadConfig()));
functions.http(
  applySchedulesFunction.name,
  cloudEventHttpEntry(
    applySchedulesFunction,
    deps,
    withCurrentPolicy,
    DEFAULT_EVENT_BODY_LIMITS,
    warmUpOn(deps, 'reconcile-schedules'),
  ),
);
