import type { Metrics } from '@deeplens/shared';

export function createUsageMetrics(metrics: Metrics) {
  return {
    eventsIngested: metrics.counter('deeplens_usage_events_ingested_total', 'Usage events counted (each eventId once)'),
    duplicatesDropped: metrics.counter(
      'deeplens_usage_duplicates_dropped_total',
      'Usage events not counted because their eventId had been counted already',
    ),
    quotaEvents: metrics.counter('deeplens_usage_quota_events_total', 'Quota thresholds crossed, by event type', [
      'type',
    ]),
    counterDriftRepaired: metrics.counter(
      'deeplens_usage_counter_drift_repaired_total',
      'API calls of difference between Redis and PostgreSQL counters found and repaired by reconciliation',
    ),
    countersRepaired: metrics.counter(
      'deeplens_usage_counters_repaired_total',
      'Redis counters repaired by reconciliation',
    ),
    resourceMeasurementFailures: metrics.counter(
      'deeplens_usage_resource_measurement_failures_total',
      'Tenant databases whose storage and collections could not be measured',
    ),
  };
}

export type UsageMetrics = ReturnType<typeof createUsageMetrics>;
