// scaleOnAlert: Cloud Monitoring alert (Pub/Sub notification channel), and the schedules tick ->
// GPU capacity follows the incident and comes back down. Wiring only: see shared/alerts/.
import * as functions from '@google-cloud/functions-framework';
import { buildScaleOnAlertDeps } from '../../shared/alerts/deps';
import { scaleOnAlertFunction } from '../../shared/alerts/function';
import { loadConfig } from '../../shared/runtime/config';
import { cloudEventEntry } from '../../shared/runtime/function';
import { withCurrentPolicy } from '../../shared/wiring/shared-deps';

functions.cloudEvent(
  scaleOnAlertFunction.name,
  cloudEventEntry(scaleOnAlertFunction, () => buildScaleOnAlertDeps(loadConfig()), withCurrentPolicy),
);
