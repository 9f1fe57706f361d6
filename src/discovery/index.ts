/**
 * Service discovery: hands clients the least-loaded chat server from an in-memory view of the
 * ZooKeeper registrations, and serves presence from the presence topic. Chat servers register
 * with src/shared/registry.ts.
 */
export { type DiscoveryConfig, readDiscoveryConfig } from './config.js';
export { type RandomFn, type ServerEntry, ServerTable } from './picker.js';
export {
  createDiscoveryServer,
  DEFAULT_DISCOVERY_PORT,
  DEFAULT_MAX_REQUEST_BYTES,
  DISCOVERY_SERVICES,
  type DiscoveryServer,
  type DiscoveryServerOptions,
} from './server.js';
export { MAX_PRESENCE_IDS, NO_SERVER_MESSAGE } from './services.js';
