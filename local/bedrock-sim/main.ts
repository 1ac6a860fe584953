import { startBedrockSimulator } from './index';

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 4010);
  const host = process.env.HOST ?? '127.0.0.1';
  const seed = process.env.SIM_SEED === undefined ? undefined : Number(process.env.SIM_SEED);
  // Async invocations write their output to this S3 (e.g. the local runtime's); without it, StartAsyncInvoke is refused.
  const s3Endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  const simulator = await startBedrockSimulator({ port, host, seed, ...(s3Endpoint && { s3Endpoint }) });
  console.log(`Bedrock simulator listening on ${simulator.url}`);
  const shutdown = () => {
    simulator.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
