/**
 * The numeric command-line options of the benchmarks (`npm run bench:NAME -- --trials 3`).
 * No validation: a benchmark is run by its author, and a bad value shows in its output.
 */

/** The number after `name` in `argv` (default: this process's arguments), or `def` if absent. */
export function numberOption(
  name: string,
  def: number,
  argv: readonly string[] = process.argv.slice(2),
): number {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : def;
}
