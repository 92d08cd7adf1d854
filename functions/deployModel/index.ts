// deployModel: Cloud Storage object finalized (incoming bucket) -> model served by Triton.
// This file only wires: the behaviour lives in shared/deploy/.
import * as functions from '@google-cloud/functions-framework';
import { buildDeployModelDeps } from '../../shared/deploy/deps';
import { deployModelFunction } from '../../shared/deploy/function';
import { loadConfig } from '../../shared/runtime/config';
import { withCurrentPolicy } from '../../shared/runtime/deps';
import { cloudEventEntry } from '../../shared/runtime/function';

functions.cloudEvent(
  deployModelFunction.name,
  cloudEventEntry(deployModelFunction, () => buildDeployModelDeps(loadConfig()), withCurrentPolicy),
);
