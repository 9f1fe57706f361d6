export { bundlePage, startWebServer, type WebServer, type WebServerOptions } from './server.js';
