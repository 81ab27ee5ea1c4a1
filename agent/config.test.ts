import { buildConfig, FLAG_DEFAULTS, type RawAgentFlags } from './config.js';
import { ConfigError } from './errors.js';

const base: RawAgentFlags = { ...FLAG_DEFAULTS };

describe('buildConfig', () => {
  it('applies the documented defaults', () => {
    const c = buildConfig(base);
    expect(c.listenHost).toBe('0.0.0.0');
    expect(c.listenPort).toBe(6000);
    expect(c.store.ttlMs).toBe(90_000);
    expect(c.store.maxSkewMs).toBe(30_000);
    expect(c.store.maxProvidersPerInfoHash).toBe(1000);
    expect(c.store.maxInfoHashes).toBe(1_000_000);
    expect(c.bootstrap).toEqual([]);
    expect(c.nodeId).toMatch(/^[\w.:@-]+$/);
  });

  it('parses durations, lists and explicit values', () => {
    const c = buildConfig({
      ...base,
      ttl: '2m',
      maxSkew: '500ms',
      bootstrap: 'a:1, b:2',
      listen: '127.0.0.1:0',
      nodeId: 'n1',
    });
    expect(c.store.ttlMs).toBe(120_000);
    expect(c.store.maxSkewMs).toBe(500);
    expect(c.bootstrap).toEqual(['a:1', 'b:2']);
    expect(c.listenPort).toBe(0);
    expect(c.advertise).toBe('127.0.0.1:0');
    expect(c.nodeId).toBe('n1');
  });

  it.each([
    [{ ttl: 'forever' }, /--ttl/],
    [{ ttl: '10ms' }, /--ttl: must be at least 1s/],
    [{ listen: 'nowhere' }, /--listen/],
    [{ bootstrap: 'a:1,b' }, /--bootstrap/],
    [{ logLevel: 'loud' }, /--log-level/],
    [{ maxInfoHashes: '0' }, /--max-info-hashes/],
    [{ nodeId: 'has space' }, /--node-id/],
  ])('refuses %j naming the flag', (override, message) => {
    expect(() => buildConfig({ ...base, ...override })).toThrow(ConfigError);
    expect(() => buildConfig({ ...base, ...override })).toThrow(message);
  });
});
