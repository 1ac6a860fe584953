import type { JsonSchema } from 'aws-cdk-lib/aws-apigateway';
import { z } from 'zod';
import { jobRequestSchema } from '../lambda/core/job-request';

/**
 * The JSON schema (draft 4) of POST /jobs, generated from the submit handler's zod schema, for the API's documentation
 * model. The gateway does not validate with it: the handler's schema is the one validator, so that every 400 names
 * the offending field in one error shape. Rules a JSON schema cannot express (exactly one of prompt and messages,
 * alternating roles, metadata limits) appear only in descriptions.
 */
export function jobRequestJsonSchema(): JsonSchema {
  return z.toJSONSchema(jobRequestSchema, {
    target: 'draft-4',
    unrepresentable: 'any',
    // The one custom type is `metadata`: a JSON object checked in code.
    override: (ctx) => {
      if (ctx.zodSchema._zod.def.type === 'custom') ctx.jsonSchema.type = 'object';
    },
  }) as JsonSchema;
}
