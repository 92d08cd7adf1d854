// deployModel: Cloud Storage object finalized (incoming bucket) -> model served by Triton.
// This file only wires: the behaviour lives in shared/deploy/.
import * as functions from '@google-cloud/functions-framework';
import { buildDeployModelDeps } from '../../shared/deploy/deps';
import { deployModelFunction } from '../../shared/deploy/function';
import { loadConfig } from '../../shared/runtime/config';
import { cloudEventEntry } from '../../shared/runtime/function';
import { withCurrentPolicy } from '../../shared/wiring/shared-deps';

functions.cloudEvent(
  deployModelFunction.name,
  cloudEventEntry(deployModelFunction, () => buildDeployModelDeps(loadConfig()), withCurrentPolicy),
);
