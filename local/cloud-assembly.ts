import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface TemplateResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  DependsOn?: string | string[];
  Condition?: string;
}

export interface CloudFormationTemplate {
  Resources: Record<string, TemplateResource>;
  Parameters?: Record<string, { Type: string; Default?: unknown }>;
  Conditions?: Record<string, unknown>;
  Mappings?: Record<string, Record<string, Record<string, unknown>>>;
  Outputs?: Record<string, unknown>;
}

export interface StackArtifact {
  stackName: string;
  artifactId: string;
  /** Absolute directory of the cloud assembly. */
  directory: string;
  template: CloudFormationTemplate;
  /** Asset object key (`<hash>.zip`) -> absolute directory of the asset in the assembly. */
  assetDirs: Map<string, string>;
}

/** Where a function's code lives in the cloud assembly, and which export to call. */
export interface FunctionCode {
  file: string;
  exportName: string;
  taskRoot: string;
}

interface Manifest {
  artifacts?: Record<string, { type: string; properties?: Record<string, unknown>; displayName?: string }>;
}

interface AssetManifest {
  files?: Record<string, { source: { path?: string; packaging?: string }; destinations: Record<string, { objectKey?: string }> }>;
}

/** Reads the stack that holds the app's functions from a synthesized cloud assembly (cdk.out). */
export function readStackArtifact(outdir: string, stackName?: string): StackArtifact {
  const dir = resolve(outdir);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const stacks = Object.entries(manifest.artifacts ?? {}).filter(([, a]) => a.type === 'aws:cloudformation:stack');
  const candidates = stacks.map(([artifactId, a]) => {
    const props = a.properties ?? {};
    const template = JSON.parse(readFileSync(join(dir, String(props.templateFile)), 'utf8')) as CloudFormationTemplate;
    return { artifactId, stackName: String(props.stackName ?? artifactId), template };
  });
  const chosen = stackName
    ? candidates.find((c) => c.stackName === stackName || c.artifactId === stackName)
    : (candidates.find((c) => Object.values(c.template.Resources ?? {}).some((r) => r.Type === 'AWS::Lambda::Function')) ?? candidates[0]);
  if (!chosen) throw new Error(`no stack${stackName ? ` named ${stackName}` : ''} in the cloud assembly at ${dir}`);

  const assetDirs = new Map<string, string>();
  const assetsFile = join(dir, `${chosen.artifactId}.assets.json`);
  if (existsSync(assetsFile)) {
    const assets = JSON.parse(readFileSync(assetsFile, 'utf8')) as AssetManifest;
    for (const file of Object.values(assets.files ?? {})) {
      if (!file.source.path) continue;
      for (const destination of Object.values(file.destinations)) {
        if (destination.objectKey) assetDirs.set(destination.objectKey, join(dir, file.source.path));
      }
    }
  }
  return { ...chosen, directory: dir, template: { ...chosen.template, Resources: chosen.template.Resources ?? {} }, assetDirs };
}

/**
 * Locates the deployed bundle of a function: the asset its Code.S3Key names (via the assets manifest, or the
 * `aws:asset:path` metadata), or its inline Code.ZipFile written to `inlineDir`.
 */
export function locateFunctionCode(stack: StackArtifact, logicalId: string, inlineDir: string): FunctionCode {
  const resource = stack.template.Resources[logicalId];
  const props = resource.Properties ?? {};
  const handler = String(props.Handler ?? 'index.handler');
  const dot = handler.lastIndexOf('.');
  const modulePath = handler.slice(0, dot);
  const exportName = handler.slice(dot + 1);
  const code = (props.Code ?? {}) as { S3Key?: unknown; ZipFile?: unknown };

  let taskRoot: string | undefined;
  if (typeof code.ZipFile === 'string') {
    taskRoot = join(inlineDir, logicalId);
    mkdirSync(taskRoot, { recursive: true });
    writeFileSync(join(taskRoot, `${modulePath}.js`), code.ZipFile);
  } else {
    const key = typeof code.S3Key === 'string' ? code.S3Key : undefined;
    const metadataPath = resource.Metadata?.['aws:asset:path'];
    taskRoot = (key && stack.assetDirs.get(key)) ?? (typeof metadataPath === 'string' ? resolve(stack.directory, metadataPath) : undefined);
  }
  if (!taskRoot) throw new Error(`${logicalId}: cannot find its code in the cloud assembly (Code ${JSON.stringify(code)})`);
  const file = ['.js', '.mjs', '.cjs'].map((ext) => join(taskRoot, modulePath + ext)).find((f) => existsSync(f));
  if (!file) throw new Error(`${logicalId}: handler ${handler} not found in ${taskRoot}`);
  return { file, exportName, taskRoot };
}
