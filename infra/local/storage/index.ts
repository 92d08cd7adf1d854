export { LOCAL_PROJECT_ID, localStorageClient } from './client';
export { GcsError } from './errors';
export type { NotificationConfig, NotifierOptions } from './notifications';
export {
  type RecordedRequest,
  type StorageServer,
  type StorageServerOptions,
  startStorageServer,
} from './server';
