/** The fast path's strict request-head parser: what it accepts, and everything it leaves to node:http. */
import fc from 'fast-check';
import { parseRequestHead, type HeadVerdict } from './http1-head.js';

const LIMITS = { maxHeadBytes: 4096, maxHeaders: 64 };
const accepts = (path: string): boolean => path === '/announce' || path === '/scrape';
const parse = (text: string, start = 0): HeadVerdict =>
  parseRequestHead(Buffer.from(text, 'latin1'), start, LIMITS, accepts);
const kind = (text: string): string => parse(text).kind;

describe('parseRequestHead', () => {
  it('accepts a simple GET with Host, splitting path and query', () => {
    const text =
      'GET /announce?info_hash=%AB&port=1 HTTP/1.1\r\nHost: a:6000\r\nUser-Agent: x\r\n\r\n';
    expect(parse(text)).toEqual({
      kind: 'simple',
      end: text.length,
      path: '/announce',
      query: 'info_hash=%AB&port=1',
      keepAlive: true,
    });
    expect(parse('GET /scrape HTTP/1.1\r\nhost:x\r\n\r\n')).toMatchObject({
      path: '/scrape',
      query: '',
    });
  });

  it('reads Connection: close (any case, in a list) as the last request', () => {
    const req = (v: string): HeadVerdict =>
      parse(`GET /announce HTTP/1.1\r\nHost: a\r\nConnection: ${v}\r\n\r\n`);
    expect(req('close')).toMatchObject({ kind: 'simple', keepAlive: false });
    expect(req('Keep-Alive, CLOSE')).toMatchObject({ kind: 'simple', keepAlive: false });
    expect(req('keep-alive')).toMatchObject({ kind: 'simple', keepAlive: true });
    expect(req('upgrade').kind).toBe('other');
    expect(req('te, close').kind).toBe('other');
  });

  it('leaves to node:http every other method, version, path, body or odd byte', () => {
    const h = 'Host: a\r\n';
    for (const text of [
      `HEAD /announce HTTP/1.1\r\n${h}\r\n`,
      `POST /announce HTTP/1.1\r\n${h}\r\n`,
      `GET /announce HTTP/1.0\r\n${h}\r\n`,
      `GET /metrics HTTP/1.1\r\n${h}\r\n`,
      `GET /announcex HTTP/1.1\r\n${h}\r\n`,
      `GET http://a/announce HTTP/1.1\r\n${h}\r\n`,
      `GET  /announce HTTP/1.1\r\n${h}\r\n`,
      `\r\nGET /announce HTTP/1.1\r\n${h}\r\n`,
      'GET /announce HTTP/1.1\r\n\r\n', // no Host (node answers 400)
      `GET /announce HTTP/1.1\r\n${h}${h}\r\n`, // two
      `GET /announce HTTP/1.1\r\n${h}Content-Length: 5\r\n\r\nhello`,
      `GET /announce HTTP/1.1\r\n${h}Transfer-Encoding: chunked\r\n\r\n`,
      `GET /announce HTTP/1.1\r\n${h}Expect: 100-continue\r\n\r\n`,
      `GET /announce HTTP/1.1\r\n${h}Upgrade: websocket\r\n\r\n`,
      `GET /announce HTTP/1.1\r\n${h}X-A: b\r\n c\r\n\r\n`, // obs-fold
      `GET /announce HTTP/1.1\r\n${h}X A: b\r\n\r\n`,
      `GET /announce HTTP/1.1\r\n${h}Host : b\r\n\r\n`,
      `GET /announce HTTP/1.1\r\n${h}X-A: b\x01\r\n\r\n`,
      `GET /announce HTTP/1.1\r\n${h}X-A: \x80\r\n\r\n`,
      `GET /announce?\x80 HTTP/1.1\r\n${h}\r\n`,
      'GET /announce HTTP/1.1\nHost: a\n\n',
      `GET /announce HTTP/1.1\r\n${h}X-A\r\n\r\n`,
    ]) {
      expect([text, kind(text)]).toEqual([text, 'other']);
    }
    expect(kind(`GET /announce HTTP/1.1\r\n${h}Content-Length: 0\r\n\r\n`)).toBe('simple');
  });

  it('waits for the rest of a head that can still be simple, and no longer than that', () => {
    expect(kind('')).toBe('partial');
    expect(kind('GE')).toBe('partial');
    expect(kind('GET /announce?a=1 HTTP/1.1\r\nHost: a\r\n')).toBe('partial');
    expect(kind('GET /announce HTTP/1.1\r\nHost: a\r\n\r')).toBe('partial');
    // Decided as soon as it cannot be simple: node:http takes it from there.
    expect(kind('P')).toBe('other');
    expect(kind('GET /metrics HTTP/1.1\r\n')).toBe('other');
    expect(kind('GET /announce HTTP/1.0\r\n')).toBe('other');
    expect(kind('GET /announce HTTP/1.1\n')).toBe('other');
    // A head that has not ended within the bound goes to node (its 431/414 apply).
    expect(kind(`GET /announce HTTP/1.1\r\nX: ${'a'.repeat(5000)}`)).toBe('other');
    expect(kind(`GET /announce HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(5000)}\r\n\r\n`)).toBe(
      'other',
    );
    const many = Array.from({ length: 65 }, (_, i) => `X-${i}: y\r\n`).join('');
    expect(kind(`GET /announce HTTP/1.1\r\nHost: a\r\n${many}\r\n`)).toBe('other');
  });

  const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
  const value = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,20}[\x21-\x7e])?$/);
  const query = fc.stringMatching(/^[\x21-\x7e]{0,80}$/);
  /** A simple request as a client might send it, with what the parser must report. */
  const simpleArb = fc
    .record({
      path: fc.constantFrom('/announce', '/scrape'),
      query: fc.option(query, { nil: undefined }),
      extra: fc.array(
        fc.tuple(token, value).filter(([n]) => {
          const l = n.toLowerCase();
          return ![
            'host',
            'connection',
            'content-length',
            'transfer-encoding',
            'upgrade',
            'expect',
          ].includes(l);
        }),
        { maxLength: 6 },
      ),
      close: fc.boolean(),
      hostFirst: fc.boolean(),
    })
    .map((r) => {
      const target = r.query === undefined ? r.path : `${r.path}?${r.query}`;
      const lines = r.extra.map(([n, v]) => `${n}: ${v}\r\n`);
      const host = 'Host: 127.0.0.1:6000\r\n';
      if (r.hostFirst) lines.unshift(host);
      else lines.push(host);
      if (r.close) lines.push('Connection: close\r\n');
      const qAt = target.indexOf('?');
      return {
        text: `GET ${target} HTTP/1.1\r\n${lines.join('')}\r\n`,
        path: qAt < 0 ? target : target.slice(0, qAt),
        query: qAt < 0 ? '' : target.slice(qAt + 1),
        keepAlive: !r.close,
      };
    });

  it('parses generated simple requests, and every prefix of one is partial', () => {
    fc.assert(
      fc.property(simpleArb, fc.nat(), (req, cut) => {
        expect(parse(req.text)).toEqual({
          kind: 'simple',
          end: req.text.length,
          path: req.path,
          query: req.query,
          keepAlive: req.keepAlive,
        });
        expect(kind(req.text.slice(0, cut % req.text.length))).toBe('partial');
      }),
    );
  });

  it('reads pipelined requests one after the other from where the last ended', () => {
    fc.assert(
      fc.property(fc.array(simpleArb, { minLength: 1, maxLength: 5 }), (reqs) => {
        const data = Buffer.from(reqs.map((r) => r.text).join(''), 'latin1');
        let at = 0;
        for (const r of reqs) {
          const v = parseRequestHead(data, at, LIMITS, accepts);
          expect(v).toMatchObject({ kind: 'simple', path: r.path, query: r.query });
          at = (v as { end: number }).end;
        }
        expect(at).toBe(data.length);
        expect(parseRequestHead(data, at, LIMITS, accepts).kind).toBe('partial');
      }),
    );
  });
});
