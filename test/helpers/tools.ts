/**
 * Fail fast, naming the program, when a test's external tool is absent: a spawn of a
 * missing binary otherwise surfaces as a 90–120 s hook timeout. Call at the top of a
 * test file (a throw there fails the file at once). `npm test`'s pretest installs
 * them (tools/system-tools.ts).
 */
import {
  describeMissing,
  missingTools,
  packagesFor,
  toolsNamed,
  type SystemToolName,
} from '../../tools/system-tools.js';

export function requireTools(...names: SystemToolName[]): void {
  const missing = missingTools(toolsNamed(names));
  if (missing.length === 0) return;
  throw new Error(
    `missing system tools: ${describeMissing(missing)}; install: apt-get install -y ` +
      `--no-install-recommends ${packagesFor(missing).join(' ')} (npm test's pretest does this as root)`,
  );
}
