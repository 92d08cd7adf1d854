// rotateSecurity: Cloud Scheduler tick (Pub/Sub) or a security bundle uploaded to the security bucket
// -> NetworkPolicies, API keys and exposure as the policy says, posture checks reported.
// This file only wires: the behaviour lives in shared/security/.
import * as functions from '@google-cloud/functions-framework';
import { DEFAULT_EVENT_BODY_LIMITS } from '../../shared/runtime/cloudevent-http';
import { loadConfig } from '../../shared/runtime/config';
import { cloudEventHttpEntry } from '../../shared/runtime/function';
import { buildRotateSecurityDeps } from '../../shared/security/deps';
import { rotateSecurityFunction } from '../../shared/security/function';
import { useShippedCompileCache } from '../../shared/wiring/compile-cache';
import { startBuilding } from '../../shared/wiring/lazy';
import { withCurrentPolicy } from '../../shared/wiring/shared-deps';
import { warmUpOn } from '../../shared/wiring/warm';

// Before anything loads on demand (the Storage and cluster chunks): see compile-cache.ts.
useShippedCompileCache(import.meta.url);

// An HTTP function that reads the CloudEvent itself (Eventarc's binary mode, or a raw Pub/Sub push),
// so every delivery it cannot use is acknowledged as a rejection (shared/runtime/function.ts).
// Deps start building as the module loads, while the framework starts listening (shared/wiring/lazy.ts);
// a rotate-security delivery starts connecting to the cluster as it arrives (shared/wiring/warm.ts).
const deps = startBuilding(() => buildRotateSecurityDeps(loadConfig()));
functions.http(
  rotateSecurityFunction.name,
  cloudEventHttpEntry(
    rotateSecurityFunction,
    deps,
    withCurrentPolicy,
    DEFAULT_EVENT_BODY_LIMITS,
    warmUpOn(deps, 'rotate-security'),
  ),
);
