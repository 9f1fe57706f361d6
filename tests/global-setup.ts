import type { TestProject } from 'vitest/node';
import { ensureInfra } from '../src/infra/infra.js';

declare module 'vitest' {
  export interface ProvidedContext {
    infra: { zookeeperConnect: string; kafkaBrokers: string[]; databaseUrl: string };
  }
}

/** Brings up the real servers once for the whole run; stops only what it started. */
export default async function setup(project: TestProject) {
  const infra = await ensureInfra({ log: (line) => console.log(`[infra] ${line}`) });
  project.provide('infra', {
    zookeeperConnect: infra.zookeeperConnect,
    kafkaBrokers: infra.kafkaBrokers,
    databaseUrl: infra.databaseUrl,
  });
  return async () => {
    await infra.stop();
  };
}
