// Types for bencode@4 (the package ships none). Strings decode to Uint8Array.
declare module 'bencode' {
  /** A decoded bencoded value. */
  export type BValue = number | Uint8Array | BValue[] | { [key: string]: BValue };
  interface Bencode {
    encode(value: unknown): Uint8Array;
    decode(data: Uint8Array, start?: number, end?: number, encoding?: string): BValue;
  }
  const bencode: Bencode;
  export default bencode;
}
