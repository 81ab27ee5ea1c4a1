import { buildProgram, exitCodeOf } from './cli.js';

/** The btctl entry point: parse, run, map errors to a message and an exit code. */
async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    const { code, message } = exitCodeOf(err);
    if (message !== undefined) process.stderr.write(`btctl: ${message}\n`);
    process.exitCode = code;
  }
}

await main();
