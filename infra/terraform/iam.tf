# Identities and every grant, each at the narrowest level the service offers. The README's
# "Identities and grants" table lists the same grants; test/infra/terraform.test.ts fails when
# they differ.

locals {
  number         = data.google_project.this.number
  pubsub_agent   = "service-${local.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  node_account   = coalesce(var.node_service_account, "${local.number}-compute@developer.gserviceaccount.com")
  function_names = ["deployModel", "scaleOnAlert", "applySchedules", "rotateSecurity"]
  account_ids = {
    deployModel    = "${var.name_prefix}-deploy"
    scaleOnAlert   = "${var.name_prefix}-scale"
    applySchedules = "${var.name_prefix}-schedules"
    rotateSecurity = "${var.name_prefix}-security"
  }
  # Functions that change node pools (create, resize, delete); the others only read the cluster.
  node_pool_operators = toset(["deployModel", "scaleOnAlert", "applySchedules"])
}

# ---- Service accounts

resource "google_service_account" "function" {
  for_each     = toset(local.function_names)
  account_id   = local.account_ids[each.key]
  display_name = "inferplane ${each.key}"
  depends_on   = [google_project_service.this]
}

resource "google_service_account" "build" {
  account_id   = "${var.name_prefix}-build"
  display_name = "inferplane function builds"
  depends_on   = [google_project_service.this]
}

resource "google_service_account" "trigger" {
  account_id   = "${var.name_prefix}-trigger"
  display_name = "inferplane Eventarc triggers"
  depends_on   = [google_project_service.this]
}

resource "google_service_account" "triton" {
  account_id   = "${var.name_prefix}-triton"
  display_name = "Triton model repository reader"
  depends_on   = [google_project_service.this]
}

resource "google_service_account" "metrics_adapter" {
  account_id   = "${var.name_prefix}-metrics"
  display_name = "Custom Metrics Stackdriver Adapter (HPA external metrics)"
  depends_on   = [google_project_service.this]
}

# ---- GKE: custom roles instead of container.admin. Node pool create/delete/resize are
# container.clusters.update; reaching the apiserver needs get and getCredentials; what a function
# may do inside the cluster is Kubernetes RBAC's (infra/k8s/rbac.yaml, namespaced Roles).

resource "google_project_iam_custom_role" "node_pools" {
  role_id     = replace("${var.name_prefix}_node_pools", "-", "_")
  title       = "inferplane node pool operator"
  description = "Read the cluster, reach its apiserver, change its node pools, follow their operations."
  permissions = [
    "container.clusters.get",
    "container.clusters.getCredentials",
    "container.clusters.update",
    "container.operations.get",
    "container.operations.list",
  ]
}

resource "google_project_iam_custom_role" "cluster_reader" {
  role_id     = replace("${var.name_prefix}_cluster_reader", "-", "_")
  title       = "inferplane cluster reader"
  description = "Read the cluster and reach its apiserver (RBAC decides the rest)."
  permissions = [
    "container.clusters.get",
    "container.clusters.getCredentials",
  ]
}

resource "google_project_iam_member" "node_pools" {
  for_each = local.node_pool_operators
  project  = var.project
  role     = google_project_iam_custom_role.node_pools.id
  member   = google_service_account.function[each.key].member
}

resource "google_project_iam_member" "cluster_reader" {
  project = var.project
  role    = google_project_iam_custom_role.cluster_reader.id
  member  = google_service_account.function["rotateSecurity"].member
}

# Creating a node pool means acting as its nodes' service account: on that account only.
resource "google_service_account_iam_member" "deploy_acts_as_nodes" {
  service_account_id = "projects/${var.project}/serviceAccounts/${local.node_account}"
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.function["deployModel"].member
}

# scaleOnAlert and applySchedules read Triton's series (queue time, duty cycle) to size pools and
# write what they saved (custom.googleapis.com/inferplane/...); Monitoring grants at project level only.
resource "google_project_iam_member" "scaling_metrics" {
  for_each = {
    for pair in setproduct(["scaleOnAlert", "applySchedules"], ["roles/monitoring.viewer", "roles/monitoring.metricWriter"]) :
    "${pair[0]}-${pair[1]}" => { fn = pair[0], role = pair[1] }
  }
  project = var.project
  role    = each.value.role
  member  = google_service_account.function[each.value.fn].member
}

# ---- Buckets. objectViewer reads and lists; objectUser also writes and deletes, without IAM.

