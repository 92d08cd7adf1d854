// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are HCL expressions as hcl2json prints them, not templates
/**
 * The Terraform, read as HCL (no provider needed: this machine reaches no Terraform registry), held
 * to what the functions and the README say: every function folder is deployed under its own name
 * and entry point, with every variable its configuration requires; the triggers and scheduler
 * payloads are the ones the functions parse; every role granted is in the README's table and none
 * of the over-broad ones is; triggers wait for their grants; Workload Identity members come from
 * the cluster; buckets, ingress, egress and the cluster are hardened as the README says; and the
 * uploaded policy's cluster section names what Terraform creates. `terraform fmt -check` runs where
 * terraform is installed.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseHcl } from '@cdktf/hcl2json';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseSchedulerCommand } from '../../events/scheduler';
import { listFunctions } from '../../scripts/build';
import { desiredPool } from '../../shared/cluster/desired';
import { loadPolicy } from '../../shared/policy/load';
import { policySchema } from '../../shared/policy/schema';
import { CONFIG_REFERENCE } from '../../shared/runtime/config';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const TF = path.join(ROOT, 'infra', 'terraform');
const FUNCTIONS = ['deployModel', 'scaleOnAlert', 'applySchedules', 'rotateSecurity'];

type Json = Record<string, unknown>;
/** One Terraform module: its files' blocks merged, and its text for expression checks. */
interface Module {
  resources: Record<string, Record<string, Json>>;
  data: Record<string, Record<string, Json>>;
  locals: Json;
  modules: Record<string, Json>;
  outputs: Record<string, Json>;
  text: string;
}

const obj = (v: unknown): Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
/** hcl2json wraps every block in a list; the first (only) element. */
const first = (v: unknown): Json => obj(Array.isArray(v) ? v[0] : v);

async function loadModule(dir: string): Promise<Module> {
  const mod: Module = { resources: {}, data: {}, locals: {}, modules: {}, outputs: {}, text: '' };
  for (const name of (await readdir(dir)).filter((f) => f.endsWith('.tf')).sort()) {
    const text = await readFile(path.join(dir, name), 'utf8');
    mod.text += `${text}\n`;
    const hcl = obj(await parseHcl(name, text));
    for (const [kind, into] of [
      ['resource', mod.resources],
      ['data', mod.data],
    ] as const) {
      for (const [type, byName] of Object.entries(obj(hcl[kind]))) {
        const blocks = into[type] ?? {};
        for (const [n, body] of Object.entries(obj(byName))) blocks[n] = first(body);
        into[type] = blocks;
      }
    }
    for (const l of Array.isArray(hcl.locals) ? hcl.locals : []) Object.assign(mod.locals, obj(l));
    for (const [n, body] of Object.entries(obj(hcl.module))) mod.modules[n] = first(body);
    for (const [n, body] of Object.entries(obj(hcl.output))) mod.outputs[n] = first(body);
  }
  return mod;
}

const roleRe = /roles\/[A-Za-z.]+/g;
const rolesIn = (text: string): string[] => [...new Set(text.match(roleRe) ?? [])].sort();

/** Roles of the README's "Identities and grants" table, with the "On" column of each. */
function readmeGrants(readme: string): { role: string; on: string }[] {
  const start = readme.indexOf('### Identities and grants');
  const section = readme.slice(start, readme.indexOf('\n### ', start + 1));
  return section
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| Identity') && !l.startsWith('|---'))
    .flatMap((l) => {
      const [, , role = '', on = ''] = l.split('|').map((c) => c.trim());
      const roles = [...(role.match(roleRe) ?? []), ...(role.match(/_(node_pools|cluster_reader)/g) ?? [])];
      return roles.map((r) => ({ role: r, on }));
    });
}

let root: Module;
let fn: Module;
let cluster: Module;
let storage: Module;
let monitoring: Module;
let readme: string;

beforeAll(async () => {
  const load = (d: string) => loadModule(path.join(TF, d));
  [root, fn, cluster, storage, monitoring] = await Promise.all([
    load(''),
    load('modules/function'),
    load('modules/cluster'),
    load('modules/storage'),
    load('modules/monitoring'),
  ]);
  readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
});

const terraformInstalled = await promisify(execFile)('terraform', ['version']).then(
  () => true,
  () => false,
);

