/** Where the project keeps its server jars and runtime data. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (the folder with package.json). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Server jars resolved by Maven: infra/lib/<server>/*.jar. */
export const LIB_DIR = join(PROJECT_ROOT, 'infra', 'lib');

/** Runtime data (server data dirs, pid files, logs). Env CHAT_DATA_DIR, default .data/. */
export function dataDir(): string {
  return process.env.CHAT_DATA_DIR ?? join(PROJECT_ROOT, '.data');
}
