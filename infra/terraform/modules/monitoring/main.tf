# Alerting that drives scaleOnAlert, and a dashboard of the control plane's own work.
#
# The alert policies notify the Pub/Sub channel with notifications on close, so scaleOnAlert sees
# an incident end as well as begin; their user labels (action, pool) are what the policy file's
# alertRules match. The control plane's own metrics are log-based: every delivery logs its outcome
# (`outcome` = applied | skipped | rejected, label `function`), every applied plan action its cost
# delta (`costDeltaPerHour`), and schedule and scale-in outcomes what they saved (`gpuHoursSaved`,
# `dollarsSaved`), so nothing in the functions writes metrics itself.

variable "prefix" {
  type = string
}
variable "cluster" {
  type = string
}
variable "namespace" {
  type = string
}
variable "notification_channel" {
  type = string
}
variable "queue_to_compute_ratio_threshold" {
  type = number
}
variable "gpu_idle_duty_cycle_threshold" {
  type = number
}

locals {
  functions_log = "resource.type=\"cloud_run_revision\" AND labels.function:*"
}

# Queue time per unit of compute time, per pool (the PodMonitoring job is the pool): above 1, requests
# wait longer than they compute and the pool needs replicas sooner than the HPA's target gives them.
resource "google_monitoring_alert_policy" "queue_high" {
  # The name the policy file's alertRules match (examples/policy.yaml: triton-queue-high).
  display_name = "triton-queue-high"
  combiner     = "OR"
  user_labels = {
    action = "scale-out"
    source = var.prefix
  }
  conditions {
    display_name = "Triton queue time over compute time"
    condition_prometheus_query_language {
      query               = "sum by (job) (rate(nv_inference_queue_duration_us{cluster=\"${var.cluster}\",namespace=\"${var.namespace}\"}[5m])) / sum by (job) (rate(nv_inference_compute_infer_duration_us{cluster=\"${var.cluster}\",namespace=\"${var.namespace}\"}[5m])) > ${var.queue_to_compute_ratio_threshold}"
      duration            = "120s"
      evaluation_interval = "60s"
    }
  }
  alert_strategy {
    notification_prompts = ["OPENED", "CLOSED"]
    auto_close           = "1800s"
  }
  notification_channels = [var.notification_channel]
}

# GPUs doing almost nothing for a while: the pool may give a replica back.
resource "google_monitoring_alert_policy" "gpu_idle" {
  display_name = "triton-gpu-idle"
  combiner     = "OR"
  user_labels = {
    action = "scale-in"
    source = var.prefix
  }
  conditions {
    display_name = "GPU duty cycle low"
    condition_threshold {
      filter          = "metric.type=\"kubernetes.io/container/accelerator/duty_cycle\" AND resource.type=\"k8s_container\" AND resource.labels.cluster_name=\"${var.cluster}\" AND resource.labels.namespace_name=\"${var.namespace}\""
      comparison      = "COMPARISON_LT"
      threshold_value = var.gpu_idle_duty_cycle_threshold
      duration        = "900s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_MEAN"
        cross_series_reducer = "REDUCE_MEAN"
        group_by_fields      = ["resource.labels.container_name"]
      }
    }
  }
  alert_strategy {
    notification_prompts = ["OPENED", "CLOSED"]
    auto_close           = "3600s"
  }
  notification_channels = [var.notification_channel]
}

resource "google_logging_metric" "decisions" {
  name   = "${var.prefix}/decisions"
  filter = "${local.functions_log} AND jsonPayload.outcome:*"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key = "function"
    }
    labels {
      key = "outcome"
    }
  }
  label_extractors = {
    function = "EXTRACT(labels.function)"
    outcome  = "EXTRACT(jsonPayload.outcome)"
  }
}

resource "google_logging_metric" "deploys" {
  name   = "${var.prefix}/deploys"
  filter = "${local.functions_log} AND labels.function=\"deployModel\" AND jsonPayload.outcome=\"applied\""
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
  }
}

resource "google_logging_metric" "capacity_change" {
  name            = "${var.prefix}/capacity_change_usd_per_hour"
  filter          = "${local.functions_log} AND jsonPayload.message=\"plan action applied\" AND jsonPayload.costDeltaPerHour:*"
  value_extractor = "EXTRACT(jsonPayload.costDeltaPerHour)"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    labels {
      key = "function"
    }
  }
  label_extractors = {
    function = "EXTRACT(labels.function)"
  }
  bucket_options {
    linear_buckets {
      num_finite_buckets = 40
      width              = 5
      offset             = -100
    }
  }
}

resource "google_logging_metric" "saved" {
  for_each        = { gpu_hours_saved = "gpuHoursSaved", dollars_saved = "dollarsSaved" }
  name            = "${var.prefix}/${each.key}"
  filter          = "${local.functions_log} AND jsonPayload.${each.value}:*"
  value_extractor = "EXTRACT(jsonPayload.${each.value})"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
  }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 30
      growth_factor      = 2
      scale              = 0.01
    }
  }
}

resource "google_monitoring_dashboard" "control_plane" {
  dashboard_json = jsonencode({
    displayName = "${var.prefix} control plane"
    mosaicLayout = {
      columns = 12
      tiles = [
        for i, t in [
          { title = "Deploys", filter = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.deploys.name}\"", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", group = [] },
          { title = "Decisions by function and outcome", filter = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.decisions.name}\"", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", group = ["metric.label.function", "metric.label.outcome"] },
          { title = "Capacity change (USD/h)", filter = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.capacity_change.name}\"", aligner = "ALIGN_DELTA", reducer = "REDUCE_SUM", group = ["metric.label.function"] },
          { title = "GPUs requested by Triton", filter = "metric.type=\"kubernetes.io/container/accelerator/request\" AND resource.labels.cluster_name=\"${var.cluster}\" AND resource.labels.namespace_name=\"${var.namespace}\"", aligner = "ALIGN_MEAN", reducer = "REDUCE_SUM", group = [] },
          { title = "GPU-hours saved", filter = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.saved["gpu_hours_saved"].name}\"", aligner = "ALIGN_DELTA", reducer = "REDUCE_SUM", group = [] },
          { title = "Dollars saved", filter = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.saved["dollars_saved"].name}\"", aligner = "ALIGN_DELTA", reducer = "REDUCE_SUM", group = [] },
          ] : {
          xPos   = (i % 2) * 6
          yPos   = floor(i / 2) * 4
          width  = 6
          height = 4
          widget = {
            title = t.title
            xyChart = {
              dataSets = [{
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter = t.filter
                    aggregation = {
                      alignmentPeriod    = "300s"
                      perSeriesAligner   = t.aligner
                      crossSeriesReducer = t.reducer
                      groupByFields      = t.group
                    }
                  }
                }
                plotType = "LINE"
              }]
            }
          }
        }
      ]
    }
  })
}

output "alert_policies" {
  value = {
    queue_high = google_monitoring_alert_policy.queue_high.name
    gpu_idle   = google_monitoring_alert_policy.gpu_idle.name
  }
}

output "dashboard" {
  value = google_monitoring_dashboard.control_plane.id
}
