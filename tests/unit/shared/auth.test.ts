import { SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { authSecretFromEnv, DEV_AUTH_SECRET, signToken, verifyToken } from '../../../src/shared/auth.js';

const secret = 'a-test-secret-that-is-at-least-32-bytes-long';

describe('tokens', () => {
  it('round-trips the user id', async () => {
    expect(await verifyToken(await signToken('alice', { secret }), { secret })).toBe('alice');
  });

  it('refuses missing, malformed, expired, foreign-signed and alg=none tokens', async () => {
    await expect(verifyToken(undefined, { secret })).rejects.toMatchObject({
      code: 'CHAT_ERR_UNAUTHENTICATED',
      message: 'missing token',
    });
    await expect(verifyToken('nope', { secret })).rejects.toMatchObject({
      code: 'CHAT_ERR_UNAUTHENTICATED',
      message: 'invalid token',
    });
    const expired = await signToken('alice', { secret, ttlSeconds: -10 });
    await expect(verifyToken(expired, { secret })).rejects.toMatchObject({ message: 'token expired' });
    const foreign = await signToken('alice', { secret: `${secret}-other` });
    await expect(verifyToken(foreign, { secret })).rejects.toMatchObject({ message: 'invalid token' });
    const none = new UnsecuredJWT({})
      .setSubject('alice')
      .setIssuer('chat-backend')
      .setExpirationTime('1h')
      .encode();
    await expect(verifyToken(none, { secret })).rejects.toMatchObject({ message: 'invalid token' });
    const hs512 = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS512' })
      .setSubject('alice')
      .setIssuer('chat-backend')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(secret));
    await expect(verifyToken(hs512, { secret })).rejects.toMatchObject({ message: 'invalid token' });
  });

  it('refuses a token whose subject is not a valid user id', async () => {
    const bad = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('eve\u0000')
      .setIssuer('chat-backend')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(secret));
    await expect(verifyToken(bad, { secret })).rejects.toMatchObject({ code: 'CHAT_ERR_UNAUTHENTICATED' });
  });

  it('requires a long secret outside dev mode and names the variable', () => {
    expect(() => authSecretFromEnv({}, false)).toThrow('CHAT_AUTH_SECRET: required');
    expect(() => authSecretFromEnv({ CHAT_AUTH_SECRET: 'short' }, false)).toThrow(
      'CHAT_AUTH_SECRET: must be at least 32 bytes',
    );
    expect(authSecretFromEnv({}, true)).toBe(DEV_AUTH_SECRET);
  });
});
