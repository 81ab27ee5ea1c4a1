import { HTTP2_PREFACE, sniff } from './sniff.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('sniff', () => {
  it('recognises the HTTP/2 preface as gRPC, even split across reads', () => {
    expect(sniff(HTTP2_PREFACE)).toBe('grpc');
    expect(sniff(Buffer.concat([HTTP2_PREFACE, b('\0\0')]))).toBe('grpc');
    expect(sniff(b('PR'))).toBe('need-more');
  });

  it('waits for the whole HTTP/2 preface, and refuses one cut short at the deadline', () => {
    expect(sniff(b('PRI '))).toBe('need-more');
    expect(sniff(HTTP2_PREFACE.subarray(0, 23))).toBe('need-more');
    expect(sniff(HTTP2_PREFACE.subarray(0, 23), true)).toBe('unknown');
    expect(sniff(b('PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n'))).toBe('unknown');
  });

  it('recognises legacy JSON, with leading whitespace too', () => {
    expect(sniff(b('{"type":"lookup"}'))).toBe('legacy');
    expect(sniff(b('  \n{'))).toBe('legacy');
    expect(sniff(b('   '))).toBe('need-more');
    expect(sniff(b('   '), true)).toBe('unknown');
  });

  it('recognises HTTP/1.1 request lines', () => {
    expect(sniff(b('GET /metrics HTTP/1.1\r\n'))).toBe('http');
    expect(sniff(b('POST / HTTP/1.1'))).toBe('http');
    expect(sniff(b('GE'))).toBe('need-more');
    expect(sniff(b('PU'))).toBe('need-more');
  });

  it('recognises a TLS ClientHello and refuses anything else', () => {
    expect(sniff(Buffer.from([0x16, 0x03, 0x01]))).toBe('tls');
    expect(sniff(b('SSH-2.0-OpenSSH'))).toBe('unknown');
    expect(sniff(Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8]))).toBe('unknown');
    expect(sniff(b('GET'), true)).toBe('unknown');
    expect(sniff(Buffer.alloc(0), true)).toBe('unknown');
  });
});
