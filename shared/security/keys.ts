/**
 * API key rotation, pure: the key ring a pool's Secret holds, the Secret built from a ring, and the
 * decision a security tick makes for one pool (rotate, retire replaced keys, or leave it).
 *
 * A rotation adds a new key and makes it active in one Secret write, then the Deployment's pod
 * template names the new id, which rolls the pods: each new pod starts Triton with the new key, each
 * old pod keeps the old one until it goes. The replaced key stays in the Secret until no pod (and
 * not the Deployment's template) uses it and the overlap period has passed since its successor
 * became active.
 */
import { buildApiKeySecret } from '../cluster/triton';
import {
  ACTIVE_KEY_ANNOTATIONS,
  KEY_PURPOSES,
  type KeyPurpose,
  type KeyRing,
  LEGACY_ADMIN_KEY_ID,
  POD_KEY_ANNOTATIONS,
  parseKeyId,
} from '../domain/keys';
import type { KubernetesObject } from '../domain/plan';

export type { KeyRing } from '../domain/keys';

type Json = Record<string, unknown>;
const rec = (v: unknown): Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};

/** A freshly generated key for each purpose; used only if the decision needs it. */
export type FreshKeys = Readonly<Record<KeyPurpose, { id: string; value: string }>>;

/** The ring a live Secret holds; undefined when there is no Secret or it holds no key. */
export function keyRingOf(secret: unknown): KeyRing | undefined {
  const data = rec(rec(secret).data);
  const keys: Record<string, string> = {};
  for (const [id, value] of Object.entries(data)) {
    if (typeof value !== 'string' || value === '') continue;
    keys[id] = Buffer.from(value, 'base64').toString('utf8');
  }
  if (Object.keys(keys).length === 0) return undefined;
  const annotations = rec(rec(rec(secret).metadata).annotations);
  const activeOf = (purpose: KeyPurpose): string | undefined => {
    const id = annotations[ACTIVE_KEY_ANNOTATIONS[purpose]];
    return typeof id === 'string' && keys[id] !== undefined ? id : undefined;
  };
  const admin =
    activeOf('admin') ??
    (keys[LEGACY_ADMIN_KEY_ID] !== undefined ? LEGACY_ADMIN_KEY_ID : newestOf(Object.keys(keys), 'admin'));
  if (admin === undefined) return undefined;
  const inference = activeOf('inference');
  return { keys, active: { admin, ...(inference === undefined ? {} : { inference }) } };
}

function newestOf(ids: readonly string[], purpose: KeyPurpose): string | undefined {
  return ids
    .map((id) => ({ id, parsed: parseKeyId(id) }))
    .filter((x) => x.parsed?.purpose === purpose)
    .sort((a, b) => (b.parsed?.createdAtMs ?? 0) - (a.parsed?.createdAtMs ?? 0))[0]?.id;
}

/** A new ring: an admin key, and an inference key when asked for. */
export function newKeyRing(fresh: FreshKeys, withInference: boolean): KeyRing {
  return {
    keys: {
      [fresh.admin.id]: fresh.admin.value,
      ...(withInference ? { [fresh.inference.id]: fresh.inference.value } : {}),
    },
    active: { admin: fresh.admin.id, ...(withInference ? { inference: fresh.inference.id } : {}) },
  };
}

/** The Secret holding a ring: every key under its id, the active ids in annotations. */
export function buildKeySecret(name: string, namespace: string, ring: KeyRing): KubernetesObject {
  return buildApiKeySecret(name, ring.keys, {
    namespace,
    annotations: {
      [ACTIVE_KEY_ANNOTATIONS.admin]: ring.active.admin,
      ...(ring.active.inference === undefined
        ? {}
        : { [ACTIVE_KEY_ANNOTATIONS.inference]: ring.active.inference }),
    },
  }) as KubernetesObject;
}

/** When a key was made: from its id, else (a legacy key) when its Secret was created. */
export function keyCreatedAtMs(id: string, secret: unknown): number | undefined {
  const parsed = parseKeyId(id);
  if (parsed) return parsed.createdAtMs;
  const created = rec(rec(secret).metadata).creationTimestamp;
  const ms = typeof created === 'string' ? Date.parse(created) : Number.NaN;
  return Number.isNaN(ms) ? undefined : ms;
}

/** The key ids a pod runs with, by its annotations (a pod started before key ids: the legacy key). */
export function podKeyIds(pod: unknown): string[] {
  const annotations = rec(rec(rec(pod).metadata).annotations);
  const ids = KEY_PURPOSES.map((p) => annotations[POD_KEY_ANNOTATIONS[p]]).filter(
    (v): v is string => typeof v === 'string',
  );
  return ids.length > 0 ? ids : [LEGACY_ADMIN_KEY_ID];
}

/** The key ids a Deployment's pod template names (what its next pods will run with). */
export function templateKeyIds(deployment: unknown): string[] {
  return podKeyIds(rec(rec(deployment).spec).template);
}

export interface KeyPolicy {
  rotateEveryDays: number;
  overlapMinutes: number;
  inferenceKey: boolean;
}

