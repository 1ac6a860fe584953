import { GetAsyncInvokeCommand, StartAsyncInvokeCommand, type BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { AsyncInvocationStatus, AsyncModelInvoker, AsyncOutputLister } from '../core/ports';

/** StartAsyncInvoke and GetAsyncInvoke in the region asked for (the worker's clients, one per region). */
export class AsyncInvoker implements AsyncModelInvoker {
  private readonly clients = new Map<string, BedrockRuntimeClient>();

  constructor(private readonly createClient: (region: string) => BedrockRuntimeClient) {}

  private clientFor(region: string): BedrockRuntimeClient {
    let client = this.clients.get(region);
    if (!client) this.clients.set(region, (client = this.createClient(region)));
    return client;
  }

  async start(request: { modelId: string; modelInput: Record<string, unknown>; outputUri: string; clientRequestToken: string }, region: string): Promise<string> {
    const response = await this.clientFor(region).send(
      new StartAsyncInvokeCommand({
        modelId: request.modelId,
        modelInput: request.modelInput as never,
        outputDataConfig: { s3OutputDataConfig: { s3Uri: request.outputUri } },
        clientRequestToken: request.clientRequestToken,
      }),
    );
    if (!response.invocationArn) throw Object.assign(new Error('StartAsyncInvoke answered without an invocationArn'), { name: 'InternalServerException' });
    return response.invocationArn;
  }

  async get(invocationArn: string, region: string): Promise<AsyncInvocationStatus> {
    const response = await this.clientFor(region).send(new GetAsyncInvokeCommand({ invocationArn }));
    const status = response.status === 'Completed' || response.status === 'Failed' ? response.status : 'InProgress';
    return { status, ...(response.failureMessage && { failureMessage: response.failureMessage }) };
  }
}

const S3_URI = /^s3:\/\/([^/]+)\/(.*)$/;

/** The objects an invocation wrote under its output folder, by key (ListObjectsV2, every page). */
export class AsyncOutputs implements AsyncOutputLister {
  constructor(private readonly s3: S3Client) {}

  async list(uri: string): Promise<{ key: string; bytes: number }[]> {
    const match = S3_URI.exec(uri);
    if (!match) throw new Error(`not an S3 folder URI: ${uri}`);
    const [, bucket, prefix] = match;
    const files: { key: string; bytes: number }[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
      for (const object of page.Contents ?? []) if (object.Key) files.push({ key: object.Key, bytes: object.Size ?? 0 });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return files.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
