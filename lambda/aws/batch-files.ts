import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { BATCHES_PREFIX, type BatchLine } from '../core/batch';
import { QuarryError } from '../core/errors';
import type { BatchFiles } from '../core/ports';
import { InputStore } from './input-store';


/** A batch's validated lines and its results file, as JSONL under `batches/<batchId>/`; JSONL inputs from the inputs bucket. */
export class BatchObjects implements BatchFiles {
  private readonly inputs: InputStore;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {
    this.inputs = new InputStore(client);
  }

  async putRequests(batchId: string, lines: BatchLine[]): Promise<string> {
    const key = `${BATCHES_PREFIX}${batchId}/requests.jsonl`;
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: lines.map((line) => JSON.stringify(line)).join('\n'), ContentType: 'application/x-ndjson' }));
    return key;
  }

  async getRequests(key: string): Promise<BatchLine[]> {
    const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    const text = await object.Body!.transformToString('utf8');
    return text.split('\n').map((line) => JSON.parse(line) as BatchLine);
  }

  async readInput(bucket: string, key: string, maxBytes: number): Promise<string> {
    try {
      return Buffer.from(await this.inputs.read(`s3://${bucket}/${key}`, maxBytes)).toString('utf8');
    } catch (error) {
      if ((error as Error).name === 'InputNotReadable') throw new QuarryError('INPUT_NOT_READABLE', (error as Error).message, 422, [{ path: 'inputUri', message: (error as Error).message }]);
      throw error;
    }
  }

  async putResults(batchId: string, jsonl: string): Promise<string> {
    const key = `${BATCHES_PREFIX}${batchId}/results.jsonl`;
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: jsonl, ContentType: 'application/x-ndjson' }));
    return key;
  }
}
