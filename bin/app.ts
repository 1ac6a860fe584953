import { App } from 'aws-cdk-lib';
import { createApp } from '../lib/app';
import { ConfigError } from '../lib/config';

const app = new App();
try {
  createApp({ app });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
