/** Where the ARNs are formed; tokens (Stack.of(scope).region/account/partition) are fine here. */
export interface ArnEnvironment {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/** Prefixes of the system-defined cross-region inference profiles (geography or global). */
export const CROSS_REGION_PREFIXES = ['us', 'us-gov', 'eu', 'apac', 'jp', 'au', 'ca', 'global'] as const;
export type CrossRegionPrefix = (typeof CROSS_REGION_PREFIXES)[number];

/**
 * Destination regions of the geographic cross-region inference profiles: for each prefix, the union over the
 * models of that geography, so one list serves every profile of the prefix (IAM on a region the profile never
 * routes to grants nothing usable). A model entry's `profileDestinationRegions` replaces a list when AWS adds a
 * region before this table knows it.
 *
 * Source, read 2026-11-25: Amazon Bedrock User Guide, "Supported Regions and models for inference profiles"
 * (docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html) and "Geographic cross-Region
 * inference" (.../geographic-cross-region-inference.html), cross-checked with the region lists of aws-cdk's
 * `CrossRegionInferenceProfileRegion` (aws-bedrock-alpha 2.275.0). No AWS page we read lists a `ca.` profile's
 * destinations: `ca` holds the two Canadian regions as a best guess; configure profileDestinationRegions to be sure.
 * `global.` has no list: its destinations are every commercial region and grow without notice (see below).
 */
export const PROFILE_DESTINATION_REGIONS: Readonly<Record<Exclude<CrossRegionPrefix, 'global'>, readonly string[]>> = {
  us: ['us-east-1', 'us-east-2', 'us-west-1', 'us-west-2'],
  'us-gov': ['us-gov-east-1', 'us-gov-west-1'],
  eu: ['eu-central-1', 'eu-central-2', 'eu-north-1', 'eu-south-1', 'eu-south-2', 'eu-west-1', 'eu-west-2', 'eu-west-3'],
  apac: [
    'ap-east-2',
    'ap-northeast-1',
    'ap-northeast-2',
    'ap-northeast-3',
    'ap-south-1',
    'ap-south-2',
    'ap-southeast-1',
    'ap-southeast-2',
    'ap-southeast-3',
    'ap-southeast-4',
    'ap-southeast-5',
    'ap-southeast-7',
    'me-central-1',
  ],
  jp: ['ap-northeast-1', 'ap-northeast-3'],
  au: ['ap-southeast-2', 'ap-southeast-4'],
  ca: ['ca-central-1', 'ca-west-1'],
};

/** One configured model as IAM needs to see it (the fields of lib/config.ts's model entry that shape the grant). */
export interface ModelAccess {
  /** Foundation model id, cross-region inference profile id, or a Bedrock ARN. */
  readonly modelId: string;
  /** Failover regions the worker may call the model in besides the stack's region. @default - none */
  readonly regions?: readonly string[];
  /** Destination regions of the model's geographic or global profile, replacing {@link PROFILE_DESTINATION_REGIONS}. @default - the table */
  readonly profileDestinationRegions?: readonly string[];
  /** A prompt router's models (ids or profile ids): a call through the router is authorized against each, in the router's region. */
  readonly promptRouterModels?: readonly string[];
}

const crossRegionId = new RegExp(`^(${CROSS_REGION_PREFIXES.join('|')})\\.(.+)$`);
const bedrockArn = /^arn:(aws[a-z-]*):bedrock:([a-z0-9-]*):(\d{12})?:(foundation-model|inference-profile|application-inference-profile|default-prompt-router|prompt-router)\/(.+)$/;

/** Whether a model id is a Bedrock prompt router's ARN (a default router or one of the account's). */
export function isPromptRouter(modelId: string): boolean {
  const arn = bedrockArn.exec(modelId);
  return arn !== null && (arn[4] === 'default-prompt-router' || arn[4] === 'prompt-router');
}

/** The geography prefix of a system inference profile id (`eu.amazon.nova-pro-v1:0` -> `eu`), or undefined. */
export function crossRegionPrefixOf(modelId: string): CrossRegionPrefix | undefined {
  return crossRegionId.exec(modelId)?.[1] as CrossRegionPrefix | undefined;
}

/** Whether IAM needs more than the id itself: a system profile id or ARN, whose destinations depend on its geography. */
export function isSystemInferenceProfile(modelId: string): boolean {
  const arn = bedrockArn.exec(modelId);
  return arn ? arn[4] === 'inference-profile' && crossRegionId.test(arn[5]) : crossRegionId.test(modelId);
}

/**
 * The IAM resources that let a function invoke one configured model, and nothing else.
 *
 * - foundation model id -> `arn:P:bedrock:R::foundation-model/ID` in the stack region and each failover region
 * - geographic profile id (`us.`, `eu.`, `apac.`, `jp.`, `au.`, `ca.`, `us-gov.`) -> in the stack region and each
 *   failover region R: the profile ARN in R, plus the underlying foundation model in R (the source region) and in
 *   every destination region of the geography (aws-cdk issue #36774: grants that miss these ARNs fail with
 *   AccessDenied as soon as Bedrock routes a request elsewhere)
 * - `global.` profile id -> the profile ARN in R, the model in every region (`*`) and the region-less model ARN
 *   that global routing is authorized against. The region wildcard is the honest grant: AWS documents the
 *   destinations as "all commercial Regions" and adds regions without notice, so an explicit list would turn
 *   into AccessDenied the day one is added. `profileDestinationRegions` replaces the wildcard for those who accept that.
 * - a prompt router ARN -> itself and each of its `promptRouterModels` as above, in the router's region
 * - an ARN -> itself (it names its region, so failover regions do not apply); for a system inference profile ARN
 *   also its destinations as above. An application inference profile's underlying model cannot be read from its ARN.
 *
 * Converse and ConverseStream are authorized by bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream on
 * these same resources; there is no separate bedrock:Converse action.
 */
export function bedrockResourceArns(model: string | ModelAccess, env: ArnEnvironment): string[] {
  const { modelId, regions = [], profileDestinationRegions } = typeof model === 'string' ? { modelId: model } : model;
  const { partition, region, account } = env;
  const foundationModelIn = (p: string, r: string, id: string) => `arn:${p}:bedrock:${r}::foundation-model/${id}`;
  const destinations = (p: string, sourceRegion: string, profileId: string): string[] => {
    const match = crossRegionId.exec(profileId);
    if (!match) return [];
    const [, prefix, underlying] = match as unknown as [string, CrossRegionPrefix, string];
    if (prefix === 'global' && !profileDestinationRegions) return [foundationModelIn(p, '*', underlying), foundationModelIn(p, '', underlying)];
    const listed = profileDestinationRegions ?? PROFILE_DESTINATION_REGIONS[prefix as Exclude<CrossRegionPrefix, 'global'>];
    const fms = unique([sourceRegion, ...listed]).map((r) => foundationModelIn(p, r, underlying));
    return prefix === 'global' ? [...fms, foundationModelIn(p, '', underlying)] : fms;
  };

  const arn = bedrockArn.exec(modelId);
  if (arn) {
    const [, arnPartition, arnRegion, , type, id] = arn;
    if (type === 'default-prompt-router' || type === 'prompt-router') {
      const routed = (typeof model === 'string' ? [] : (model.promptRouterModels ?? [])).flatMap((routedId) => bedrockResourceArns(routedId, { partition: arnPartition, region: arnRegion, account: arn[3] || account }));
      return unique([modelId, ...routed]);
    }
    return type === 'inference-profile' ? unique([modelId, ...destinations(arnPartition, arnRegion, id)]) : [modelId];
  }
  const homeAndFailover = unique([region, ...regions]);
  if (crossRegionId.test(modelId)) {
    return unique(
      homeAndFailover.flatMap((r) => [`arn:${partition}:bedrock:${r}:${account}:inference-profile/${modelId}`, ...destinations(partition, r, modelId)]),
    );
  }
  return homeAndFailover.map((r) => foundationModelIn(partition, r, modelId));
}

/** The union of {@link bedrockResourceArns} over several models, without duplicates, in a stable order. */
export function bedrockResourceArnsFor(models: Iterable<string | ModelAccess>, env: ArnEnvironment): string[] {
  const arns = new Set<string>();
  for (const model of models) for (const arn of bedrockResourceArns(model, env)) arns.add(arn);
  return [...arns];
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}
