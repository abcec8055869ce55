import { buildVideoApi } from './app.ts';

/**
 * `npm start -w examples/video-api`: KEYPLANE_URL (default http://127.0.0.1:8080),
 * KEYPLANE_ADMIN_TOKEN (scopes verify and usage:write), PORT (default 5002, as seed 01), HOST.
 */
const keyplaneUrl = process.env.KEYPLANE_URL ?? 'http://127.0.0.1:8080';
const adminToken = process.env.KEYPLANE_ADMIN_TOKEN;
if (!adminToken) {
  console.error(
    'KEYPLANE_ADMIN_TOKEN is required: keyplane admin-tokens create --name video-api --scopes verify,usage:write',
  );
  process.exit(2);
}

const { app } = buildVideoApi({ keyplaneUrl, adminToken, logger: true });
const port = Number(process.env.PORT ?? 5002);
await app.listen({ port, host: process.env.HOST ?? '127.0.0.1' });

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    // Closing sends the usage still buffered to Keyplane before exiting.
    void app.close().then(() => process.exit(0));
  });
}
