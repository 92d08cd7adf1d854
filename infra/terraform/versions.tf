terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source = "hashicorp/google"
      # 7.21 is the first release with Direct VPC egress for 2nd-gen functions
      # (service_config.direct_vpc_network_interface and direct_vpc_egress).
      version = ">= 7.21, < 8.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4"
    }
    time = {
      source  = "hashicorp/time"
      version = ">= 0.11"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}
