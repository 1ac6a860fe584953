import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { startEmulators } from '../../local/emulators';

/** Only dynalite: the other services are "external", so no fauxqs child is started. */
const ONLY_DYNALITE = { AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9', AWS_ENDPOINT_URL_SNS: 'http://127.0.0.1:9', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' };

/** A DynamoDB JSON request as the fault layer hands it to dynalite's handler: the body already read, replayed. */
function updateRequest(): IncomingMessage {
  const body = JSON.stringify({ TableName: 'counters', Key: { id: { S: 'one' } }, UpdateExpression: 'ADD n :one', ExpressionAttributeValues: { ':one': { N: '1' } } });
  const headers = {
    'content-type': 'application/x-amz-json-1.0',
    'x-amz-target': 'DynamoDB_20120810.UpdateItem',
    'x-amz-date': '20261207T000000Z',
    authorization: 'AWS4-HMAC-SHA256 Credential=x/20261207/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x',
  };
  return Object.assign(Readable.from([Buffer.from(body)]), { headers, rawHeaders: [], method: 'POST', url: '/', httpVersion: '1.1' }) as unknown as IncomingMessage;
}

describe('stopping dynalite', () => {
  it('lets every operation it has started finish, even one whose caller has gone away, before its database closes', async () => {
    const emulators = await startEmulators({ region: 'us-east-1', env: ONLY_DYNALITE });
    const client = new DynamoDBClient({ region: 'us-east-1', endpoint: emulators.endpoints.dynamodb, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    await client.send(
      new CreateTableCommand({ TableName: 'counters', AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }], BillingMode: 'PAY_PER_REQUEST' }),
    );
    // dynalite makes the table ACTIVE on a timer after answering (an update before that is refused, as DynamoDB would).
    await waitUntilTableExists({ client, maxWaitTime: 30 }, { TableName: 'counters' });
    client.destroy();
    // Updates of one item queue on dynalite's item lock; their callers hang up as soon as each body is read (the
    // function that sent them was stopped), so the response closes while the operation is still queued.
    const responses: ServerResponse[] = [];
    for (let i = 0; i < 200; i += 1) {
      const request = updateRequest();
      const response = new ServerResponse(request);
      responses.push(response);
      request.once('end', () => setImmediate(() => response.emit('close')));
      emulators.handlers.dynamodb!(request, response);
    }
    await new Promise((resolve) => setImmediate(resolve));
    await emulators.stop();
    // Nothing dynalite queued was cut off by the close ("Database is closed" thrown out of a timer): each answered.
    const answers = responses.map((r) => (r.writableEnded ? r.statusCode : 'unanswered'));
    expect(answers).toEqual(Array.from({ length: 200 }, () => 200));
    await new Promise((resolve) => setTimeout(resolve, 100));
  });

  it('answers a request that arrives while it stops with a retryable error rather than starting it', async () => {
    const emulators = await startEmulators({ region: 'us-east-1', env: ONLY_DYNALITE });
    const stopped = emulators.stop();
    const request = updateRequest();
    const response = new ServerResponse(request);
    emulators.handlers.dynamodb!(request, response);
    await stopped;
    expect(response.statusCode).toBe(500);
    expect(response.writableEnded).toBe(true);
  });
});
