/**
 * The official client pointed at the local server, with no credentials and no way to reach Google.
 *
 * Why this is enough (verified in @google-cloud/storage 7.22's sources):
 * - An `apiEndpoint` that is not a googleapis.com host marks the client `customEndpoint`; with
 *   `useAuthWithCustomEndpoint` not true, JSON API requests skip `authClient.authorizeRequest`
 *   (no token fetch, no Authorization header) and resumable uploads use plain gaxios instead of
 *   the auth client.
 * - An explicit `projectId` means the client never asks google-auth-library (and so never the
 *   metadata server) for one.
 * - `STORAGE_EMULATOR_HOST`, when set in the environment, overrides the JSON base URL verbatim
 *   (without `/storage/v1`); the local server accepts both path shapes, but prefer apiEndpoint.
 * Signed URLs and HMAC keys need real credentials and are not available this way.
 */
import { Storage, type StorageOptions } from '@google-cloud/storage';

export const LOCAL_PROJECT_ID = 'local-project';

export function localStorageClient(url: string, options: Omit<StorageOptions, 'apiEndpoint'> = {}): Storage {
  return new Storage({
    projectId: LOCAL_PROJECT_ID,
    ...options,
    apiEndpoint: url.replace(/\/+$/, ''),
    useAuthWithCustomEndpoint: false,
  });
}
