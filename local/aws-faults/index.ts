import type { RequestListener } from 'node:http';
import type { ServiceEndpoints } from '../emulators';
import { startFaultAdmin } from './admin';
import { AWS_SERVICES, type AwsService } from './operations';
import { startServiceProxy, type ServiceProxy } from './proxy';
import { AwsFaults } from './rules';

export { FAULTS_PREFIX } from './admin';
export { AWS_ERROR_KINDS, ERROR_SHAPES, type AwsErrorKind } from './errors';
export { AWS_SERVICES, operationOf, type AwsService } from './operations';
export {
  AWS_FAULT_KINDS,
  AwsFaults,
  FaultRuleError,
  type AwsFaultKind,
  type AwsFaultRule,
  type AwsFaultRuleInput,
  type AwsFaultRuleState,
  type AwsFaultStats,
  type OperationStats,
} from './rules';

export interface AwsFaultLayerOptions {
  /** The real endpoints (emulators, or AWS_ENDPOINT_URL_*). */
  upstream: ServiceEndpoints;
  /** Request handlers of emulators in this process (Emulators.handlers): their proxies call them instead of their endpoint. */
  handlers?: Partial<Record<AwsService, RequestListener>>;
  /** Admin API port; 0 picks a free one. @default 0 */
  adminPort?: number;
  /** Seeds the rules' `rate` draws. @default random */
  seed?: number;
  log?: (line: string) => void;
}

export interface AwsFaultLayer {
  /** Where clients that should see faults send their requests (an https:// upstream is passed through as is). */
  endpoints: ServiceEndpoints;
  /** Base URL of the admin API (`<adminUrl>/_faults`). */
  adminUrl: string;
  faults: AwsFaults;
  stop(): Promise<void>;
}

/**
 * A fault-injecting proxy per service in front of DynamoDB, SQS, SNS and S3, with one rule set (`faults`) and its
 * admin API. Without rules every request passes through unchanged.
 */
export async function startAwsFaultLayer(options: AwsFaultLayerOptions): Promise<AwsFaultLayer> {
  const log = options.log ?? (() => undefined);
  const faults = new AwsFaults({ seed: options.seed, log });
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    await Promise.allSettled(stops.splice(0).map((s) => s()));
  };
  try {
    const endpoints = { ...options.upstream };
    for (const service of AWS_SERVICES) {
      const upstream = options.upstream[service];
      if (!upstream.startsWith('http://')) {
        log(`aws faults: ${service} at ${upstream} is not behind the fault layer (http:// endpoints only)`);
        continue;
      }
      const handler = options.handlers?.[service];
      const proxy: ServiceProxy = await startServiceProxy(service, handler ? { url: upstream, handler } : upstream, faults);
      stops.push(proxy.stop);
      endpoints[service] = proxy.url;
    }
    const admin = await startFaultAdmin(faults, options.adminPort ?? 0);
    stops.push(admin.stop);
    return { endpoints, adminUrl: admin.url, faults, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
