// rotateSecurity: Cloud Scheduler tick (Pub/Sub) or a security bundle uploaded to the security bucket
// -> NetworkPolicies, API keys and exposure as the policy says, posture checks reported.
// This file only wires: the behaviour lives in shared/security/.
import * as functions from '@google-cloud/functions-framework';
import { loadConfig } from '../../shared/runtime/config';
import { cloudEventEntry } from '../../shared/runtime/function';
import { buildRotateSecurityDeps } from '../../shared/security/deps';
import { rotateSecurityFunction } from '../../shared/security/function';
import { startBuilding } from '../../shared/wiring/lazy';
import { withCurrentPolicy } from '../../shared/wiring/shared-deps';
import { warmOnCommand } from '../../shared/wiring/warm';

// Deps start building as the module loads, while the framework starts listening (shared/wiring/lazy.ts);
// a rotate-security delivery starts connecting to the cluster as it arrives (shared/wiring/warm.ts).
const deps = startBuilding(() => buildRotateSecurityDeps(loadConfig()));
functions.cloudEvent(
  rotateSecurityFunction.name,
  warmOnCommand(cloudEventEntry(rotateSecurityFunction, deps, withCurrentPolicy), deps, 'rotate-security'),
);