export interface PoolKeysInput {
  pool: string;
  secret: unknown;
  /** The live Deployment of the pool (its template says which ids new pods get). */
  deployment: unknown;
  /** Every pod of the pool, terminating ones included. */
  pods: readonly unknown[];
  policy: KeyPolicy;
  nowMs: number;
  fresh: FreshKeys;
  /** Rotate now whatever the keys' age (an operator's command). */
  force: boolean;
}

export type PoolKeysDecision =
  | { change: false; reason: string; ring?: KeyRing }
  | {
      change: true;
      ring: KeyRing;
      /** Purposes given a new active key (a rolling restart follows). */
      rotated: KeyPurpose[];
      /** Ids dropped from the Secret. */
      retired: string[];
      /** Whether the pod template changes (new active ids): a rolling restart. */
      rolls: boolean;
      reason: string;
    };

/**
 * What one pool's keys need now. A rotation of a purpose starts when its active key is older than
 * the rotation period (or on `force`), or when the policy turns the inference key on, and never
 * while a replaced key of that purpose is still held (one rotation at a time). Replaced keys are
 * retired once no pod and not the template uses them and `overlapMinutes` have passed since their
 * successor was made.
 */
export function decidePoolKeys(input: PoolKeysInput): PoolKeysDecision {
  const ring = keyRingOf(input.secret);
  if (!ring)
    return { change: false, reason: `pool ${input.pool} has no key Secret yet (deployModel makes it)` };
  const keys: Record<string, string> = { ...ring.keys };
  const active: KeyRing['active'] = { ...ring.active };
  const rotated: KeyPurpose[] = [];
  const notes: string[] = [];
  const maxAgeMs = input.policy.rotateEveryDays * 86_400_000;

  const purposeOf = (id: string): KeyPurpose | undefined =>
    id === LEGACY_ADMIN_KEY_ID ? 'admin' : parseKeyId(id)?.purpose;
  const pendingOf = (purpose: KeyPurpose) =>
    Object.keys(keys).filter((id) => purposeOf(id) === purpose && id !== active[purpose]);

  for (const purpose of KEY_PURPOSES) {
    const wanted = purpose === 'admin' || input.policy.inferenceKey;
    const current = active[purpose];
    if (!wanted) {
      if (current !== undefined) {
        delete active.inference;
        notes.push('inference key turned off by the policy');
      }
      continue;
    }
    const fresh = input.fresh[purpose];
    if (current === undefined) {
      keys[fresh.id] = fresh.value;
      active[purpose] = fresh.id;
      rotated.push(purpose);
      notes.push(`${purpose} key turned on by the policy`);
      continue;
    }
    const createdAt = keyCreatedAtMs(current, input.secret);
    const ageMs = createdAt === undefined ? Number.POSITIVE_INFINITY : input.nowMs - createdAt;
    const due = input.force || ageMs >= maxAgeMs;
    if (!due) continue;
    if (pendingOf(purpose).length > 0 && !input.force) {
      notes.push(`${purpose} key is due but the previous rotation is still rolling out`);
      continue;
    }
    keys[fresh.id] = fresh.value;
    active[purpose] = fresh.id;
    rotated.push(purpose);
    notes.push(
      input.force
        ? `${purpose} key rotated on request`
        : `${purpose} key ${current} is ${Number.isFinite(ageMs) ? `${Math.floor(ageMs / 86_400_000)} day(s) old` : 'of unknown age'} (rotate every ${input.policy.rotateEveryDays})`,
    );
  }

  // Retire replaced keys nobody can still need.
  const inUse = new Set([...input.pods.flatMap(podKeyIds), ...templateKeyIds(input.deployment)]);
  const retired: string[] = [];
  for (const id of Object.keys(keys).sort()) {
    const purpose = purposeOf(id);
    if (purpose !== undefined && active[purpose] === id) continue;
    if (id === active.admin || id === active.inference) continue;
    if (rotated.length > 0 && (purpose === undefined || rotated.includes(purpose))) continue;
    if (inUse.has(id)) continue;
    const successor = purpose === undefined ? undefined : active[purpose];
    const since = successor === undefined ? undefined : keyCreatedAtMs(successor, input.secret);
    if (since !== undefined && input.nowMs - since < input.policy.overlapMinutes * 60_000) {
      notes.push(`${id} is kept until the overlap period has passed`);
      continue;
    }
    delete keys[id];
    retired.push(id);
  }

  const next: KeyRing = { keys, active };
  const liveTemplate = templateKeyIds(input.deployment).sort().join(',');
  const wantTemplate = [active.admin, ...(active.inference === undefined ? [] : [active.inference])]
    .sort()
    .join(',');
  const rolls = input.deployment !== undefined && liveTemplate !== wantTemplate;
  const secretChanges =
    rotated.length > 0 ||
    retired.length > 0 ||
    active.inference !== ring.active.inference ||
    active.admin !== ring.active.admin;
  if (!secretChanges && !rolls) {
    return {
      change: false,
      reason: notes.length > 0 ? notes.join('; ') : 'keys are within their rotation period',
      ring,
    };
  }
  return {
    change: true,
    ring: next,
    rotated,
    retired,
    rolls,
    reason: [...notes, ...retired.map((id) => `${id} retired: no pod uses it`)].join('; ') || 'keys updated',
  };
}
