variable "project" {
  description = "Google Cloud project id the control plane is deployed into."
  type        = string
}

variable "region" {
  description = "Region of the cluster (regional), the buckets, the functions and their triggers."
  type        = string
  default     = "us-central1"
}

variable "name_prefix" {
  description = "Prefix of bucket, topic, function identity and scheduler job names."
  type        = string
  default     = "inferplane"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,13}$", var.name_prefix))
    error_message = "name_prefix must be 2-14 lower-case letters, digits or dashes (service account ids are at most 30 characters)."
  }
}

variable "create_cluster" {
  description = "Create the GKE cluster (true) or use an existing one named cluster_name in region (false)."
  type        = bool
  default     = true
}

variable "cluster_name" {
  description = "GKE cluster that serves Triton. GPU node pools are created in it by the control plane."
  type        = string
  default     = "inference"
}

variable "network" {
  description = "VPC network of the cluster; the functions reach Triton pods through it by Direct VPC egress."
  type        = string
  default     = "default"
}

variable "subnetwork" {
  description = "Subnetwork of the cluster's nodes; the functions take their egress addresses from it."
  type        = string
  default     = "default"
}

variable "namespace" {
  description = "Kubernetes namespace of the Triton serving stack."
  type        = string
  default     = "triton"
}

variable "triton_image" {
  description = "Triton image the control plane deploys."
  type        = string
  default     = "nvcr.io/nvidia/tritonserver:25.01-py3"
}

variable "node_service_account" {
  description = "Service account of the GPU nodes the control plane creates (null: the Compute Engine default one). The control plane may act as this account only."
  type        = string
  default     = null
}

variable "policy_file" {
  description = "Control-plane policy (YAML). Its cluster section is replaced by what this configuration creates before upload."
  type        = string
  default     = "../../examples/policy.yaml"
}

variable "dist_dir" {
  description = "Output of `npm run build`: one folder per function."
  type        = string
  default     = "../../dist"
}

variable "triton_url" {
  description = "URL of one Triton pod's HTTP port as the functions reach it; {podIP}, {pod} and {pool} are filled in. Models are loaded on every ready pod, so this must address a pod, not the Service."
  type        = string
  default     = "http://{podIP}:8000"
}

variable "dry_run" {
  description = "Start the control plane in dry-run mode: every decision is logged, nothing is changed."
  type        = bool
  default     = false
}

variable "log_level" {
  description = "Lowest log severity the functions write."
  type        = string
  default     = "INFO"
}

variable "schedules_cron" {
  description = "When applySchedules reconciles downtime windows (Cloud Scheduler cron, in schedules_time_zone)."
  type        = string
  default     = "*/5 * * * *"
}

variable "security_cron" {
  description = "When rotateSecurity checks keys and policies (Cloud Scheduler cron)."
  type        = string
  default     = "0 * * * *"
}

variable "scheduler_time_zone" {
  description = "Time zone of the Cloud Scheduler jobs. Downtime windows carry their own zone in the policy."
  type        = string
  default     = "Etc/UTC"
}

variable "queue_to_compute_ratio_threshold" {
  description = "Alert (scale out) when Triton's queue time exceeds this multiple of its compute time, per pool."
  type        = number
  default     = 1
}

variable "gpu_idle_duty_cycle_threshold" {
  description = "Alert (scale in) when a pool's GPU duty cycle stays below this percentage."
  type        = number
  default     = 10
}

variable "max_delivery_attempts" {
  description = "Deliveries of one event before it is moved to its dead-letter topic (5-100)."
  type        = number
  default     = 10
}
