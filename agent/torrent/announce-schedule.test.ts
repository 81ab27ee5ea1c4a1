import {
  AnnounceSchedule,
  ANNOUNCE_RETRY_MS,
  type AnnounceParams,
  type PeerSource,
} from './peer-source.js';

const params = (event: AnnounceParams['event']): AnnounceParams => ({
  infoHash: Buffer.alloc(20),
  peerId: Buffer.alloc(20),
  port: 1,
  uploaded: 0,
  downloaded: 0,
  left: 0,
  event,
  numwant: 50,
});

describe('AnnounceSchedule', () => {
  const now = 1_000_000;
  const clock = (): number => now;

  it('schedules the next announce at the interval and returns the peers', async () => {
    const src: PeerSource = {
      name: 't',
      announce: () => Promise.resolve({ peers: [{ host: '10.0.0.1', port: 1 }], intervalSec: 30 }),
    };
    const s = new AnnounceSchedule(clock);
    expect(s.started(src)).toBe(false);
    expect(s.due(src, now)).toBe(true);
    expect(await s.announce(src, params('started'))).toEqual([{ host: '10.0.0.1', port: 1 }]);
    expect(s.started(src)).toBe(true);
    expect(s.due(src, now + 29_999)).toBe(false);
    expect(s.due(src, now + 30_000)).toBe(true);
  });

  it('is never due while an announce is in flight, and backs off after a failure', async () => {
    let fail: (e: Error) => void = () => undefined;
    const src: PeerSource = {
      name: 't',
      announce: () => new Promise((_, rej) => (fail = rej)),
    };
    const s = new AnnounceSchedule(clock);
    const pending = s.announce(src, params(undefined));
    expect(s.due(src, now + 10 ** 9)).toBe(false);
    fail(new Error('down'));
    expect(await pending).toBeUndefined();
    expect(s.due(src, now + ANNOUNCE_RETRY_MS - 1)).toBe(false);
    expect(s.due(src, now + ANNOUNCE_RETRY_MS)).toBe(true);
  });

  it('gives up on a source that does not answer within the timeout', async () => {
    const src: PeerSource = { name: 't', announce: () => new Promise(() => undefined) };
    expect(await new AnnounceSchedule(clock).announce(src, params(undefined), 20)).toBeUndefined();
  });

  it('returns no peers after stopped and schedules nothing more', async () => {
    const src: PeerSource = {
      name: 't',
      announce: () => Promise.resolve({ peers: [{ host: '10.0.0.1', port: 1 }], intervalSec: 30 }),
    };
    const s = new AnnounceSchedule(clock);
    expect(await s.announce(src, params('stopped'))).toBeUndefined();
    expect(s.due(src, now + 10 ** 9)).toBe(false);
  });
});
