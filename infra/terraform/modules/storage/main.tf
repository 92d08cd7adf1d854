# The control plane's buckets. Uploads land in "incoming"; Triton reads "repository"; the control
# plane keeps its idempotency records, registry and policy in "state"; rotateSecurity reads the
# bundles under bundles/ in "security"; function sources go to "sources". All of them: uniform
# bucket-level access, public access prevented.

variable "project" {
  type = string
}
variable "prefix" {
  type = string
}
variable "location" {
  type = string
}

locals {
  buckets = {
    incoming   = { versioning = false, delete_after_days = 30 }
    repository = { versioning = true, delete_after_days = null }
    state      = { versioning = false, delete_after_days = null }
    security   = { versioning = true, delete_after_days = null }
    sources    = { versioning = false, delete_after_days = null }
  }
}

resource "google_storage_bucket" "this" {
  for_each                    = local.buckets
  name                        = "${var.project}-${var.prefix}-${each.key}"
  location                    = var.location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = each.value.versioning
  }

  dynamic "lifecycle_rule" {
    for_each = each.value.delete_after_days == null ? [] : [each.value.delete_after_days]
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }
}

output "names" {
  value = { for k, b in google_storage_bucket.this : k => b.name }
}
