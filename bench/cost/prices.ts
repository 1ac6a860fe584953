/**
 * The one price table of `npm run cost`: us-east-1 list prices, on-demand, first volume tier, free tiers left out
 * (they are per account, not per job). Each entry names its page and what confirmed the figure on the date below;
 * re-check the pages and move the date when you change a figure.
 */
export const PRICES_CHECKED = '2026-11-29';
export const PRICES_REGION = 'us-east-1';

export interface Price {
  /** US dollars per `per` units. */
  usd: number;
  per: number;
  unit: string;
  source: string;
  /** What confirmed the figure on PRICES_CHECKED. */
  confirmed: string;
}

const price = (usd: number, per: number, unit: string, source: string, confirmed: string): Price => ({ usd, per, unit, source, confirmed });

export const PRICES = {
  apiGatewayRestRequest: price(3.5, 1e6, 'REST API request (first 333M a month)', 'https://aws.amazon.com/api-gateway/pricing/', 'API Evangelist transcription of the pricing page, 2026-09 ($3.50 per million, first tier)'),
  lambdaRequest: price(0.2, 1e6, 'Lambda request', 'https://aws.amazon.com/lambda/pricing/', 'API Evangelist transcription of the pricing page, 2026-09 ($0.20 per 1M requests)'),
  lambdaArmGbSecond: price(0.0000133334, 1, 'Lambda arm64 GB-second (first 7.5B GB-s a month)', 'https://aws.amazon.com/lambda/pricing/', 'artillery prices.js (arm64 1333340e-11 per GB-s, us-east-1 base)'),
  sqsRequest: price(0.4, 1e6, 'SQS standard request (each 64 KB chunk of a payload is one request)', 'https://aws.amazon.com/sqs/pricing/', 'cloudburn.io SQS pricing guide 2026-03 and factualminds.com 2026-06 ($0.40/M standard, 64 KB chunk rule)'),
  dynamoWriteRequestUnit: price(0.625, 1e6, 'DynamoDB on-demand write request unit (1 KB)', 'https://aws.amazon.com/dynamodb/pricing/on-demand/', 'airbyte.com DynamoDB pricing guide 2025-07 and jusdb.com 2025-08: on-demand cut 50% on 1 Nov 2024 ($1.25 -> $0.625)'),
  dynamoReadRequestUnit: price(0.125, 1e6, 'DynamoDB on-demand read request unit (4 KB strongly consistent, two eventually consistent)', 'https://aws.amazon.com/dynamodb/pricing/on-demand/', 'airbyte.com DynamoDB pricing guide 2025-07 ($0.125/M RRU after the 1 Nov 2024 cut); 4 KB / half-unit rule on the on-demand page'),
  dynamoStorageGbMonth: price(0.25, 1, 'DynamoDB Standard table storage, GB-month (item bytes + 100 B per item)', 'https://aws.amazon.com/dynamodb/pricing/on-demand/', 'price not confirmed by the search tool; 100-byte per-item overhead confirmed in the developer guide (item sizes and formats)'),
  dynamoPitrGbMonth: price(0.2, 1, 'DynamoDB continuous backups (PITR), GB-month of table size', 'https://aws.amazon.com/dynamodb/pricing/on-demand/', 'not confirmed by the search tool: list price as last read'),
  snsPublish: price(0.5, 1e6, 'SNS standard publish (each 64 KB chunk is one request); deliveries to SQS free', 'https://aws.amazon.com/sns/pricing/', 'factualminds.com SNS pricing 2026-06 ($0.50/M standard publishes)'),
  s3Put: price(0.005, 1000, 'S3 Standard PUT/COPY/POST/LIST request', 'https://aws.amazon.com/s3/pricing/', 'c3x.dev S3 request fees ($0.005 per 1,000)'),
  s3Get: price(0.0004, 1000, 'S3 Standard GET/SELECT request', 'https://aws.amazon.com/s3/pricing/', 'c3x.dev S3 request fees ($0.0004 per 1,000)'),
  s3StorageGbMonth: price(0.023, 1, 'S3 Standard storage, GB-month (first 50 TB)', 'https://aws.amazon.com/s3/pricing/', 'cloudburn.io S3 pricing 2026-03 ($0.023/GB-month)'),
  logsIngestedGb: price(0.5, 1, 'CloudWatch Logs ingestion, GB (Lambda logs: first 10 TB tier since 1 May 2025)', 'https://aws.amazon.com/cloudwatch/pricing/', 'duckbillgroup.com on the May 2025 Lambda log tiers (first tier $0.50/GB)'),
  xrayTraceRecorded: price(5, 1e6, 'X-Ray trace recorded', 'https://aws.amazon.com/xray/pricing/', 'aws.amazon.com/xray/pricing (0.000005 USD per trace recorded beyond the free tier)'),
  dataTransferOutGb: price(0.09, 1, 'Data transfer out to the internet, GB (first 10 TB), for API responses', 'https://aws.amazon.com/ec2/pricing/on-demand/', 'unanswered.io SQS guide ($0.09/GB first 10 TB)'),
  kmsKeyMonth: price(1, 1, 'KMS customer managed key, month', 'https://aws.amazon.com/kms/pricing/', 'not confirmed by the search tool: list price as last read'),
  cloudwatchAlarmMonth: price(0.1, 1, 'CloudWatch standard-resolution alarm metric, month', 'https://aws.amazon.com/cloudwatch/pricing/', 'not confirmed by the search tool: list price as last read'),
  cloudwatchMetricMonth: price(0.3, 1, 'CloudWatch custom metric (EMF), month (first 10,000 metrics)', 'https://aws.amazon.com/cloudwatch/pricing/', 'not confirmed by the search tool: list price as last read'),
  cloudwatchDashboardMonth: price(3, 1, 'CloudWatch dashboard, month (beyond the 3 free)', 'https://aws.amazon.com/cloudwatch/pricing/', 'not confirmed by the search tool: list price as last read'),
  eventBridgeScheduledRule: price(0, 1, 'EventBridge scheduled rule invocation (no charge)', 'https://aws.amazon.com/eventbridge/pricing/', 'not confirmed by the search tool: scheduled rules publish no billable events'),
} as const;

export type PriceName = keyof typeof PRICES;

/** Dollars for `quantity` units of a priced item. */
export function cost(name: PriceName, quantity: number): number {
  const p = PRICES[name];
  return (quantity * p.usd) / p.per;
}
