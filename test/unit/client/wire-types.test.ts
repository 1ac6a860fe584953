import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { components, operations } from '../../../client/src/openapi';
import type * as wire from '../../../client/src/types';

/*
 * The client's hand-written wire types (client/src/types.ts) against the types generated from the OpenAPI document
 * (client/src/openapi.d.ts, by `npm run docs:openapi`): every answer the document allows must be a value of the
 * client's type, so the client never promises a field the API may leave out or types one otherwise. Checked by the
 * compiler (`npm test` runs tsc first); the test below only keeps the generated file in sync with the document.
 */

type Json<Op extends keyof operations, Status extends number> = operations[Op]['responses'] extends Record<Status, { content: { 'application/json': infer Body } }> ? Body : never;
type Event<Name extends wire.StreamEventName> = Extract<wire.StreamEvent, { event: Name }>['data'];
/** A generated type with its untyped JSON (`unknown`: a schema of any JSON) read as the client's JsonValue. */
type AsJson<T> = unknown extends T ? wire.JsonValue : T extends object ? { [K in keyof T]: AsJson<T[K]> } : T;
/** Compiles only when every `From` (as JSON) is a `To`. */
function assignable<From, To>(check: [AsJson<From>] extends [To] ? true : never): boolean {
  return check;
}

const checks = [
  assignable<Json<'submitJob', 202>, wire.SubmittedJob>(true),
  assignable<components['schemas']['Job'], wire.Job>(true),
  assignable<Json<'listJobs', 200>, wire.JobList>(true),
  assignable<Json<'invoke', 200>, wire.InvokeResponse>(true),
  // A content block is one of text, image, ...: the document says "exactly one property" (min/maxProperties), which
  // generated types cannot; the rest of a conversation is checked.
  assignable<Omit<Json<'getConversation', 200>, 'messages'>, Omit<wire.Conversation, 'messages'>>(true),
  assignable<Json<'submitBatch', 202>, wire.SubmittedBatch>(true),
  assignable<Json<'getBatch', 200>, wire.Batch>(true),
  assignable<Json<'listModels', 200>, wire.ModelList>(true),
  assignable<components['schemas']['ErrorBody'], wire.ApiErrorBody>(true),
  assignable<components['schemas']['StreamEventStart'], Event<'start'>>(true),
  assignable<components['schemas']['StreamEventDelta'], Event<'delta'>>(true),
  assignable<components['schemas']['StreamEventFallback'], Event<'fallback'>>(true),
  assignable<components['schemas']['StreamEventStop'], Event<'stop'>>(true),
  assignable<components['schemas']['StreamEventError'], Event<'error'>>(true),
];

describe("the client's wire types", () => {
  it('accept every answer the OpenAPI document allows (checked by tsc)', () => {
    expect(checks.every(Boolean)).toBe(true);
  });

  it('are checked against types generated from the committed document', () => {
    const generated = readFileSync(path.join(__dirname, '..', '..', '..', 'client', 'src', 'openapi.d.ts'), 'utf8');
    const document = JSON.parse(readFileSync(path.join(__dirname, '..', '..', '..', 'openapi.json'), 'utf8'));
    for (const id of Object.values(document.paths).flatMap((item) => Object.values(item as Record<string, { operationId: string }>).map((op) => op.operationId))) {
      expect(generated).toContain(`    ${id.includes('-') ? `"${id}"` : id}: {`);
    }
  });
});
