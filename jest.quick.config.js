/**
 * `npm run test:quick`: every unit and property test, and the process tests that
 * need no Docker engine, no network namespace (root) and no outside BitTorrent
 * client, Python or wrk. `npm test` (jest.config.js) stays the whole suite, and is
 * what CI runs. A test file belongs in NEEDS_MORE when it calls `requireTools`
 * for one of those, or makes an outsider host (test/helpers/outsider.ts).
 */
import base from './jest.config.js';

/** Test files left to the whole suite, and what each needs. */
export const NEEDS_MORE = {
  'test/deploy.test.ts': 'docker',
  'test/swarm/swarm.test.ts': 'docker engine, debootstrap',
  'test/bounds-cluster-flood.test.ts': 'network namespace',
  'test/bounds-connections.test.ts': 'network namespace',
  'test/hostile-grpc.test.ts': 'network namespace',
  'test/hostile-http.test.ts': 'network namespace',
  'test/hostile-records.test.ts': 'network namespace',
  'test/outsider.test.ts': 'network namespace',
  'test/partition.test.ts': 'network namespace',
  'test/security-admin.test.ts': 'network namespace',
  'test/security-defaults.test.ts': 'network namespace',
  'test/legacy-wire.test.ts': 'python3 (a legacy peer)',
  'test/load-burst.test.ts': 'wrk',
  'test/python-example.test.ts': 'python3-grpcio',
  'test/torrent-interop.test.ts': 'aria2, transmission, libtorrent',
  'test/torrent/magnet-interop.test.ts': 'aria2, libtorrent',
  'test/torrents-e2e-magnet.test.ts': 'aria2',
  'test/tracker-interop.test.ts': 'aria2, transmission, libtorrent',
  'test/udp-tracker.test.ts': 'libtorrent',
};

export default {
  ...base,
  testPathIgnorePatterns: [
    '/node_modules/',
    ...Object.keys(NEEDS_MORE).map((p) => `<rootDir>/${p}`),
  ],
};