describe('terraform fmt', () => {
  it.skipIf(!terraformInstalled)('every file is formatted (terraform fmt -check -recursive)', async () => {
    // Act
    const result = await promisify(execFile)('terraform', [
      'fmt',
      '-check',
      '-recursive',
      '-list=true',
      TF,
    ]).then(
      (r) => ({ code: 0, out: r.stdout }),
      (err: { code?: number; stdout?: string }) => ({ code: err.code ?? 1, out: err.stdout ?? '' }),
    );

    // Assess
    expect(result.out).toBe('');
    expect(result.code).toBe(0);
  });
  if (!terraformInstalled) console.warn('terraform is not installed here: the fmt check is skipped');
});

describe('functions', () => {
  const functionsLocal = () => obj(root.locals.functions);

  it('deploys the four functions, and every functions/<name>/ folder is one of them', async () => {
    // Act
    const folders = await listFunctions();

    // Assess
    expect(Object.keys(functionsLocal()).sort()).toEqual([...FUNCTIONS].sort());
    for (const f of folders) expect(FUNCTIONS).toContain(f);
    expect(root.modules.function?.for_each).toBe('${local.functions}');
    expect(root.modules.function?.name).toBe('${each.key}');
  });

  it('names each function, its entry point and its bundle after the function, on nodejs22, with a build account', () => {
    // Prepare
    const f = fn.resources.google_cloudfunctions2_function?.this ?? {};
    const build = first(f.build_config);

    // Assess
    expect(f.name).toBe('${var.name}');
    expect(build.entry_point).toBe('${var.name}');
    expect(build.runtime).toBe('nodejs22');
    expect(build.service_account).toBe('${var.build_service_account}');
    expect(root.modules.function?.build_service_account).toBe('${google_service_account.build.id}');
    expect(fn.data.archive_file?.source?.source_dir).toBe('${var.source_dir}/${var.name}');
  });

  it('gives every function every variable its configuration requires, and no unknown one', () => {
    // Prepare
    const common = obj(root.locals.common_env);
    const known = new Set([...CONFIG_REFERENCE.map((v) => v.name), 'INFERPLANE_SECURITY_BUCKET']);

    // Assess: the shared environment...
    for (const v of CONFIG_REFERENCE.filter((r) => r.required)) expect(Object.keys(common)).toContain(v.name);
    for (const k of Object.keys(common)) expect(known).toContain(k);
    expect(common.INFERPLANE_POLICY).toBe('gs://${local.buckets.state}/${local.policy_object}');
    // ...reaches every function, rotateSecurity with its bucket too.
    for (const name of FUNCTIONS)
      expect(String(obj(functionsLocal()[name]).env)).toContain('local.common_env');
    expect(String(obj(functionsLocal().rotateSecurity).env)).toMatch(
      /INFERPLANE_SECURITY_BUCKET\s*=\s*local\.buckets\.security/,
    );
    expect(
      first(fn.resources.google_cloudfunctions2_function?.this?.service_config).environment_variables,
    ).toBe('${var.environment}');
  });

  it.each([
    [
      'deployModel',
      {
        upload: {
          event_type: 'google.cloud.storage.object.v1.finalized',
          bucket: '${local.buckets.incoming}',
        },
      },
    ],
    [
      'scaleOnAlert',
      {
        alert: {
          event_type: 'google.cloud.pubsub.topic.v1.messagePublished',
          topic: '${google_pubsub_topic.alerts.id}',
        },
        tick: {
          event_type: 'google.cloud.pubsub.topic.v1.messagePublished',
          topic: '${google_pubsub_topic.ticks.id}',
        },
      },
    ],
    [
      'applySchedules',
      {
        tick: {
          event_type: 'google.cloud.pubsub.topic.v1.messagePublished',
          topic: '${google_pubsub_topic.ticks.id}',
        },
      },
    ],
    [
      'rotateSecurity',
      {
        tick: {
          event_type: 'google.cloud.pubsub.topic.v1.messagePublished',
          topic: '${google_pubsub_topic.security_ticks.id}',
        },
        bundle: {
          event_type: 'google.cloud.storage.object.v1.finalized',
          bucket: '${local.buckets.security}',
        },
      },
    ],
  ])('%s is triggered by its sources', (name, triggers) => {
    expect(obj(functionsLocal()[name]).triggers).toEqual(triggers);
  });

  it.each([
    ['ticks', 'schedules', 'reconcile-schedules'],
    ['security_ticks', 'security', 'rotate-security'],
  ])('the scheduler job on %s publishes the command its function parses', (topic, job, command) => {
    // Prepare
    const target = first(root.resources.google_cloud_scheduler_job?.[job]?.pubsub_target);
    const fields = Object.fromEntries(
      [...String(target.data).matchAll(/(\w+)\s*=\s*"([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );

    // Act
    const parsed = parseSchedulerCommand(fields);

    // Assess
    expect(target.topic_name).toBe(`\${google_pubsub_topic.${topic}.id}`);
    expect(String(target.data)).toMatch(/^\$\{base64encode\(jsonencode\(/);
    expect(parsed.command).toBe(command);
  });

  it('is reachable only from inside the project, and reaches the cluster by Direct VPC egress', () => {
    // Prepare
    const service = first(fn.resources.google_cloudfunctions2_function?.this?.service_config);

    // Assess
    expect(service.ingress_settings).toBe('ALLOW_INTERNAL_ONLY');
    expect(service.direct_vpc_egress).toBe('VPC_EGRESS_PRIVATE_RANGES_ONLY');
    expect(first(service.direct_vpc_network_interface)).toEqual({
      network: '${var.network}',
      subnetwork: '${var.subnetwork}',
    });
    expect(service.vpc_connector).toBeUndefined();
    expect(root.text).not.toMatch(/vpc_connector/);
  });
});

describe('triggers and propagation', () => {
  it('creates each trigger only after its invoker grant has propagated, and gives it a dead letter', () => {
    // Prepare
    const trigger = fn.resources.google_eventarc_trigger?.this ?? {};
    const sleep = fn.resources.time_sleep?.invoker_propagation ?? {};
    const invoker = fn.resources.google_cloud_run_v2_service_iam_member?.trigger_invokes ?? {};

    // Assess
    expect(trigger.depends_on).toEqual(['${time_sleep.invoker_propagation}']);
    expect(sleep.depends_on).toEqual(['${google_cloud_run_v2_service_iam_member.trigger_invokes}']);
    expect(invoker.role).toBe('roles/run.invoker');
    expect(invoker.member).toBe('serviceAccount:${var.trigger_service_account_email}');
    expect(trigger.service_account).toBe('${var.trigger_service_account_email}');
    expect(String(fn.text)).toMatch(/--dead-letter-topic=\$\{var\.dead_letter_topic\}/);
    expect(fn.resources.google_pubsub_subscription_iam_member?.dead_letter_subscriber?.role).toBe(
      'roles/pubsub.subscriber',
    );
  });

  it('builds and triggers nothing before the project-level grants and service agents have theirs', () => {
    // Prepare
    const waitsFor = (root.resources.time_sleep?.iam_propagation?.depends_on ?? []) as string[];
    const iamResources = Object.entries(root.resources)
      .filter(([type]) => type.endsWith('_iam_member'))
      .flatMap(([type, byName]) => Object.keys(byName).map((n) => `\${${type}.${n}}`))
      .filter((ref) => !/workload_identity|triton_repository|metrics_adapter_reads/.test(ref));

    // Assess
    expect(root.modules.function?.depends_on).toContain('${time_sleep.iam_propagation}');
    expect([...waitsFor].sort()).toEqual([...iamResources].sort());
  });

  it('enables every API the configuration and the functions call', () => {
    expect(root.resources.google_project_service?.this?.for_each).toBe('${toset(local.apis)}');
    expect(root.resources.google_project_service?.this?.disable_on_destroy).toBe(false);
    for (const api of [
      'artifactregistry',
      'cloudbuild',
      'cloudfunctions',
      'cloudscheduler',
      'compute',
      'container',
      'eventarc',
      'iam',
      'logging',
      'monitoring',
      'pubsub',
      'run',
      'storage',
    ])
      expect(root.locals.apis).toContain(`${api}.googleapis.com`);
  });
});

describe('grants', () => {
  it('grants no role the README does not list, and the README lists none it does not grant', () => {
    // Prepare
    const granted = rolesIn(root.text + fn.text);
    const listed = [...new Set(readmeGrants(readme).map((g) => g.role))].filter((r) =>
      r.startsWith('roles/'),
    );

    // Assess
    expect(granted).toEqual([...listed].sort());
    expect(readmeGrants(readme).some((g) => g.role === '_node_pools')).toBe(true);
    expect(readmeGrants(readme).some((g) => g.role === '_cluster_reader')).toBe(true);
  });

  it('grants at project level only what the README says is project level, and nothing over-broad', () => {
    // Prepare
    const projectLevel = Object.values(root.resources.google_project_iam_member ?? {});
    const projectRoles = rolesIn(projectLevel.map((m) => `${m.role} ${m.for_each ?? ''}`).join(' '));
    const listedProject = readmeGrants(readme)
      .filter((g) => g.on === 'project')
      .map((g) => g.role);

    // Assess
    for (const r of projectRoles) expect(listedProject).toContain(r);
    for (const forbidden of [
      'roles/container.admin',
      'roles/container.clusterAdmin',
      'roles/container.developer',
      'roles/owner',
      'roles/editor',
      'roles/storage.admin',
      'roles/storage.objectAdmin',
      'roles/iam.serviceAccountTokenCreator',
    ])
      expect(rolesIn(root.text + fn.text)).not.toContain(forbidden);
    expect(projectRoles).not.toContain('roles/iam.serviceAccountUser');
    expect(projectRoles).not.toContain('roles/run.invoker');
  });

  it('lets only the node pool operators change node pools, and deployModel act as the nodes only', () => {
    // Prepare
    const roles = root.resources.google_project_iam_custom_role ?? {};
    const actAs = root.resources.google_service_account_iam_member?.deploy_acts_as_nodes ?? {};

    // Assess
    expect(roles.node_pools?.permissions).toEqual([
      'container.clusters.get',
      'container.clusters.getCredentials',
      'container.clusters.update',
      'container.operations.get',
      'container.operations.list',
    ]);
    expect(roles.cluster_reader?.permissions).toEqual([
      'container.clusters.get',
      'container.clusters.getCredentials',
    ]);
    expect(root.locals.node_pool_operators).toBe(
      '${toset(["deployModel", "scaleOnAlert", "applySchedules"])}',
    );
    expect(actAs.role).toBe('roles/iam.serviceAccountUser');
    expect(actAs.service_account_id).toBe('projects/${var.project}/serviceAccounts/${local.node_account}');
  });

  it('reads the incoming bucket and never writes it', () => {
    const grants = Object.values(obj(root.locals.bucket_grants)).map(obj);
    expect(grants.filter((g) => g.bucket === 'incoming').map((g) => g.role)).toEqual([
      'roles/storage.objectViewer',
    ]);
  });

  it('binds Workload Identity through the cluster identity pool, never a string of its own', () => {
    // Prepare
    const bindings = Object.values(root.resources.google_service_account_iam_member ?? {}).filter(
      (b) => b.role === 'roles/iam.workloadIdentityUser',
    );

    // Assess
    expect(bindings.map((b) => b.member).sort()).toEqual([
      'serviceAccount:${module.cluster.workload_pool}[${var.namespace}/triton]',
      'serviceAccount:${module.cluster.workload_pool}[custom-metrics/custom-metrics-stackdriver-adapter]',
    ]);
    expect(cluster.outputs.workload_pool?.value).toBe('${local.workload_identity[0].workload_pool}');
    expect(String(cluster.locals.workload_identity)).toContain(
      'google_container_cluster.this[0].workload_identity_config',
    );
    expect(root.text).not.toMatch(/svc\.id\.goog/);
  });

  it('lets the monitoring notification agent publish on the alerts topic, for a pubsub channel', () => {
    const grant = root.resources.google_pubsub_topic_iam_member?.monitoring_publishes_alerts ?? {};
    const channel = root.resources.google_monitoring_notification_channel?.alerts ?? {};
    expect(grant.topic).toBe('${google_pubsub_topic.alerts.id}');
    expect(grant.member).toMatch(/@gcp-sa-monitoring-notification\.iam\.gserviceaccount\.com$/);
    expect(channel.type).toBe('pubsub');
    expect(obj(channel.labels).topic).toBe('${google_pubsub_topic.alerts.id}');
  });
});

describe('cluster, buckets, alerting', () => {
  it('creates a cluster that enforces NetworkPolicy and runs Managed Prometheus', () => {
    const c = cluster.resources.google_container_cluster?.this ?? {};
    expect(c.datapath_provider).toBe('ADVANCED_DATAPATH');
    expect(c.networking_mode).toBe('VPC_NATIVE');
    expect(first(first(c.monitoring_config).managed_prometheus).enabled).toBe(true);
    expect(first(c.workload_identity_config).workload_pool).toBe(
      '${data.google_project.this.project_id}.svc.id.goog',
    );
  });

  it('creates every bucket with uniform access and public access prevented, the repository versioned', () => {
    const buckets = obj(storage.locals.buckets);
    const b = storage.resources.google_storage_bucket?.this ?? {};
    expect(Object.keys(buckets).sort()).toEqual(['incoming', 'repository', 'security', 'sources', 'state']);
    expect(obj(buckets.repository).versioning).toBe(true);
    expect(b.uniform_bucket_level_access).toBe(true);
    expect(b.public_access_prevention).toBe('enforced');
  });

  it('alert policies notify on open and close, labelled with the action the policy rules match', async () => {
    // Prepare
    const example = loadPolicy(await readFile(path.join(ROOT, 'examples', 'policy.yaml'), 'utf8'));
    const policies = monitoring.resources.google_monitoring_alert_policy ?? {};

    // Assess
    for (const p of Object.values(policies)) {
      expect(first(p.alert_strategy).notification_prompts).toEqual(['OPENED', 'CLOSED']);
      expect(p.notification_channels).toEqual(['${var.notification_channel}']);
      const rule = example.alertRules.find((r) => r.match.policyName === p.display_name);
      expect(rule).toBeDefined();
      for (const [k, v] of Object.entries(rule?.match.userLabels ?? {}))
        expect(obj(p.user_labels)[k]).toBe(v);
    }
    expect(Object.keys(policies).sort()).toEqual(['gpu_idle', 'queue_high']);
  });
});

describe('the uploaded policy', () => {
  it('replaces every field of the cluster section with what Terraform creates', () => {
    // Prepare
    const rendered = String(root.locals.policy);
    const fields = Object.fromEntries(
      [...rendered.matchAll(/^\s+(\w+)\s+=\s+(\S+)$/gm)].map((m) => [m[1], m[2]]),
    );

    // Assess: every field the schema's cluster section has, and each from a created resource
    expect(Object.keys(fields).sort()).toEqual(Object.keys(policySchema.shape.cluster.shape).sort());
    expect(fields).toMatchObject({
      repositoryBucket: 'local.buckets.repository',
      incomingBucket: 'local.buckets.incoming',
      name: 'module.cluster.name',
      location: 'module.cluster.location',
      project: 'var.project',
      namespace: 'var.namespace',
      tritonServiceAccount: 'google_service_account.triton.email',
    });
    expect(root.resources.google_storage_bucket_object?.policy?.content).toBe('${yamlencode(local.policy)}');
  });

  it('the example policy, rendered that way, loads', async () => {
    // Prepare: what yamlencode(merge(...)) uploads, with Terraform's default names
    const source = parseYaml(await readFile(path.join(ROOT, 'examples', 'policy.yaml'), 'utf8')) as Json;
    const rendered = {
      ...source,
      cluster: {
        ...obj(source.cluster),
        project: 'my-project',
        location: 'us-central1',
        name: 'inference',
        namespace: 'triton',
        repositoryBucket: 'my-project-inferplane-repository',
        incomingBucket: 'my-project-inferplane-incoming',
        tritonImage: 'nvcr.io/nvidia/tritonserver:25.01-py3',
        tritonServiceAccount: 'inferplane-triton@my-project.iam.gserviceaccount.com',
      },
    };

    // Act
    const policy = loadPolicy(JSON.stringify(rendered));
    const pool = desiredPool({ policy, gpuClassId: 'l4', models: [policy.modelDefaults], adminKey: 'k' });
    const account = pool.objects.find((o) => o.kind === 'ServiceAccount') as
      | { metadata: { name: string; annotations?: Record<string, string> } }
      | undefined;

    // Assess: the buckets Terraform made, and Triton's pods run as Terraform's account
    expect(policy.cluster.incomingBucket).toBe('my-project-inferplane-incoming');
    expect(account?.metadata.name).toBe('triton');
    expect(account?.metadata.annotations?.['iam.gke.io/gcp-service-account']).toBe(
      'inferplane-triton@my-project.iam.gserviceaccount.com',
    );
    expect(
      String(root.resources.google_service_account_iam_member?.triton_workload_identity?.member),
    ).toContain('/triton]');
  });
});
