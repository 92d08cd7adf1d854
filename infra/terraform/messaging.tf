# Topics: alert notifications (scaleOnAlert), schedule ticks (applySchedules, and scaleOnAlert's
# expiry of lost closes), security ticks (rotateSecurity), the control plane's outbound events,
# and one dead-letter topic for every trigger's undeliverable events.

resource "google_pubsub_topic" "alerts" {
  name       = "${var.name_prefix}-alerts"
  depends_on = [google_project_service.this]
}

resource "google_pubsub_topic" "ticks" {
  name       = "${var.name_prefix}-ticks"
  depends_on = [google_project_service.this]
}

resource "google_pubsub_topic" "security_ticks" {
  name       = "${var.name_prefix}-security-ticks"
  depends_on = [google_project_service.this]
}

resource "google_pubsub_topic" "events" {
  name       = "${var.name_prefix}-events"
  depends_on = [google_project_service.this]
}

resource "google_pubsub_topic" "dead_letter" {
  name                       = "${var.name_prefix}-dead-letter"
  message_retention_duration = "604800s"
  depends_on                 = [google_project_service.this]
}

# Keeps dead letters readable (a topic without a subscription drops what it receives).
resource "google_pubsub_subscription" "dead_letter" {
  name                       = "${var.name_prefix}-dead-letter"
  topic                      = google_pubsub_topic.dead_letter.id
  message_retention_duration = "604800s"
  expiration_policy {
    ttl = ""
  }
}

# Cloud Monitoring publishes incidents (schema 1.2) here; scaleOnAlert maps them to scaling steps.
resource "google_monitoring_notification_channel" "alerts" {
  display_name = "${var.name_prefix} scaleOnAlert"
  type         = "pubsub"
  labels = {
    topic = google_pubsub_topic.alerts.id
  }
  depends_on = [google_project_service.this]
}

# Commands of events/scheduler.ts (inferplane.dev/scheduler/v1).
resource "google_cloud_scheduler_job" "schedules" {
  name      = "${var.name_prefix}-reconcile-schedules"
  region    = var.region
  schedule  = var.schedules_cron
  time_zone = var.scheduler_time_zone
  pubsub_target {
    topic_name = google_pubsub_topic.ticks.id
    data       = base64encode(jsonencode({ apiVersion = "inferplane.dev/scheduler/v1", command = "reconcile-schedules" }))
  }
  depends_on = [google_project_service.this]
}

resource "google_cloud_scheduler_job" "security" {
  name      = "${var.name_prefix}-rotate-security"
  region    = var.region
  schedule  = var.security_cron
  time_zone = var.scheduler_time_zone
  pubsub_target {
    topic_name = google_pubsub_topic.security_ticks.id
    data       = base64encode(jsonencode({ apiVersion = "inferplane.dev/scheduler/v1", command = "rotate-security" }))
  }
  depends_on = [google_project_service.this]
}
