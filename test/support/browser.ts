import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (apt-get install chromium), or KEYPLANE_TEST_CHROMIUM. */
export const CHROMIUM = process.env.KEYPLANE_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Whether browser tests can run; with CI=true a missing Chromium is a failure, not a skip. */
export const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true')
  throw new Error(`CI=true and no Chromium at ${CHROMIUM}`);

/** A headless Chromium that talks to loopback only (no background network, no updates). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
