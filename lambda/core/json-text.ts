import * as z from 'zod/mini';
import './schema-config';

/**
 * A string holding JSON that `schema` accepts (a function's environment variable, a queue message body). Powertools'
 * JSONStringified does the same but brings zod's whole namespace (every locale) into the bundle.
 */
export function jsonText<T extends z.ZodMiniType>(schema: T) {
  const parsed = z.transform((text: string, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.issues.push({ code: 'custom', message: 'not JSON', input: text });
      return z.NEVER;
    }
  });
  return z.pipe(z.pipe(z.string(), parsed), schema);
}
