import { ConfigError } from '../errors.js';
import { buildLimitsConfig } from './config.js';
import { BYTES_PER_RECORD, defaultMaxRecords } from './record-budget.js';

describe('defaultMaxRecords', () => {
  it('gives a quarter of the smaller of heap limit and RAM to records', () => {
    const gib = 2 ** 30;
    expect(defaultMaxRecords(4 * gib, 64 * gib)).toBe(Math.floor(gib / BYTES_PER_RECORD));
    expect(defaultMaxRecords(4 * gib, 2 * gib)).toBe(Math.floor(gib / 2 / BYTES_PER_RECORD));
    expect(defaultMaxRecords(1024, 1024)).toBe(100_000);
  });
});

describe('buildLimitsConfig', () => {
  it('has documented defaults', () => {
    const c = buildLimitsConfig({});
    expect(c.maxConnectionsPerSource).toBe(256);
    expect(c.maxRecords).toBe(defaultMaxRecords());
    expect(c.clusterRate).toEqual({ ratePerSec: 500, burst: 2000 });
    expect(c.maxProvidersPerHost).toBe(8);
  });

  it('takes the flags and refuses bad ones naming the flag', () => {
    const c = buildLimitsConfig({
      maxConnectionsPerSource: '8',
      maxRecords: '1000',
      clusterRateLimit: '60/min',
      clusterRateBurst: '5',
      maxProvidersPerHost: '3',
    });
    expect(c).toEqual({
      maxConnectionsPerSource: 8,
      maxRecords: 1000,
      clusterRate: { ratePerSec: 1, burst: 5 },
      maxProvidersPerHost: 3,
    });
    expect(() => buildLimitsConfig({ maxProvidersPerHost: '0' })).toThrow(
      /--max-providers-per-host/,
    );
    expect(() => buildLimitsConfig({ maxRecords: '0' })).toThrow(/--max-records/);
    expect(() => buildLimitsConfig({ maxConnectionsPerSource: 'x' })).toThrow(ConfigError);
    expect(() => buildLimitsConfig({ clusterRateLimit: 'fast' })).toThrow(/--cluster-rate-limit/);
  });
});
