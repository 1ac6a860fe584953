/**
 * The metrics contract between the functions (Powertools EMF) and the dashboard and alarms in
 * lib/constructs/observability.ts. A name changed here changes both sides; a metric the functions emit under
 * another name or dimension set is invisible to the dashboard.
 *
 * Every metric is in namespace {@link METRIC_NAMESPACE} with the dimension `service` = {@link METRIC_SERVICE}
 * (Powertools' default dimension). Per-model metrics add exactly one dimension, `modelId` (the configured model
 * id, as in QUARRY_ROUTES). A finer breakdown (e.g. `errorCode` on ModelErrors) goes in an additional dimension
 * set of the same metric (Powertools `addDimensions`), never instead of the {service, modelId} set.
 */
export const METRIC_NAMESPACE = 'Quarry';
export const METRIC_SERVICE = 'quarry';
export const METRIC_DIMENSIONS = { service: 'service', modelId: 'modelId', errorCode: 'errorCode' } as const;

export const METRICS = {
  /** Per model (dimension modelId): calls made to Bedrock, whatever their outcome. Count. */
  model: {
    invocations: 'ModelInvocations',
    /** Wall time of one call. Milliseconds. */
    latency: 'ModelLatency',
    throttles: 'ModelThrottles',
    /** Failed calls other than throttles (an errorCode dimension set may be added). Count. */
    errors: 'ModelErrors',
    retries: 'ModelRetries',
    /** Calls given up because the invocation ran out of time (neutral for the breaker). Count. */
    abandoned: 'ModelCallsAbandoned',
    /** Jobs that moved past this model to the next one of their chain. Count. */
    fallbacks: 'ModelFallbacks',
    /** Circuit breaker state changes of this model (any direction). Count. */
    breakerTransitions: 'BreakerTransitions',
    inputTokens: 'InputTokens',
    outputTokens: 'OutputTokens',
    /** Jobs and calls a content or metric route sent to this model first (dimension modelId: the chosen model). Count. */
    routed: 'RoutedJobs',
    /** Of those, by the content tier that chose the model. Count. */
    routedSimple: 'RoutedSimple',
    routedMedium: 'RoutedMedium',
    routedComplex: 'RoutedComplex',
    /** Of those, sent to the model to explore it (a metric route's exploration share). Count. */
    routedExploring: 'RoutedExploring',
    /** Uncertain scores this model was asked to classify, and the times it could not answer (the rules' tier stood). Count. */
    /** Calls whose service tier gave way to the default one (refused, or flex throttled past the route's patience). Count. */
    tierFallbacks: 'ServiceTierFallbacks',
    classifications: 'Classifications',
    classifierFailures: 'ClassifierFailures',
  },
  /** Pipeline (no modelId dimension). Count. */
  jobs: {
    submitted: 'JobsSubmitted',
    rejected: 'JobsRejected',
    succeeded: 'JobsSucceeded',
    failed: 'JobsFailed',
    /** Put back on the queue with a delay because no model could answer yet. */
    requeued: 'JobsRequeued',
    deadLettered: 'JobsDeadLettered',
    /** Answered from the response cache after every model of the chain failed. */
    cacheServed: 'CacheServed',
    statusReads: 'StatusReads',
    deliveriesSkipped: 'DeliveriesSkipped',
    foreignDeadLetters: 'ForeignDeadLetters',
    /** Dead-lettered messages whose job was still in time and went back to the queue. */
    deadLettersRequeued: 'DeadLettersRequeued',
    modelStatusReads: 'ModelStatusReads',
    /** Sweep findings: jobs failed by the sweep because their deadline passed (JOB_DEADLINE_EXCEEDED). */
    pastDeadline: 'JobsPastDeadline',
    /** Sweep findings: terminal jobs whose event was still owed after the grace period, announced by the sweep. */
    sweepAnnounced: 'SweepAnnounced',
    /** Sweep runs that could not finish (a store or queue error). */
    sweepErrors: 'SweepErrors',
  },
} as const;

export type ModelMetricName = (typeof METRICS.model)[keyof typeof METRICS.model];
export type JobMetricName = (typeof METRICS.jobs)[keyof typeof METRICS.jobs];
