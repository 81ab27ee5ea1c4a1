import { createOutsider, type Outsider } from '../../tools/hostile/netns.js';

// The namespace code lives in tools/ (bench:hostile uses it too); tests import it from here.
export { canCreateNamespaces, createOutsider, type Outsider } from '../../tools/hostile/netns.js';

/**
 * `createOutsider()` for a test file: where namespaces cannot be made, says so
 * on stderr (naming the test) and returns undefined, and the file skips.
 */
export function outsiderOrSkip(testName: string): Outsider | undefined {
  const o = createOutsider();
  if (o === undefined) {
    process.stderr.write(`${testName} test SKIPPED: needs root with CAP_NET_ADMIN (ip netns)\n`);
  }
  return o;
}
