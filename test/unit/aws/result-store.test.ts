import { S3Client } from '@aws-sdk/client-s3';
import { PRESIGN_EXPIRY_MARGIN_SECONDS, presignLifetimeSeconds, ResultStore } from '../../../lambda/aws/result-store';

const now = new Date('2026-11-25T10:00:00.000Z');
const location = { bucket: 'results-bucket', key: 'results/job-1.json', bytes: 100 };
const inSeconds = (s: number) => new Date(now.getTime() + s * 1000);

/** An S3 client signing with fixed credentials, expiring when given (as Lambda role credentials do). */
const clientWith = (expiration?: Date) =>
  new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token', ...(expiration && { expiration }) } });

const expiresOf = (url: string) => Number(new URL(url).searchParams.get('X-Amz-Expires'));

describe('presigned result URLs', () => {
  it('live as long as asked when the signing credentials outlast them', () => {
    expect(presignLifetimeSeconds(900, inSeconds(3600), now)).toBe(900);
  });

  it('end a minute before credentials that expire sooner', () => {
    expect(PRESIGN_EXPIRY_MARGIN_SECONDS).toBe(60);
    expect(presignLifetimeSeconds(900, inSeconds(600), now)).toBe(540);
  });

  it('keep the asked lifetime when the credentials do not say when they expire (long-term keys)', () => {
    expect(presignLifetimeSeconds(3600, undefined, now)).toBe(3600);
  });

  it('never sign for less than a second, even with credentials about to expire', () => {
    expect(presignLifetimeSeconds(900, inSeconds(30), now)).toBe(1);
  });

  it('are signed with the capped lifetime, read from the client\'s own credentials', async () => {
    expect(expiresOf(await ResultStore.presignedUrl(clientWith(inSeconds(1200)), location, 3600, now))).toBe(1140);
    expect(expiresOf(await ResultStore.presignedUrl(clientWith(inSeconds(7200)), location, 900, now))).toBe(900);
    expect(expiresOf(await ResultStore.presignedUrl(clientWith(), location, 900, now))).toBe(900);
  });

  it('name the result object and carry the session token that S3 checks', async () => {
    const url = new URL(await ResultStore.presignedUrl(clientWith(inSeconds(7200)), location, 900, now));
    expect(url.pathname).toContain('results/job-1.json');
    expect(url.searchParams.get('X-Amz-Security-Token')).toBe('token');
  });
});
