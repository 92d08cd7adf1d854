// deployModel: Cloud Storage object finalized (incoming bucket) -> model served by Triton.
// This file only wires: the behaviour lives in shared/deploy/. Registered as an HTTP function so
// that the runtime reads the CloudEvent itself and acknowledges any delivery it cannot use
// (shared/runtime/function.ts, cloudEventHttpEntry); Eventarc's POST is the same either way. The
// dependencies start building as the module loads, while the framework starts listening
// (shared/wiring/lazy.ts).
import * as functions from '@google-cloud/functions-framework';
import { buildDeployModelDeps } from '../../shared/deploy/deps';
import { deployModelFunction } from '../../shared/deploy/function';
import { loadConfig } from '../../shared/runtime/config';
import { cloudEventHttpEntry } from '../../shared/runtime/function';
import { useShippedCompileCache } from '../../shared/wiring/compile-cache';
import { startBuilding } from '../../shared/wiring/lazy';
import { withCurrentPolicy } from '../../shared/wiring/shared-deps';

// Before anything loads on demand (the Storage and cluster chunks): see compile-cache.ts.
useShippedCompileCache(import.meta.url);

functions.http(
  deployModelFunction.name,
  cloudEventHttpEntry(
    deployModelFunction,
    startBuilding(() => buildDeployModelDeps(loadConfig())),
    withCurrentPolicy,
  ),
);
