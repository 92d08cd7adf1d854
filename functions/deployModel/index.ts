// deployModel: Cloud Storage object finalized (incoming bucket) -> model served by Triton.
// This file only wires: the behaviour lives in shared/deploy/. The dependencies start building
// as the module loads, while the framework starts listening (shared/wiring/lazy.ts).
import * as functions from '@google-cloud/functions-framework';
import { buildDeployModelDeps } from '../../shared/deploy/deps';
import { deployModelFunction } from '../../shared/deploy/function';
import { loadConfig } from '../../shared/runtime/config';
import { cloudEventEntry } from '../../shared/runtime/function';
import { startBuilding } from '../../shared/wiring/lazy';
import { withCurrentPolicy } from '../../shared/wiring/shared-deps';

functions.cloudEvent(
  deployModelFunction.name,
  cloudEventEntry(
    deployModelFunction,
    startBuilding(() => buildDeployModelDeps(loadConfig())),
    withCurrentPolicy,
  ),
);
