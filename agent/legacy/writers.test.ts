import { SourceSet } from '../security/sources.js';
import { LegacyWriters } from './writers.js';

describe('LegacyWriters', () => {
  const loopback = SourceSet.parse('127.0.0.0/8,::1');

  it('allows --legacy-sources blocks and literal --legacy-peers addresses, nobody else', () => {
    const w = new LegacyWriters({
      peers: ['198.18.5.5:7000', '[2001:db8::5]:7000'],
      sources: loopback,
      resolveIntervalMs: 1000,
    });
    expect(w.allows('127.0.0.9')).toBe(true);
    expect(w.allows('::ffff:127.0.0.1')).toBe(true);
    expect(w.allows('198.18.5.5')).toBe(true);
    expect(w.allows('::ffff:198.18.5.5')).toBe(true);
    expect(w.allows('2001:db8::5')).toBe(true);
    expect(w.allows('198.18.5.6')).toBe(false);
    expect(w.allows(undefined)).toBe(false);
  });

  it('resolves peer names, follows a changed answer, keeps the last one when DNS fails', async () => {
    let answer: string[] | Error = ['198.18.1.1'];
    const w = new LegacyWriters({
      peers: ['go-node.example:7000'],
      sources: SourceSet.parse(''),
      resolveIntervalMs: 1000,
      resolve: (host) => {
        expect(host).toBe('go-node.example');
        return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
      },
    });
    expect(w.allows('198.18.1.1')).toBe(false); // not resolved yet
    await w.refresh();
    expect(w.allows('198.18.1.1')).toBe(true);
    answer = ['198.18.2.2'];
    await w.refresh();
    expect(w.allows('198.18.1.1')).toBe(false);
    expect(w.allows('198.18.2.2')).toBe(true);
    answer = new Error('SERVFAIL');
    await w.refresh();
    expect(w.allows('198.18.2.2')).toBe(true);
    w.stop();
  });
});
