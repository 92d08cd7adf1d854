/**
 * The Kubernetes port: plain JSON objects in, plain JSON objects out. The adapter
 * (shared/adapters/kubernetes.ts) implements it over @kubernetes/client-node; nothing above the
 * adapters sees the client.
 */
import type { KubernetesObject } from '../domain/plan';
import { ControlPlaneError } from '../runtime/errors';

/** The identity of one object. `namespace` is omitted for cluster-scoped kinds. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string | undefined;
}

/** An object as the apiserver returns it: identity plus every other field, untyped. */
export type LiveObject = KubernetesObject & {
  metadata: KubernetesObject['metadata'] & {
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    annotations?: Record<string, string>;
    managedFields?: unknown[];
    [key: string]: unknown;
  };
  [key: string]: unknown;
};

export interface ApplyOptions {
  /** `dryRun=All`: the apiserver validates, defaults and merges, and stores nothing. */
  dryRun?: boolean;
  /** Server-side apply field manager; defaults to the adapter's. */
  fieldManager?: string;
  /** Take over fields owned by other managers instead of answering 409. */
  force?: boolean;
}

export interface KubeObjects {
  /** The live object, or undefined when it (or its namespace) does not exist. */
  get(ref: ObjectRef): Promise<LiveObject | undefined>;
  /** Server-side apply (`application/apply-patch+yaml`); returns what the apiserver stored (or would). */
  apply(obj: KubernetesObject, opts?: ApplyOptions): Promise<LiveObject>;
  /** true when deleted, false when it was already gone. */
  delete(ref: ObjectRef, opts?: { dryRun?: boolean }): Promise<boolean>;
  list(apiVersion: string, kind: string, namespace?: string, labelSelector?: string): Promise<LiveObject[]>;
  /** The scale subresource of a workload (`deployments/{name}/scale`); undefined when it does not exist. */
  getScale(ref: ObjectRef): Promise<WorkloadScale | undefined>;
  /**
   * Sets `spec.replicas` through the scale subresource, conditional on `resourceVersion` when
   * given (a KubeApiError 409 when the workload changed since).
   */
  setScale(ref: ObjectRef, replicas: number, opts?: { resourceVersion?: string }): Promise<WorkloadScale>;
}

export interface WorkloadScale {
  /** `spec.replicas`. */
  replicas: number;
  /** `status.replicas`. */
  currentReplicas: number;
  resourceVersion: string;
}

export interface KubeStatusCause {
  reason?: string | undefined;
  message?: string | undefined;
  field?: string | undefined;
}

/** The apiserver answered with a non-2xx status. Retry policy is the caller's (see kube-applier). */
export class KubeApiError extends ControlPlaneError {
  override name = 'KubeApiError';
  /** HTTP status. */
  readonly code: number;
  /** The Status `reason` (`Invalid`, `Conflict`, `NotFound`, ...), or '' when the body had none. */
  readonly statusReason: string;
  /** The Status `message` alone (without code and reason). */
  readonly apiMessage: string;
  readonly causes: readonly KubeStatusCause[];
  /** Raw `Retry-After` header, when the server sent one (429, some 5xx). */
  readonly retryAfter: string | undefined;

  constructor(args: {
    code: number;
    statusReason: string;
    apiMessage: string;
    causes?: readonly KubeStatusCause[];
    retryAfter?: string | undefined;
  }) {
    super(`KUBE_HTTP_${args.code}`, `${args.code} ${args.statusReason || 'Error'}: ${args.apiMessage}`, {
      details: {
        code: args.code,
        statusReason: args.statusReason,
        causes: (args.causes ?? []).map((c) => ({ ...c })),
      },
    });
    this.code = args.code;
    this.statusReason = args.statusReason;
    this.apiMessage = args.apiMessage;
    this.causes = args.causes ?? [];
    this.retryAfter = args.retryAfter;
  }
}

/** No HTTP answer at all: refused, reset, timed out. Always worth a retry. */
/** No HTTP answer at all: refused, reset, timed out. Always worth a retry. */
export class KubeConnectionError extends ControlPlaneError {
  override name = 'KubeConnectionError';
  constructor(message: string, cause: unknown) {
    super('KUBE_CONNECTION', message, { cause });
  }
}
