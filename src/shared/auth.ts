/**
 * Access tokens: HS256 JWTs (jose) whose `sub` is the user id. The chat servers verify them on
 * the WebSocket upgrade; the dev-mode token endpoint and the CLI mint them.
 */
import { errors, jwtVerify, SignJWT } from 'jose';
import { ChatBackendError } from './errors.js';
import { checkUserId } from './limits.js';

/** Options shared by signing and verifying. */
export interface TokenOptions {
  /** The shared secret (CHAT_AUTH_SECRET), at least 32 bytes. */
  secret: string;
  /** Expected issuer. Default "chat-backend". */
  issuer?: string;
}

const DEFAULT_ISSUER = 'chat-backend';
const encoder = new TextEncoder();

/** The minimum secret length in bytes; shorter HS256 keys are guessable. */
export const MIN_SECRET_BYTES = 32;

function key(secret: string): Uint8Array {
  const bytes = encoder.encode(secret);
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new ChatBackendError(
      'CHAT_ERR_CONFIG',
      `CHAT_AUTH_SECRET: must be at least ${MIN_SECRET_BYTES} bytes`,
    );
  }
  return bytes;
}

/**
 * The secret used in dev mode when CHAT_AUTH_SECRET is unset: public, so tokens minted with it
 * prove nothing. Never accepted outside dev mode.
 */
export const DEV_AUTH_SECRET = 'dev-mode-only-insecure-secret-do-not-use-in-production';

/**
 * The auth secret from the environment: CHAT_AUTH_SECRET, or {@link DEV_AUTH_SECRET} when
 * CHAT_DEV_MODE is on and the variable is unset. Throws CHAT_ERR_CONFIG naming the variable.
 */
export function authSecretFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  devMode: boolean,
): string {
  const secret = env.CHAT_AUTH_SECRET?.trim();
  if (!secret) {
    if (devMode) return DEV_AUTH_SECRET;
    throw new ChatBackendError(
      'CHAT_ERR_CONFIG',
      'CHAT_AUTH_SECRET: required (at least 32 bytes) outside dev mode',
    );
  }
  key(secret);
  return secret;
}

/** Mints a token for a user, valid for ttlSeconds (default 1 day). */
export async function signToken(
  userId: string,
  options: TokenOptions & { ttlSeconds?: number },
): Promise<string> {
  checkUserId(userId, 'user id');
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuer(options.issuer ?? DEFAULT_ISSUER)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.ttlSeconds ?? 86400))
    .sign(key(options.secret));
}

/**
 * Verifies a token and returns its user id. Only HS256 is accepted (never `alg: none`); a
 * missing, malformed, expired or foreign-signed token is CHAT_ERR_UNAUTHENTICATED.
 */
export async function verifyToken(token: string | undefined, options: TokenOptions): Promise<string> {
  if (!token) throw new ChatBackendError('CHAT_ERR_UNAUTHENTICATED', 'missing token');
  try {
    const { payload } = await jwtVerify(token, key(options.secret), {
      algorithms: ['HS256'],
      issuer: options.issuer ?? DEFAULT_ISSUER,
      requiredClaims: ['sub', 'exp'],
    });
    const sub = payload.sub ?? '';
    checkUserId(sub, 'token subject');
    return sub;
  } catch (err) {
    if (ChatBackendError.is(err, 'CHAT_ERR_CONFIG')) throw err;
    const reason =
      err instanceof errors.JWTExpired
        ? 'token expired'
        : ChatBackendError.is(err)
          ? err.message
          : 'invalid token';
    throw new ChatBackendError('CHAT_ERR_UNAUTHENTICATED', reason, { cause: err });
  }
}
