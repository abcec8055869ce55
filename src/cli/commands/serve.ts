import type { Command } from 'commander';
import { createLogger } from '../../infra/logger.ts';
import { loadConfigOrExit } from '../context.ts';

export function serveCommand(program: Command) {
  program
    .command('serve')
    .description('start the HTTP server (migrations run first)')
    .option('--port <port>', 'port to listen on (KEYPLANE_PORT, default 8080)')
    .option('--host <host>', 'address to bind (KEYPLANE_HOST, default 127.0.0.1)')
    .action(async (opts: { port?: string; host?: string }) => {
      const overrides: Record<string, string> = {};
      if (opts.port !== undefined) overrides.KEYPLANE_PORT = opts.port;
      if (opts.host !== undefined) overrides.KEYPLANE_HOST = opts.host;
      const config = loadConfigOrExit(overrides);
      const logger = createLogger({ level: config.logLevel });
      // The HTTP server and everything behind it load only for `serve` (other commands start faster).
      const { startServer } = await import('../../server.ts');
      const server = await startServer(config, logger);
      await new Promise<void>((resolve) => {
        let signalled = false;
        const onSignal = (signal: NodeJS.Signals) => {
          if (signalled) return;
          signalled = true;
          logger.info({ signal }, 'stopping: finishing in-flight requests and flushing buffers');
          const hard = setTimeout(() => {
            logger.error('graceful stop took too long; exiting');
            process.exit(1);
          }, config.shutdownTimeoutMs);
          hard.unref();
          server.stop().then(
            () => {
              logger.info('stopped');
              resolve();
            },
            (err) => {
              logger.error({ err }, 'error while stopping');
              process.exitCode = 1;
              resolve();
            },
          );
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
    });
}
