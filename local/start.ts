import { existsSync } from 'node:fs';
import { startLocalRuntime, writeEndpointsFile, type LocalRuntime } from './runtime';

/**
 * `npm start`: the whole pipeline on this machine until Ctrl-C. The configuration is read as `cdk synth` reads it:
 * the QUARRY_CONFIG file, then cdk.json's `quarry` context.
 */
async function main(): Promise<void> {
  const started = Date.now();
  const configFile = process.env.QUARRY_CONFIG;
  if (configFile && !existsSync(configFile)) throw new Error(`QUARRY_CONFIG names ${configFile}, which does not exist`);
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

  const state: { runtime?: LocalRuntime } = {};
  let stopping: number | undefined;
  const shutdown = (signal: string) => {
    if (stopping !== undefined) {
      // tsx relays the terminal's Ctrl-C to this process too: only a later, deliberate second Ctrl-C forces the exit.
      if (Date.now() - stopping < 1000) return;
      console.log(`${signal} again: exiting now`);
      process.exit(130);
    }
    stopping = Date.now();
    console.log(`${signal}: stopping the local runtime...`);
    const forced = setTimeout(() => process.exit(1), 5000);
    forced.unref();
    void (state.runtime?.stop() ?? Promise.resolve()).then(() => {
      console.log('stopped');
      process.exit(0);
    });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  const runtime = await startLocalRuntime({ outdir: '.local/cdk.out', reuseAssembly: true });
  state.runtime = runtime;
  if (stopping !== undefined) {
    await runtime.stop();
    return;
  }
  const file = writeEndpointsFile(runtime);
  console.log(`API          ${runtime.apiUrl}   (also under the stage prefix, e.g. ${runtime.apiUrl}/v1/jobs)`);
  console.log(`Bedrock sim  ${runtime.bedrockUrl}`);
  console.log(`DynamoDB     ${runtime.endpoints.dynamodb}   SQS/SNS/S3 ${runtime.endpoints.sqs}`);
  console.log(`AWS faults   ${runtime.faultsUrl}/_faults   (the functions reach DynamoDB, SQS, SNS and S3 through it)`);
  console.log(`Endpoints    ${file}`);
  const keyHeader = runtime.apiKey ? ` -H 'x-api-key: ${runtime.apiKey}'` : '';
  console.log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s: curl -X POST ${runtime.apiUrl}/jobs${keyHeader} -H 'content-type: application/json' -d '{"prompt":"Hello"}'   (Ctrl-C stops)`);
}

main().catch((error: Error) => {
  console.error(`local runtime failed to start: ${error.message}`);
  process.exit(1);
});
