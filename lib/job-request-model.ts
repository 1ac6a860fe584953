import type { JsonSchema } from 'aws-cdk-lib/aws-apigateway';
import { z } from 'zod';
import { jobRequestSchema } from '../lambda/core/job-request';

/**
 * The API Gateway model of POST /jobs, generated from the submit handler's own zod schema so the gateway and
 * the function cannot disagree on the shape. Rules a JSON schema cannot express (exactly one of prompt and
 * messages, alternating roles) stay in the handler, which answers them with 422.
 */
export function jobRequestJsonSchema(): JsonSchema {
  return z.toJSONSchema(jobRequestSchema, { target: 'draft-4' }) as JsonSchema;
}
