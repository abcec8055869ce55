// Worker entry: workers do not inherit the main thread's TypeScript loader, so register tsx
// here (as bin/keyplane does) and then load the writer.
import { register } from 'tsx/esm/api';

register();
await import('./usage-writer-worker.ts');
