# One control-plane function: its bundle (dist/<name>/ from `npm run build`), the 2nd-gen function
# (Cloud Run underneath) reachable only from inside the project and sending its private-range
# traffic into the cluster's VPC (Direct VPC egress), and one Eventarc trigger per event source.
# Triggers are separate resources, created only once the trigger identity may invoke this function
# and that grant has had time to propagate; each trigger's Pub/Sub subscription then gets a
# dead-letter topic and a bounded retry policy.

variable "name" {
  description = "Function name, also its entry point (functions/<name>/ in the repository)."
  type        = string
}
variable "region" {
  type = string
}
variable "project" {
  type = string
}
variable "source_dir" {
  type = string
}
variable "sources_bucket" {
  type = string
}
variable "build_service_account" {
  description = "Resource id (projects/P/serviceAccounts/EMAIL) of the account Cloud Build runs as."
  type        = string
}
variable "service_account_email" {
  description = "The function's own runtime identity."
  type        = string
}
variable "trigger_service_account_email" {
  description = "The identity Eventarc invokes the function as."
  type        = string
}
variable "environment" {
  type = map(string)
}
variable "network" {
  type = string
}
variable "subnetwork" {
  type = string
}
variable "memory" {
  type    = string
  default = "512Mi"
}
variable "timeout_seconds" {
  type    = number
  default = 540
}
variable "max_instances" {
  type    = number
  default = 10
}
variable "triggers" {
  description = "Event sources by trigger suffix: a Cloud Storage finalize on a bucket, or a Pub/Sub topic."
  type = map(object({
    event_type = string
    bucket     = optional(string)
    topic      = optional(string)
  }))
}
variable "dead_letter_topic" {
  description = "Topic id undeliverable events are moved to."
  type        = string
}
variable "max_delivery_attempts" {
  type = number
}
variable "pubsub_service_agent" {
  description = "Email of the project's Pub/Sub service agent, which forwards to the dead-letter topic."
  type        = string
}

data "archive_file" "source" {
  type        = "zip"
  source_dir  = "${var.source_dir}/${var.name}"
  output_path = "${path.root}/.build/${var.name}.zip"
}

resource "google_storage_bucket_object" "source" {
  name   = "${var.name}-${data.archive_file.source.output_md5}.zip"
  bucket = var.sources_bucket
  source = data.archive_file.source.output_path
}

resource "google_cloudfunctions2_function" "this" {
  name     = var.name
  location = var.region

  build_config {
    runtime         = "nodejs22"
    entry_point     = var.name
    service_account = var.build_service_account
    source {
      storage_source {
        bucket = var.sources_bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory      = var.memory
    timeout_seconds       = var.timeout_seconds
    max_instance_count    = var.max_instances
    service_account_email = var.service_account_email
    environment_variables = var.environment
    # Eventarc and Pub/Sub pushes count as internal traffic; nothing outside the project may call it.
    ingress_settings = "ALLOW_INTERNAL_ONLY"
    # Direct VPC egress: private ranges (pod IPs, the apiserver's private endpoint) go through the
    # cluster's VPC, Google APIs as before.
    direct_vpc_egress = "VPC_EGRESS_PRIVATE_RANGES_ONLY"
    direct_vpc_network_interface {
      network    = var.network
      subnetwork = var.subnetwork
    }
  }
}

locals {
  # service_config.service may be a full resource name; the trigger and the grant want its last segment.
  run_service = reverse(split("/", google_cloudfunctions2_function.this.service_config[0].service))[0]
}

resource "google_cloud_run_v2_service_iam_member" "trigger_invokes" {
  project  = var.project
  location = var.region
  name     = local.run_service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${var.trigger_service_account_email}"
}

# IAM is eventually consistent: a trigger created at once may push to a service that still refuses
# it, and Eventarc's first validation may fail. Wait, as Google's own modules do.
resource "time_sleep" "invoker_propagation" {
  create_duration = "60s"
  depends_on      = [google_cloud_run_v2_service_iam_member.trigger_invokes]
}

resource "google_eventarc_trigger" "this" {
  for_each        = var.triggers
  name            = "${lower(var.name)}-${each.key}"
  location        = var.region
  service_account = var.trigger_service_account_email

  matching_criteria {
    attribute = "type"
    value     = each.value.event_type
  }
  dynamic "matching_criteria" {
    for_each = each.value.bucket == null ? [] : [each.value.bucket]
    content {
      attribute = "bucket"
      value     = matching_criteria.value
    }
  }

  dynamic "transport" {
    for_each = each.value.topic == null ? [] : [each.value.topic]
    content {
      pubsub {
        topic = transport.value
      }
    }
  }

  destination {
    cloud_run_service {
      service = local.run_service
      region  = var.region
    }
  }

  depends_on = [time_sleep.invoker_propagation]
}

# Eventarc owns its subscriptions; the provider cannot set their dead-letter policy, so it is set
# once the subscription exists. Needs gcloud where terraform runs (see the README).
resource "terraform_data" "dead_letter" {
  for_each         = google_eventarc_trigger.this
  triggers_replace = [each.value.transport[0].pubsub[0].subscription, var.dead_letter_topic, var.max_delivery_attempts]
  provisioner "local-exec" {
    command = "gcloud pubsub subscriptions update ${each.value.transport[0].pubsub[0].subscription} --project=${var.project} --dead-letter-topic=${var.dead_letter_topic} --max-delivery-attempts=${var.max_delivery_attempts} --min-retry-delay=10s --max-retry-delay=600s"
  }
}

# Dead-lettering: the Pub/Sub service agent acknowledges the message on this subscription.
resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each     = google_eventarc_trigger.this
  subscription = each.value.transport[0].pubsub[0].subscription
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${var.pubsub_service_agent}"
}

output "name" {
  value = google_cloudfunctions2_function.this.name
}

output "service" {
  value = local.run_service
}

output "triggers" {
  value = { for k, t in google_eventarc_trigger.this : k => t.id }
}

output "subscriptions" {
  value = { for k, t in google_eventarc_trigger.this : k => t.transport[0].pubsub[0].subscription }
}
