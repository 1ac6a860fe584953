import * as z from 'zod/mini';

/**
 * What the functions know of tenants, serialized into QUARRY_TENANTS by the stack: per API key id, the tenant's
 * name (from the config) and, when its plan restricts them, the routes and model ids it may use.
 */
export const tenantDirectorySchema = z.record(
  z.string(),
  z.object({
    name: z.string(),
    /** Route names the tenant may submit to; absent: every route. */
    routes: z.optional(z.array(z.string())),
    /** Model ids (as in QUARRY_ROUTES) the tenant may ask for or be served by; absent: every configured model. */
    models: z.optional(z.array(z.string())),
  }),
);
export type TenantDirectory = z.infer<typeof tenantDirectorySchema>;

export interface Tenant {
  /** The config's tenant name: stored on jobs, shown in events, used for isolation. */
  name: string;
  /** The API key id API Gateway authenticated (absent where no key is in use). */
  keyId?: string;
  routes?: string[];
  models?: string[];
}

/** The caller's tenant from the authenticated key id; a key the directory does not know keeps its id as its name. */
export function tenantFor(keyId: string | undefined, directory: TenantDirectory): Tenant {
  if (!keyId) return { name: 'default' };
  const entry = directory[keyId];
  return entry ? { name: entry.name, keyId, ...(entry.routes && { routes: entry.routes }), ...(entry.models && { models: entry.models }) } : { name: keyId, keyId };
}

/** The models each tenant's plan allows, by tenant name; undefined for a tenant whose plan does not restrict them. */
export function modelsByTenant(directory: TenantDirectory): (tenant: string) => readonly string[] | undefined {
  const byName = new Map(Object.values(directory).map((t) => [t.name, t.models] as const));
  return (tenant) => byName.get(tenant);
}
