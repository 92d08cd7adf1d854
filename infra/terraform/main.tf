# The inferplane control plane in one project: APIs, the cluster (created or existing), buckets,
# topics, the four functions with their triggers and identities, alerting, the dashboard, and the
# policy file rendered with what is created here. Grants are in iam.tf, each with its reason.

data "google_project" "this" {
  depends_on = [google_project_service.this]
}

module "cluster" {
  source     = "./modules/cluster"
  create     = var.create_cluster
  name       = var.cluster_name
  location   = var.region
  network    = var.network
  subnetwork = var.subnetwork
  depends_on = [google_project_service.this]
}

module "storage" {
  source     = "./modules/storage"
  project    = var.project
  prefix     = var.name_prefix
  location   = var.region
  depends_on = [google_project_service.this]
}

locals {
  buckets = module.storage.names

  # The policy file as uploaded: the operator's, with its cluster section made to name what exists.
  # Without this every upload would be skipped as "not the incoming bucket".
  policy_source = yamldecode(file(var.policy_file))
  policy = merge(local.policy_source, {
    cluster = merge(try(local.policy_source.cluster, {}), {
      project          = var.project
      location         = module.cluster.location
      name             = module.cluster.name
      namespace        = var.namespace
      repositoryBucket = local.buckets.repository
      incomingBucket   = local.buckets.incoming
      tritonImage      = var.triton_image
      # The Kubernetes ServiceAccount the control plane creates names this account (Workload Identity).
      tritonServiceAccount = google_service_account.triton.email
    })
  })
  policy_object = "policy/policy.yaml"

  # CONFIG_REFERENCE (shared/runtime/config.ts): what every function reads.
  common_env = {
    INFERPLANE_PROJECT           = var.project
    INFERPLANE_LOCATION          = module.cluster.location
    INFERPLANE_CLUSTER           = module.cluster.name
    INFERPLANE_NAMESPACE         = var.namespace
    INFERPLANE_REPOSITORY_BUCKET = local.buckets.repository
    INFERPLANE_STATE_BUCKET      = local.buckets.state
    INFERPLANE_POLICY            = "gs://${local.buckets.state}/${local.policy_object}"
    INFERPLANE_EVENTS_TOPIC      = google_pubsub_topic.events.id
    INFERPLANE_TRITON_URL        = var.triton_url
    INFERPLANE_DRY_RUN           = tostring(var.dry_run)
    INFERPLANE_LOG_LEVEL         = var.log_level
  }

  functions = {
    deployModel = {
      account = google_service_account.function["deployModel"].email
      env     = local.common_env
      triggers = {
        upload = { event_type = "google.cloud.storage.object.v1.finalized", bucket = local.buckets.incoming }
      }
    }
    scaleOnAlert = {
      account = google_service_account.function["scaleOnAlert"].email
      env     = local.common_env
      triggers = {
        alert = { event_type = "google.cloud.pubsub.topic.v1.messagePublished", topic = google_pubsub_topic.alerts.id }
        # Ticks expire scale-outs whose close notification was lost.
        tick = { event_type = "google.cloud.pubsub.topic.v1.messagePublished", topic = google_pubsub_topic.ticks.id }
      }
    }
    applySchedules = {
      account = google_service_account.function["applySchedules"].email
      env     = local.common_env
      triggers = {
        tick = { event_type = "google.cloud.pubsub.topic.v1.messagePublished", topic = google_pubsub_topic.ticks.id }
      }
    }
    rotateSecurity = {
      account = google_service_account.function["rotateSecurity"].email
      env     = merge(local.common_env, { INFERPLANE_SECURITY_BUCKET = local.buckets.security })
      triggers = {
        tick   = { event_type = "google.cloud.pubsub.topic.v1.messagePublished", topic = google_pubsub_topic.security_ticks.id }
        bundle = { event_type = "google.cloud.storage.object.v1.finalized", bucket = local.buckets.security }
      }
    }
  }
}

resource "google_storage_bucket_object" "policy" {
  name         = local.policy_object
  bucket       = local.buckets.state
  content      = yamlencode(local.policy)
  content_type = "application/yaml"
}

module "function" {
  source   = "./modules/function"
  for_each = local.functions

  name                          = each.key
  region                        = var.region
  project                       = var.project
  source_dir                    = var.dist_dir
  sources_bucket                = local.buckets.sources
  build_service_account         = google_service_account.build.id
  service_account_email         = each.value.account
  trigger_service_account_email = google_service_account.trigger.email
  environment                   = each.value.env
  network                       = var.network
  subnetwork                    = var.subnetwork
  triggers                      = each.value.triggers
  dead_letter_topic             = google_pubsub_topic.dead_letter.id
  max_delivery_attempts         = var.max_delivery_attempts
  pubsub_service_agent          = local.pubsub_agent

  # The identities must hold their roles, and the service agents theirs, before a build runs or a
  # trigger is validated; time_sleep.iam_propagation waits for IAM to converge.
  depends_on = [time_sleep.iam_propagation, google_storage_bucket_object.policy]
}

module "monitoring" {
  source                           = "./modules/monitoring"
  prefix                           = var.name_prefix
  cluster                          = module.cluster.name
  namespace                        = var.namespace
  notification_channel             = google_monitoring_notification_channel.alerts.id
  queue_to_compute_ratio_threshold = var.queue_to_compute_ratio_threshold
  gpu_idle_duty_cycle_threshold    = var.gpu_idle_duty_cycle_threshold
  depends_on                       = [google_project_service.this]
}
