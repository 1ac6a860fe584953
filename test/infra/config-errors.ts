import { ConfigError, parseConfig } from '../../lib/config';

/** The message a rejected configuration fails with; fails the test if the configuration is accepted. */
export function configErrorOf(raw: unknown): string {
  try {
    parseConfig(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('the configuration was accepted');
}
