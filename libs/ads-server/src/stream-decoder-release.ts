/**
 * Lets grpc-js's message decoder drop the chunks of a message once it has returned it.
 *
 * `StreamDecoder` (`@grpc/grpc-js` 1.14.7, packages/grpc-js/src/stream-decoder.ts upstream), one per
 * stream, frames messages out of the HTTP/2 DATA chunks. After it has returned a message it still
 * holds a one-byte view of the chunk the message began in (`readCompressFlag`, taken with
 * `data.slice`) and views of every chunk of the message (`readPartialMessage`), until the stream's
 * next message begins. A view keeps its chunk's whole ArrayBuffer alive.
 *
 * A state-of-the-world ACK repeats every name the proxy subscribes to: 60 KB for a sidecar of a
 * namespace with a thousand ServiceEntries, which arrives in a few chunks. Each stream kept the chunks
 * of its last ACK until its next one, that is across young-generation collections, so they were
 * promoted and freed only by full collections. They are memory outside the heap, and V8 starts a full
 * collection when that grows by 64 MB: at 10,000 ServiceEntries / 50,000 WorkloadEntries and 10 changes
 * a second, one every four seconds, each marking a heap of about 400 MB on the main thread while
 * changes wait (bench/istiod.mjs). With many streams it is also memory held for nothing: the size of
 * each stream's last request.
 *
 * The decoder's `write` is wrapped: when it ends between messages (`readState` back to no data), the
 * two references are replaced by ones that hold nothing. A message still being received keeps its
 * chunks, which it needs. grpc-js reads both fields only after setting them again for the next
 * message, so what it decodes does not change (tested against gRPC's framing over random chunkings).
 */
import { StreamDecoder } from '@grpc/grpc-js/build/src/stream-decoder.js';

/** The decoder's private state this relies on (grpc-js's `ReadState.NO_DATA` is 0). */
interface DecoderState {
  readState: number;
  readCompressFlag: Buffer;
  readPartialMessage: Buffer[];
}

const NO_DATA = 0;

/** What the flag holds between messages: a buffer of its own, never read before it is replaced. */
const RELEASED_FLAG = Buffer.alloc(1);

let installed: boolean | undefined;

/** Whether `decoder` has the fields the wrapper replaces, as grpc-js 1.14 does. */
function hasKnownState(decoder: unknown): decoder is DecoderState {
  const state = decoder as Partial<DecoderState>;
  return state.readState === NO_DATA && Buffer.isBuffer(state.readCompressFlag) && Array.isArray(state.readPartialMessage);
}

/**
 * Wraps `StreamDecoder.prototype.write` once per process (for servers and clients alike: both frame
 * messages with it). Returns false, and changes nothing, when the decoder is not the one this was
 * written for (a grpc-js whose decoder keeps other fields): memory is then held as before, nothing breaks.
 */
export function releaseDecodedChunks(): boolean {
  if (installed !== undefined) return installed;
  installed = hasKnownState(new StreamDecoder(-1));
  if (!installed) return false;
  const prototype = StreamDecoder.prototype as unknown as { write(this: DecoderState, data: Buffer): Buffer[] };
  const write = prototype.write;
  prototype.write = function writeAndRelease(this: DecoderState, data: Buffer): Buffer[] {
    const messages = write.call(this, data);
    if (this.readState === NO_DATA) {
      this.readCompressFlag = RELEASED_FLAG;
      if (this.readPartialMessage.length > 0) this.readPartialMessage = [];
    }
    return messages;
  };
  return true;
}
