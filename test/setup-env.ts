// Template.fromStack runs aws-cdk-lib's CloudFormation validation on every synth; cdk synth keeps it, unit tests do not need it.
process.env.CDK_VALIDATION ??= 'false';
process.env.CDK_DISABLE_CLI_TELEMETRY = '1';
process.env.POWERTOOLS_DEV ??= 'false';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.AWS_REGION ??= 'us-east-1';
