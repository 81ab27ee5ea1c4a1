import { ConfigError } from '../errors.js';
import { buildHttpTrackerConfig } from './config.js';

describe('tracker flags', () => {
  it('defaults the announce interval to 30 s under the default 90 s TTL', () => {
    expect(buildHttpTrackerConfig({}, 90_000).tracker.intervalSec).toBe(30);
  });

  it('caps the default interval at half a short --ttl instead of refusing to start', () => {
    expect(buildHttpTrackerConfig({}, 2000).tracker.intervalSec).toBe(1);
    expect(buildHttpTrackerConfig({}, 20_000).tracker.intervalSec).toBe(10);
  });

  it('refuses an explicit interval that clients could not keep alive within the TTL', () => {
    expect(() => buildHttpTrackerConfig({ trackerInterval: '30s' }, 20_000)).toThrow(ConfigError);
    expect(() => buildHttpTrackerConfig({ trackerInterval: '30s' }, 20_000)).toThrow(
      /--tracker-interval: must be 1s or more and at most half of --ttl \(20s\)/,
    );
    expect(buildHttpTrackerConfig({ trackerInterval: '10s' }, 20_000).tracker.intervalSec).toBe(10);
  });
});
