/** Where the ARNs are formed; tokens (Stack.of(scope).region/account/partition) are fine here. */
export interface ArnEnvironment {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/** Prefixes of the system-defined cross-region inference profiles (geography or global). */
export const CROSS_REGION_PREFIXES = ['us', 'us-gov', 'eu', 'apac', 'jp', 'au', 'ca', 'global'] as const;

const crossRegionId = new RegExp(`^(${CROSS_REGION_PREFIXES.join('|')})\\.(.+)$`);
const bedrockArn = /^arn:(aws[a-z-]*):bedrock:([a-z0-9-]*):(\d{12})?:(foundation-model|inference-profile|application-inference-profile)\/(.+)$/;

/**
 * The IAM resources that let a function invoke one configured model, and nothing else.
 *
 * - foundation model id -> `arn:P:bedrock:R::foundation-model/ID`
 * - cross-region inference profile id (`us.`, `eu.`, `apac.`, `global.`, ...) -> the profile ARN in this region
 *   plus the underlying foundation model in every region the profile may route to (a `global.` profile also
 *   needs the region-less foundation-model ARN). aws-cdk issue #36774 is about grants that miss exactly these
 *   destination-region ARNs.
 * - an ARN (foundation model, inference profile, application inference profile) -> itself; for a system
 *   inference profile ARN also its destination foundation models. An application inference profile's
 *   underlying model cannot be read from its ARN: name that model too if IAM asks for it.
 */
export function bedrockResourceArns(modelId: string, env: ArnEnvironment): string[] {
  const { partition, region, account } = env;
  const foundationModelIn = (r: string, id: string) => `arn:${partition}:bedrock:${r}::foundation-model/${id}`;
  const profileDestinations = (profileId: string): string[] => {
    const match = crossRegionId.exec(profileId);
    if (!match) return [];
    const [, prefix, underlying] = match;
    const everyRegion = foundationModelIn('*', underlying);
    return prefix === 'global' ? [everyRegion, foundationModelIn('', underlying)] : [everyRegion];
  };

  const arn = bedrockArn.exec(modelId);
  if (arn) {
    const [, , , , type, id] = arn;
    return type === 'inference-profile' ? [modelId, ...profileDestinations(id)] : [modelId];
  }
  if (crossRegionId.test(modelId)) {
    return [`arn:${partition}:bedrock:${region}:${account}:inference-profile/${modelId}`, ...profileDestinations(modelId)];
  }
  return [foundationModelIn(region, modelId)];
}

/** The union of {@link bedrockResourceArns} over several models, without duplicates, in a stable order. */
export function bedrockResourceArnsFor(modelIds: Iterable<string>, env: ArnEnvironment): string[] {
  const arns = new Set<string>();
  for (const id of modelIds) for (const arn of bedrockResourceArns(id, env)) arns.add(arn);
  return [...arns];
}
