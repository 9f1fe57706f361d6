/**
 * The Kafka and ZooKeeper server jars, resolved from Maven Central by Maven (infra/pom.xml)
 * into infra/lib/<server>/. Maven caches them in ~/.m2, so only the first run downloads.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LIB_DIR, PROJECT_ROOT } from './paths.js';
import { InfraError, requireCommand } from './processes.js';

export type JavaServer = 'kafka' | 'zookeeper';

/** The classpath of a server, resolving its jars first when missing. */
export function serverClasspath(server: JavaServer): string {
  const dir = join(LIB_DIR, server);
  const hasJars = () => existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.jar'));
  if (!hasJars()) {
    requireCommand('mvn', 'install Apache Maven (apt-get install maven) to fetch the Kafka/ZooKeeper jars');
    const result = spawnSync(
      'mvn',
      [
        '-B',
        '-q',
        '-f',
        join(PROJECT_ROOT, 'infra', 'pom.xml'),
        '-P',
        server,
        'dependency:copy-dependencies',
        '-DincludeScope=runtime',
        `-DoutputDirectory=${dir}`,
      ],
      { encoding: 'utf8' },
    );
    if (result.status !== 0 || !hasJars()) {
      throw new InfraError(
        `mvn could not resolve the ${server} jars (exit ${result.status}):\n${(result.stdout + result.stderr).slice(-2000)}`,
      );
    }
  }
  return join(dir, '*');
}
