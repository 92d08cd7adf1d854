output "incoming_bucket" {
  description = "Upload models here: gs://<bucket>/<model>/<version>/<files>."
  value       = google_storage_bucket.incoming.name
}

output "repository_bucket" {
  description = "The Triton model repository the control plane publishes to."
  value       = google_storage_bucket.repository.name
}

output "events_topic" {
  description = "Topic of the control plane's outbound CloudEvents."
  value       = google_pubsub_topic.events.id
}
