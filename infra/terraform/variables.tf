variable "project" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Region of the cluster, the buckets and the functions."
  type        = string
  default     = "us-central1"
}

variable "cluster_name" {
  description = "GKE cluster that serves Triton. GPU node pools are created in it by the control plane."
  type        = string
  default     = "inference"
}

variable "namespace" {
  description = "Kubernetes namespace of the Triton serving stack."
  type        = string
  default     = "triton"
}

variable "name_prefix" {
  description = "Prefix of bucket, topic and service account names."
  type        = string
  default     = "inferplane"
}

variable "policy_file" {
  description = "Path of the control-plane policy file (YAML) uploaded to the state bucket."
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

variable "vpc_connector" {
  description = "Serverless VPC Access connector the functions use to reach the cluster's internal load balancers (null: none)."
  type        = string
  default     = null
}
