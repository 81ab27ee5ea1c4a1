import { serverCutoff } from './cluster-control.js';

/** Control.Digest: the server, not the caller, decides the cutoff it hashes at (issue 12). */
describe('Control.Digest cutoff', () => {
  const now = 1_800_000_000_400;
  const own = 1_800_000_003_000; // now + 2 s, rounded up to a second

  it('honours a cutoff within the next 3 s, rounded up to a whole second', () => {
    expect(serverCutoff(now, 1_800_000_002_000)).toBe(1_800_000_002_000);
    expect(serverCutoff(now, 1_800_000_001_234)).toBe(1_800_000_002_000);
  });

  it('replaces 0, a past cutoff and a far-future one with its own', () => {
    expect(serverCutoff(now, 0)).toBe(own);
    expect(serverCutoff(now, now - 60_000)).toBe(own);
    expect(serverCutoff(now, now + 365 * 86_400_000)).toBe(own);
  });
});
