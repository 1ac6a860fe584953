import { z } from 'zod';
import { CATALOGUE } from './catalogue';
import type { Exchange } from './exchange';
import { DEFAULT_KEY, settingsPatchSchema } from './settings';
import type { SimulatorState } from './simulator';

export const ADMIN_PREFIX = '/_sim/';

const seedSchema = z.strictObject({ seed: z.number().int().min(0).max(0xffffffff) });

class AdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

function parseBody<T>(schema: z.ZodType<T>, body: Buffer): T {
  let json: unknown;
  try {
    json = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch {
    throw new AdminError(400, 'Request body is not valid JSON');
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    throw new AdminError(400, 'Invalid settings', result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  }
  return result.data;
}

function describeModel(state: SimulatorState, modelId: string) {
  const known = state.registry.lookupKnown(modelId);
  return {
    modelId,
    family: known?.family ?? CATALOGUE[modelId]?.family ?? null,
    registered: state.registry.isRegistered(modelId),
    settings: state.settings.effective(modelId, known?.baseId ?? modelId),
  };
}

function listModels(state: SimulatorState) {
  const ids = new Set([...state.registry.knownIds(), ...state.settings.keys()]);
  ids.delete(DEFAULT_KEY);
  return {
    seed: state.seed,
    default: state.settings.effective(DEFAULT_KEY),
    models: [...ids].sort().map((id) => describeModel(state, id)),
  };
}

function route(state: SimulatorState, method: string, path: string, body: Buffer): unknown {
  const modelPath = /^\/_sim\/models\/([^/]+)$/.exec(path);
  if (modelPath) {
    const modelId = decodeURIComponent(modelPath[1]);
    if (method === 'GET') return modelId === DEFAULT_KEY ? state.settings.effective(DEFAULT_KEY) : describeModel(state, modelId);
    if (method !== 'PUT') throw new AdminError(405, `Method ${method} not allowed on ${path}`);
    const patch = parseBody(settingsPatchSchema, body);
    if (modelId === DEFAULT_KEY) {
      if (patch.family) throw new AdminError(400, 'family applies to one model, not to the default (*)');
      state.settings.apply(DEFAULT_KEY, patch);
      return { modelId, settings: state.settings.effective(DEFAULT_KEY) };
    }
    if (!state.registry.knows(modelId) || patch.family) state.registry.register(modelId, patch.family);
    state.settings.apply(modelId, patch);
    return describeModel(state, modelId);
  }
  const endpoint = `${method} ${path}`;
  switch (endpoint) {
    case 'GET /_sim/models':
      return listModels(state);
    case 'GET /_sim/stats':
      return { ...state.stats.snapshot(), asyncInvocations: state.asyncInvocations.started };
    case 'POST /_sim/reset':
      state.reset();
      return { reset: true, seed: state.seed };
    case 'PUT /_sim/seed':
      state.setSeed(parseBody(seedSchema, body).seed);
      return { seed: state.seed };
    case 'GET /_sim/seed':
      return { seed: state.seed };
  }
  throw new AdminError(404, `No admin endpoint ${endpoint}`);
}

/** The simulator's control API under /_sim/ (JSON in, JSON out). */
export function handleAdmin(state: SimulatorState, method: string, path: string, body: Buffer, exchange: Exchange): void {
  try {
    exchange.sendJson(200, route(state, method, path, body));
  } catch (error) {
    if (!(error instanceof AdminError)) throw error;
    exchange.sendJson(error.status, { message: error.message, ...(error.details ? { details: error.details } : {}) });
  }
}
