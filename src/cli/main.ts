import { formatError } from './context.ts';
import { buildProgram } from './program.ts';

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  const { code, text } = formatError(err);
  process.stderr.write(text + '\n');
  process.exitCode = code;
}