locals {
  bucket_grants = {
    deploy_incoming   = { bucket = "incoming", role = "roles/storage.objectViewer", fn = "deployModel" }
    deploy_repository = { bucket = "repository", role = "roles/storage.objectUser", fn = "deployModel" }
    deploy_state      = { bucket = "state", role = "roles/storage.objectUser", fn = "deployModel" }
    scale_state       = { bucket = "state", role = "roles/storage.objectUser", fn = "scaleOnAlert" }
    schedules_state   = { bucket = "state", role = "roles/storage.objectUser", fn = "applySchedules" }
    security_state    = { bucket = "state", role = "roles/storage.objectUser", fn = "rotateSecurity" }
    security_bundles  = { bucket = "security", role = "roles/storage.objectViewer", fn = "rotateSecurity" }
  }
}

resource "google_storage_bucket_iam_member" "function" {
  for_each = local.bucket_grants
  bucket   = local.buckets[each.value.bucket]
  role     = each.value.role
  member   = google_service_account.function[each.value.fn].member
}

# Every function reports its outcomes on the events topic.
resource "google_pubsub_topic_iam_member" "events" {
  for_each = toset(local.function_names)
  topic    = google_pubsub_topic.events.id
  role     = "roles/pubsub.publisher"
  member   = google_service_account.function[each.key].member
}

# ---- Builds: a dedicated account (new projects refuse the default one).

resource "google_project_iam_member" "build" {
  for_each = toset(["roles/logging.logWriter", "roles/artifactregistry.writer"])
  project  = var.project
  role     = each.value
  member   = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_sources" {
  bucket = local.buckets.sources
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

# ---- Triggers: Eventarc invokes the functions as this account (run.invoker is granted per
# function service, in the function module).

resource "google_project_iam_member" "trigger_receives" {
  project = var.project
  role    = "roles/eventarc.eventReceiver"
  member  = google_service_account.trigger.member
}

# Cloud Storage publishes finalize events through Pub/Sub on Eventarc's behalf.
data "google_storage_project_service_account" "gcs" {
  depends_on = [google_project_service.this]
}

resource "google_project_iam_member" "gcs_publishes" {
  project = var.project
  role    = "roles/pubsub.publisher"
  member  = data.google_storage_project_service_account.gcs.member
}

# Cloud Monitoring's notification service agent (created with the first channel) publishes incidents.
resource "google_pubsub_topic_iam_member" "monitoring_publishes_alerts" {
  topic      = google_pubsub_topic.alerts.id
  role       = "roles/pubsub.publisher"
  member     = "serviceAccount:service-${local.number}@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
  depends_on = [google_monitoring_notification_channel.alerts]
}

# Pub/Sub's service agent moves undeliverable events to the dead-letter topic.
resource "google_pubsub_topic_iam_member" "pubsub_dead_letters" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${local.pubsub_agent}"
}

# ---- Workload Identity, with members from the cluster's own identity pool.

resource "google_storage_bucket_iam_member" "triton_repository" {
  for_each = toset(["roles/storage.objectViewer", "roles/storage.legacyBucketReader"])
  bucket   = local.buckets.repository
  role     = each.value
  member   = google_service_account.triton.member
}

resource "google_service_account_iam_member" "triton_workload_identity" {
  service_account_id = google_service_account.triton.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${module.cluster.workload_pool}[${var.namespace}/triton]"
}

# The HPA reads Cloud Monitoring series (Managed Prometheus, GKE system metrics) through the adapter.
resource "google_project_iam_member" "metrics_adapter_reads" {
  project = var.project
  role    = "roles/monitoring.viewer"
  member  = google_service_account.metrics_adapter.member
}

resource "google_service_account_iam_member" "metrics_adapter_workload_identity" {
  service_account_id = google_service_account.metrics_adapter.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${module.cluster.workload_pool}[custom-metrics/custom-metrics-stackdriver-adapter]"
}

# IAM is eventually consistent; builds and trigger validation fail on grants not yet visible.
resource "time_sleep" "iam_propagation" {
  create_duration = "60s"
  depends_on = [
    google_project_iam_member.node_pools,
    google_project_iam_member.cluster_reader,
    google_project_iam_member.scaling_metrics,
    google_service_account_iam_member.deploy_acts_as_nodes,
    google_storage_bucket_iam_member.function,
    google_pubsub_topic_iam_member.events,
    google_project_iam_member.build,
    google_storage_bucket_iam_member.build_sources,
    google_project_iam_member.trigger_receives,
    google_project_iam_member.gcs_publishes,
    google_pubsub_topic_iam_member.monitoring_publishes_alerts,
    google_pubsub_topic_iam_member.pubsub_dead_letters,
  ]
}
