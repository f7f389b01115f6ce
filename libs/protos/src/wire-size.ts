/**
 * Sizes on the protobuf wire, for the encoders that write a message into a buffer of its exact size
 * (measured first, then written without growing or copying): the ADS server's response framing and
 * the translator's endpoint writer. Loads no generated file.
 */

/** Bytes of `value` as a varint (a non-negative integer up to 2^53). */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size += 1;
  }
  return size;
}

/** Bytes of a length-delimited field with a one-byte tag (field numbers below 16) around `length` bytes. */
export function delimitedSize(length: number): number {
  return 1 + varintSize(length) + length;
}

/**
 * The UTF-8 length of `value`. Addresses and names are short and almost always ASCII: for them a loop
 * here is several times faster than `Buffer.byteLength`'s call into the runtime, which measures the
 * rest. A result equal to `value.length` means every character is ASCII (any other takes more bytes
 * than UTF-16 units).
 */
export function utf8Length(value: string): number {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) >= 0x80) return Buffer.byteLength(value, 'utf8');
  return value.length;
}
