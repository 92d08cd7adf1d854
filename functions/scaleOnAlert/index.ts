// scaleOnAlert: Cloud Monitoring alert (Pub/Sub notification channel), and the schedules tick ->
// GPU capacity follows the incident and comes back down. Wiring only: see shared/alerts/.
import * as functions from '@google-cloud/functions-framework';
import { buildScaleOnAlertDeps } from '../../shared/alerts/deps';
import { scaleOnAlertFunction } from '../../shared/alerts/function';
import { loadConfig } from '../../shared/runtime/config';
import { cloudEventHttpEntry } from '../../shared/runtime/function';
import { useShippedCompileCache } from '../../shared/wiring/compile-cache';
import { startBuilding } from '../../shared/wiring/lazy';
import { withCurrentPolicy } from '../../shared/wiring/shared-deps';

// Before anything loads on demand (the Storage and cluster chunks): see compile-cache.ts.
useShippedCompileCache(import.meta.url);

functions.http(
  scaleOnAlertFunction.name,
  // An HTTP function that reads the CloudEvent itself (Eventarc's binary mode, or a raw Pub/Sub
  // push), so every delivery it cannot use is acknowledged as a rejection (shared/runtime/function.ts).
  // Deps start building as the module loads, while the framework starts listening (shared/wiring/lazy.ts).
  cloudEventHttpEntry(
    scaleOnAlertFunction,
    startBuilding(() => buildScaleOnAlertDeps(loadConfig())),
    withCurrentPolicy,
  ),
);
