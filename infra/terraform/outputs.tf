output "incoming_bucket" {
  description = "Upload models here: gs://<bucket>/<model>/<version>/<files>."
  value       = local.buckets.incoming
}

output "repository_bucket" {
  description = "The Triton model repository the control plane publishes to."
  value       = local.buckets.repository
}

output "state_bucket" {
  description = "Idempotency records, the model registry (_inferplane/registry/models/) and the policy."
  value       = local.buckets.state
}

output "security_bucket" {
  description = "Security bundles for rotateSecurity: upload under bundles/."
  value       = local.buckets.security
}

output "policy_uri" {
  description = "The policy the functions read (INFERPLANE_POLICY)."
  value       = local.common_env.INFERPLANE_POLICY
}

output "events_topic" {
  description = "Topic of the control plane's outbound CloudEvents."
  value       = google_pubsub_topic.events.id
}

output "dead_letter_subscription" {
  description = "Events no function could take after max_delivery_attempts."
  value       = google_pubsub_subscription.dead_letter.id
}

output "cluster" {
  description = "The GKE cluster (name and location)."
  value       = { name = module.cluster.name, location = module.cluster.location }
}

output "function_service_accounts" {
  description = "Each function's identity: the Kubernetes RBAC subjects of infra/k8s/rbac.yaml."
  value       = { for k, sa in google_service_account.function : k => sa.email }
}

output "metrics_adapter_service_account" {
  description = "Google service account the Custom Metrics Stackdriver Adapter runs as (infra/k8s/custom-metrics-adapter.yaml)."
  value       = google_service_account.metrics_adapter.email
}

output "triggers" {
  description = "Eventarc triggers by function."
  value       = { for k, m in module.function : k => m.triggers }
}

output "project_id" {
  description = "The project (the PROJECT_ID placeholder of infra/k8s/*.yaml)."
  value       = var.project
}
