# Every API the configuration and the functions call. Left enabled on destroy: other workloads in
# the project may use them, and disabling an API deletes what depends on it.
locals {
  apis = [
    "artifactregistry.googleapis.com", # function images
    "cloudbuild.googleapis.com",       # function builds
    "cloudfunctions.googleapis.com",   # the four functions
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com", # schedule and rotation ticks
    "compute.googleapis.com",        # VPC, Direct VPC egress, GPU nodes
    "container.googleapis.com",      # GKE and its node pools
    "eventarc.googleapis.com",       # triggers
    "iam.googleapis.com",            # service accounts, custom roles
    "logging.googleapis.com",        # log-based metrics
    "monitoring.googleapis.com",     # alert policies, dashboard, external metrics
    "pubsub.googleapis.com",         # topics, trigger transport
    "run.googleapis.com",            # functions run as Cloud Run services
    "storage.googleapis.com",        # buckets
  ]
}

resource "google_project_service" "this" {
  for_each           = toset(local.apis)
  service            = each.value
  disable_on_destroy = false
}
