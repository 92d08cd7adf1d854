/**
 * Triton API keys as the control plane keeps them: one Kubernetes Secret per pool holds every key
 * still valid, each under its key id; annotations say which id is active (what new pods get) and
 * which id each pod runs with. Triton takes exactly one key per API group on its command line, so a
 * rotation is a rolling restart and callers pick the key of the pod they talk to.
 *
 * Key ids are never secret (they appear in logs, plans and events); key values never leave the
 * Secret and the memory of the caller that reads it.
 */

export type KeyPurpose = 'admin' | 'inference';

export const KEY_PURPOSES: readonly KeyPurpose[] = ['admin', 'inference'];

/** On the Secret: the id of the key new pods get, per purpose. */
export const ACTIVE_KEY_ANNOTATIONS: Readonly<Record<KeyPurpose, string>> = {
  admin: 'inferplane.dev/active-admin-key-id',
  inference: 'inferplane.dev/active-inference-key-id',
};

/** On each pod (from its Deployment's template): the id of the key that pod's Triton runs with. */
export const POD_KEY_ANNOTATIONS: Readonly<Record<KeyPurpose, string>> = {
  admin: 'inferplane.dev/admin-key-id',
  inference: 'inferplane.dev/inference-key-id',
};

/** The data key of the admin key Secrets written before key ids existed. */
export const LEGACY_ADMIN_KEY_ID = 'admin-key';

/** The headers Triton's restricted API groups demand. */
export const KEY_HEADERS: Readonly<Record<KeyPurpose, string>> = {
  admin: 'inferplane-admin-key',
  inference: 'inferplane-inference-key',
};

export interface KeyRing {
  /** Key values by id: every key still valid. */
  keys: Readonly<Record<string, string>>;
  /** The id new pods run with, per purpose (inference only where the policy turns it on). */
  active: { admin: string; inference?: string };
}

/**
 * The key a pod runs with: the one its annotation names, else (a pod started before key ids) the
 * legacy admin key, else the active one. Undefined when the Secret no longer holds it.
 */
export function keyForPod(
  ring: KeyRing,
  podAnnotations: Readonly<Record<string, string>> | undefined,
  purpose: KeyPurpose = 'admin',
): string | undefined {
  const id = podAnnotations?.[POD_KEY_ANNOTATIONS[purpose]];
  if (id !== undefined) return ring.keys[id];
  if (purpose === 'admin' && ring.keys[LEGACY_ADMIN_KEY_ID] !== undefined)
    return ring.keys[LEGACY_ADMIN_KEY_ID];
  const active = ring.active[purpose];
  return active === undefined ? undefined : ring.keys[active];
}

const KEY_ID = /^(admin|inference)-(\d{8})T(\d{6})Z-[0-9a-f]{6,}$/;

/** `admin-20261201T235600Z-a1b2c3`: purpose, creation time (UTC), a random suffix. */
export function makeKeyId(purpose: KeyPurpose, createdAtMs: number, suffixHex: string): string {
  const iso = new Date(createdAtMs).toISOString(); // 2026-12-01T23:56:00.000Z
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return `${purpose}-${stamp}-${suffixHex}`;
}

/** The purpose and creation time a key id records; undefined for ids this product did not make. */
export function parseKeyId(id: string): { purpose: KeyPurpose; createdAtMs: number } | undefined {
  const m = KEY_ID.exec(id);
  if (!m) return undefined;
  const d = m[2] as string;
  const t = m[3] as string;
  const ms = Date.UTC(
    Number(d.slice(0, 4)),
    Number(d.slice(4, 6)) - 1,
    Number(d.slice(6, 8)),
    Number(t.slice(0, 2)),
    Number(t.slice(2, 4)),
    Number(t.slice(4, 6)),
  );
  return Number.isNaN(ms) ? undefined : { purpose: m[1] as KeyPurpose, createdAtMs: ms };
}
