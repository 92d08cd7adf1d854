locals {
  incoming_bucket   = "${var.project}-${var.name_prefix}-incoming"
  repository_bucket = "${var.project}-${var.name_prefix}-repository"
  state_bucket      = "${var.project}-${var.name_prefix}-state"
  common_env = {
    INFERPLANE_PROJECT           = var.project
    INFERPLANE_LOCATION          = var.region
    INFERPLANE_CLUSTER           = var.cluster_name
    INFERPLANE_NAMESPACE         = var.namespace
    INFERPLANE_REPOSITORY_BUCKET = google_storage_bucket.repository.name
    INFERPLANE_STATE_BUCKET      = google_storage_bucket.state.name
    INFERPLANE_POLICY            = "gs://${google_storage_bucket.state.name}/${google_storage_bucket_object.policy.name}"
    INFERPLANE_EVENTS_TOPIC      = google_pubsub_topic.events.id
    INFERPLANE_TRITON_URL        = var.triton_url
  }
}

data "google_project" "this" {}

# --- Cluster: a regional Standard cluster with a small system pool. GPU pools are the control
# plane's to create, size and remove; Terraform must not fight it over them.
resource "google_container_cluster" "inference" {
  name                     = var.cluster_name
  location                 = var.region
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = true

  workload_identity_config {
    workload_pool = "${var.project}.svc.id.goog"
  }
  monitoring_config {
    managed_prometheus {
      enabled = true
    }
  }
  lifecycle {
    ignore_changes = [node_pool]
  }
}

resource "google_container_node_pool" "system" {
  name       = "system"
  cluster    = google_container_cluster.inference.id
  node_count = 1
  node_config {
    machine_type = "e2-standard-4"
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
}

# --- Buckets: uploads land in "incoming"; Triton reads "repository"; the control plane keeps its
# idempotency records and model registry in "state".
resource "google_storage_bucket" "incoming" {
  name                        = local.incoming_bucket
  location                    = var.region
  uniform_bucket_level_access = true
  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket" "repository" {
  name                        = local.repository_bucket
  location                    = var.region
  uniform_bucket_level_access = true
  versioning {
    enabled = true
  }
}

resource "google_storage_bucket" "state" {
  name                        = local.state_bucket
  location                    = var.region
  uniform_bucket_level_access = true
}

resource "google_storage_bucket_object" "policy" {
  name   = "policy/policy.yaml"
  bucket = google_storage_bucket.state.name
  source = var.policy_file
}

# --- Events the control plane emits (deployed, rejected, scaling applied, ...).
resource "google_pubsub_topic" "events" {
  name = "${var.name_prefix}-events"
}

# --- Identities.
resource "google_service_account" "control_plane" {
  account_id   = "${var.name_prefix}-control"
  display_name = "inferplane control plane functions"
}

resource "google_project_iam_member" "control_plane_container" {
  project = var.project
  role    = "roles/container.admin"
  member  = "serviceAccount:${google_service_account.control_plane.email}"
}

# Creating node pools means acting as their nodes' service account (the Compute Engine default one
# unless the policy names another).
resource "google_project_iam_member" "control_plane_node_sa_user" {
  project = var.project
  role    = "roles/iam.serviceAccountUser"
  member  = "serviceAccount:${google_service_account.control_plane.email}"
}

resource "google_storage_bucket_iam_member" "control_plane_buckets" {
  for_each = {
    incoming   = google_storage_bucket.incoming.name
    repository = google_storage_bucket.repository.name
    state      = google_storage_bucket.state.name
  }
  bucket = each.value
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.control_plane.email}"
}

resource "google_pubsub_topic_iam_member" "control_plane_events" {
  topic  = google_pubsub_topic.events.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.control_plane.email}"
}

resource "google_project_iam_member" "control_plane_eventarc" {
  for_each = toset(["roles/eventarc.eventReceiver", "roles/run.invoker"])
  project  = var.project
  role     = each.value
  member   = "serviceAccount:${google_service_account.control_plane.email}"
}

# Triton pods read the repository through Workload Identity (KSA triton/triton -> this GSA).
resource "google_service_account" "triton" {
  account_id   = "${var.name_prefix}-triton"
  display_name = "Triton model repository reader"
}

resource "google_storage_bucket_iam_member" "triton_repository" {
  for_each = toset(["roles/storage.objectViewer", "roles/storage.legacyBucketReader"])
  bucket   = google_storage_bucket.repository.name
  role     = each.value
  member   = "serviceAccount:${google_service_account.triton.email}"
}

resource "google_service_account_iam_member" "triton_workload_identity" {
  service_account_id = google_service_account.triton.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project}.svc.id.goog[${var.namespace}/triton]"
}

# Cloud Storage publishes finalize events through Pub/Sub on Eventarc's behalf.
data "google_storage_project_service_account" "gcs" {}

resource "google_project_iam_member" "gcs_pubsub_publishing" {
  project = var.project
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# --- Functions. Each is built by `npm run build` into dist/<name>/ and zipped from there.
resource "google_storage_bucket" "sources" {
  name                        = "${var.project}-${var.name_prefix}-sources"
  location                    = var.region
  uniform_bucket_level_access = true
}

data "archive_file" "deploy_model" {
  type        = "zip"
  source_dir  = "${var.dist_dir}/deployModel"
  output_path = "${path.module}/.build/deployModel.zip"
}

resource "google_storage_bucket_object" "deploy_model_source" {
  name   = "deployModel-${data.archive_file.deploy_model.output_md5}.zip"
  bucket = google_storage_bucket.sources.name
  source = data.archive_file.deploy_model.output_path
}

resource "google_cloudfunctions2_function" "deploy_model" {
  name     = "deployModel"
  location = var.region

  build_config {
    runtime     = "nodejs22"
    entry_point = "deployModel"
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.deploy_model_source.name
      }
    }
  }

  service_config {
    available_memory              = "512Mi"
    timeout_seconds               = 540
    max_instance_count            = 10
    service_account_email         = google_service_account.control_plane.email
    environment_variables         = local.common_env
    vpc_connector                 = var.vpc_connector
    vpc_connector_egress_settings = var.vpc_connector == null ? null : "PRIVATE_RANGES_ONLY"
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.storage.object.v1.finalized"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.control_plane.email
    event_filters {
      attribute = "bucket"
      value     = google_storage_bucket.incoming.name
    }
  }

  depends_on = [google_project_iam_member.gcs_pubsub_publishing]
}
