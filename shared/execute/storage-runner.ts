/**
 * Runs Cloud Storage plan actions through the ObjectStore port. Every write is conditional on the
 * generation the plan observed (`ifGenerationMatch`, '0' = only if absent), so two instances never
 * overwrite each other's work unknowingly: a refused precondition is a stale plan, re-planned.
 */
import { createHash } from 'node:crypto';
import {
  type CopyStorageObjectAction,
  type DeleteStorageObjectAction,
  type StorageObjectRef,
  storageTarget,
  type WriteStorageObjectAction,
} from '../domain/plan';
import { type ObjectInfo, type ObjectStore, PreconditionFailedError } from '../ports/storage';
import { RetryableError } from '../runtime/errors';
import { type ActionRunner, type Precondition, type RunState, StaleStateError } from './executor';

type StorageAction = CopyStorageObjectAction | WriteStorageObjectAction | DeleteStorageObjectAction;

function md5Base64(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('base64');
}

function sameContent(live: ObjectInfo, want: { size: string; md5Hash?: string; crc32c?: string }): boolean {
  if (live.size.toString() !== want.size) return false;
  if (live.crc32c && want.crc32c) return live.crc32c === want.crc32c;
  return live.md5Hash !== undefined && live.md5Hash === want.md5Hash;
}

/** The generation the action expects: what this execution last wrote there, else what the plan saw. */
function expectedGeneration(action: StorageAction, ref: StorageObjectRef, run: RunState): string | null {
  const written = run.written.get(storageTarget(ref));
  if (written !== undefined) return written;
  return action.before?.generation ?? null;
}

function matches(live: ObjectInfo | undefined, expected: string | null): boolean {
  return expected === null ? live === undefined : live?.generation === expected;
}

export class StorageRunner implements ActionRunner<StorageAction> {
  readonly kinds = ['copyStorageObject', 'writeStorageObject', 'deleteStorageObject'] as const;

  constructor(private readonly objects: ObjectStore) {}

  async check(action: StorageAction, run: RunState): Promise<Precondition> {
    switch (action.kind) {
      case 'copyStorageObject': {
        const { source, destination } = action.after;
        const [src, live] = await Promise.all([this.objects.stat(source), this.objects.stat(destination)]);
        if (live && sameContent(live, action.after))
          return { state: 'done', reason: 'destination already holds these bytes' };
        if (!src || src.generation !== source.generation) {
          // The upload itself changed: this event's plan no longer stands, and a newer event exists.
          throw new RetryableError(
            'SOURCE_CHANGED',
            `gs://${source.bucket}/${source.name} changed or vanished since generation ${source.generation}`,
          );
        }
        const expected = expectedGeneration(action, destination, run);
        return matches(live, expected)
          ? { state: 'ready' }
          : {
              state: 'stale',
              reason: `destination is at generation ${live?.generation ?? 'none'}, planned ${expected ?? 'none'}`,
            };
      }
      case 'writeStorageObject': {
        if (action.checkedByWrite) return { state: 'ready' };
        const ref = action.after.object;
        const live = await this.objects.stat(ref);
        if (live?.md5Hash !== undefined && live.md5Hash === md5Base64(action.after.text)) {
          return { state: 'done', reason: 'object already has this content' };
        }
        const expected = expectedGeneration(action, ref, run);
        return matches(live, expected)
          ? { state: 'ready' }
          : {
              state: 'stale',
              reason: `object is at generation ${live?.generation ?? 'none'}, planned ${expected ?? 'none'}`,
            };
      }
      case 'deleteStorageObject': {
        const live = await this.objects.stat(action.before);
        if (!live) return { state: 'done', reason: 'already gone' };
        const expected = expectedGeneration(action, action.before, run);
        return live.generation === expected
          ? { state: 'ready' }
          : {
              state: 'stale',
              reason: `object is at generation ${live.generation}, planned ${expected ?? 'none'}`,
            };
      }
    }
  }

  async apply(action: StorageAction, run: RunState): Promise<void> {
    try {
      switch (action.kind) {
        case 'copyStorageObject': {
          const { source, destination } = action.after;
          const written = await this.objects.copy(source, destination, {
            ifGenerationMatch: expectedGeneration(action, destination, run) ?? '0',
          });
          run.written.set(storageTarget(destination), written.generation);
          return;
        }
        case 'writeStorageObject': {
          const ref = action.after.object;
          const written = await this.objects.writeText(ref, action.after.text, {
            ifGenerationMatch: expectedGeneration(action, ref, run) ?? '0',
            contentType: action.after.contentType,
          });
          run.written.set(storageTarget(ref), written.generation);
          return;
        }
        case 'deleteStorageObject': {
          const generation = expectedGeneration(action, action.before, run) ?? action.before.generation;
          await this.objects.delete(action.before, { ifGenerationMatch: generation });
          run.written.delete(storageTarget(action.before));
          return;
        }
      }
    } catch (err) {
      if (err instanceof PreconditionFailedError) {
        throw new StaleStateError('PRECONDITION_FAILED', `${action.target} was written by someone else`, {
          cause: err,
        });
      }
      throw err;
    }
  }
}
