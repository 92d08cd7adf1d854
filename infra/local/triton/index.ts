export { type LoadInput, type LoadPlan, type ModelState, planLoad, tensorMetadata } from './models';
export {
  gcsRepositoryReader,
  memoryRepositoryReader,
  parseRepositoryUrl,
  type RepositoryLocation,
  type RepositoryReader,
} from './repository';
export { type ModelStatus, startTritonServer, type TritonServer, type TritonServerOptions } from './server';
