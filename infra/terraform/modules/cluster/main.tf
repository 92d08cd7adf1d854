# The GKE cluster that serves Triton: created here (a small system pool; GPU pools are the control
# plane's to create, size and remove) or an existing one read as it is. Either way the outputs come
# from the cluster itself, so Workload Identity bindings wait for its identity pool to exist.

variable "create" {
  type = bool
}
variable "name" {
  type = string
}
variable "location" {
  type = string
}
variable "network" {
  type = string
}
variable "subnetwork" {
  type = string
}

resource "google_container_cluster" "this" {
  count                    = var.create ? 1 : 0
  name                     = var.name
  location                 = var.location
  network                  = var.network
  subnetwork               = var.subnetwork
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = true

  # VPC-native: pod IPs are routable in the VPC, which is how the functions reach each Triton pod.
  networking_mode = "VPC_NATIVE"
  ip_allocation_policy {}

  # Dataplane V2 enforces NetworkPolicy: without it the policy guarding Triton's repository API
  # (model load/unload) is stored and ignored.
  datapath_provider = "ADVANCED_DATAPATH"

  workload_identity_config {
    workload_pool = "${data.google_project.this.project_id}.svc.id.goog"
  }

  # Managed Prometheus collects what PodMonitorings select; system metrics include the GPU duty
  # cycle (kubernetes.io/container/accelerator/duty_cycle) the duty-cycle HPA metric reads.
  monitoring_config {
    enable_components = ["SYSTEM_COMPONENTS"]
    managed_prometheus {
      enabled = true
    }
  }

  lifecycle {
    ignore_changes = [node_pool, initial_node_count]
  }
}

resource "google_container_node_pool" "system" {
  count      = var.create ? 1 : 0
  name       = "system"
  cluster    = google_container_cluster.this[0].id
  node_count = 1
  node_config {
    machine_type = "e2-standard-4"
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
}

data "google_project" "this" {}

data "google_container_cluster" "existing" {
  count    = var.create ? 0 : 1
  name     = var.name
  location = var.location
}

locals {
  workload_identity = var.create ? google_container_cluster.this[0].workload_identity_config : data.google_container_cluster.existing[0].workload_identity_config
}

output "name" {
  value = var.create ? google_container_cluster.this[0].name : data.google_container_cluster.existing[0].name
}

output "location" {
  value = var.create ? google_container_cluster.this[0].location : data.google_container_cluster.existing[0].location
}

output "id" {
  value = var.create ? google_container_cluster.this[0].id : data.google_container_cluster.existing[0].id
}

# "<project>.svc.id.goog", read from the cluster: a binding built from it cannot be created before
# the pool exists (a known first-apply failure when the member is a string of its own).
output "workload_pool" {
  value = local.workload_identity[0].workload_pool
}
