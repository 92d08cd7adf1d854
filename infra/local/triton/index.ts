export { parseTritonArgs, type TritonArgs, TritonArgsError } from './args';
export { readJsonConfig, readTextConfig } from './config';
export { startTritonFleet, type TritonFleet, type TritonFleetOptions, type TritonPodProcess } from './fleet';
export {
  generateLoad,
  type InferInput,
  inputsFromMetadata,
  isLoopbackUrl,
  type LoadOptions,
  type LoadResult,
} from './load';
export { type LoadInput, type LoadPlan, type ModelState, planLoad, tensorMetadata } from './models';
export {
  gcsRepositoryReader,
  memoryRepositoryReader,
  parseRepositoryUrl,
  type RepositoryLocation,
  type RepositoryReader,
} from './repository';
export {
  type ModelStatus,
  type RestrictedApi,
  startTritonServer,
  type TritonServer,
  type TritonServerOptions,
} from './server';
export { TextFormatError } from './textproto';
