import fc from 'fast-check';
import { DEFAULT_GRPC_INBOUND_LIMITS, InboundBudget, MessageMeter } from './grpc-inbound.js';

const MiB = 1024 * 1024;

/** A gRPC frame prefix announcing `length` bytes. */
function prefix(length: number): Buffer {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(length, 1);
  return b;
}

describe('MessageMeter', () => {
  it('counts the bytes of the unfinished message and gives them back when it completes', () => {
    const m = new MessageMeter();
    expect(m.feed(prefix(10), 1)).toBe(5);
    expect(m.startedAt).toBe(1);
    expect(m.feed(Buffer.alloc(4), 2)).toBe(4);
    expect(m.held).toBe(9);
    // The rest of the message and the first 3 bytes of the next one.
    expect(m.feed(Buffer.concat([Buffer.alloc(6), prefix(0).subarray(0, 3)]), 3)).toBe(3 - 9);
    expect(m.completed).toBe(1);
    expect(m.held).toBe(3);
    expect(m.startedAt).toBe(3);
    expect(m.feed(prefix(0).subarray(3), 4)).toBe(-3);
    expect(m.completed).toBe(2);
    expect(m.held).toBe(0);
  });

  it('follows any split of a stream of messages into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 40 }),
        (sizes, cuts) => {
          const all = Buffer.concat(sizes.map((n) => Buffer.concat([prefix(n), Buffer.alloc(n)])));
          const m = new MessageMeter();
          let at = 0;
          let sum = 0;
          let i = 0;
          while (at < all.length) {
            const end = Math.min(all.length, at + cuts[i++ % cuts.length]);
            sum += m.feed(all.subarray(at, end), 0);
            at = end;
          }
          expect(m.completed).toBe(sizes.length);
          expect(m.held).toBe(0);
          expect(sum).toBe(0);
        },
      ),
    );
  });
});

describe('InboundBudget', () => {
  const limits = {
    ...DEFAULT_GRPC_INBOUND_LIMITS,
    maxUnfinishedBytesPerConnection: 10 * MiB,
    maxUnfinishedBytesPerSource: 15 * MiB,
    maxUnfinishedBytesUntrusted: 20 * MiB,
    maxUnfinishedBytesTrusted: 12 * MiB,
  };

  it('refuses past the connection, source and agent bounds, taking nothing then', () => {
    const b = new InboundBudget(limits);
    const a1 = b.open('198.18.0.2', false);
    const a2 = b.open('198.18.0.2', false);
    expect(b.charge(a1, 10 * MiB)).toBeUndefined();
    expect(b.charge(a1, 1)).toBe('connection_budget');
    expect(b.charge(a2, 6 * MiB)).toBe('source_budget');
    expect(b.charge(a2, 5 * MiB)).toBeUndefined();
    expect(b.heldBy('198.18.0.2')).toBe(15 * MiB);
    const other = b.open('198.18.0.3', false);
    expect(b.charge(other, 6 * MiB)).toBe('agent_budget');
    expect(b.charge(other, 5 * MiB)).toBeUndefined();
    expect(b.held.untrusted).toBe(20 * MiB);
    // Trusted sources have their own pool: an untrusted flood leaves it whole.
    const lo = b.open('127.0.0.1', true);
    expect(b.charge(lo, 10 * MiB)).toBeUndefined();
    expect(b.held.trusted).toBe(10 * MiB);
    b.release(a1, 10 * MiB);
    expect(b.charge(other, 5 * MiB)).toBeUndefined();
  });

  it('gives back what a closed connection held, and forgets the source with its last connection', () => {
    const b = new InboundBudget(limits);
    const c = b.open('198.18.0.2', false);
    b.charge(c, 4 * MiB);
    b.close(c);
    expect(b.held).toEqual({ untrusted: 0, trusted: 0, sources: 0 });
  });
});
