// scaleOnAlert: Cloud Monitoring alert (Pub/Sub notification channel), and the schedules tick ->
// GPU capacity follows the incident and comes back down. Wiring only: see shared/alerts/.
import * as functions from '@google-cloud/functions-framework';
import { buildScaleOnAlertDeps } from '../../shared/alerts/deps';
import { scaleOnAlertFunction } from '../../shared/alerts/function';
import { loadConfig } from '../../shared/runtime/config';
import { cloudEventEntry } from '../../shared/runtime/function';
import { startBuilding } from '../../shared/wiring/lazy';
import { withCurrentPolicy } from '../../shared/wiring/shared-deps';

functions.cloudEvent(
  scaleOnAlertFunction.name,
  // Deps start building as the module loads, while the framework starts listening (shared/wiring/lazy.ts).
  cloudEventEntry(
    scaleOnAlertFunction,
    startBuilding(() => buildScaleOnAlertDeps(loadConfig())),
    withCurrentPolicy,
  ),
);
