// The conformance runner talks to a client or server under test over stdin
// and stdout: each message is a 4-byte big-endian length, then the message in
// binary protobuf (docs/testing_clients.md, docs/testing_servers.md of
// connectrpc.com/conformance).
import { fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { Readable, Writable } from "node:stream";

/** Yields each size-delimited message on `input` until it ends; a cut-off message is an error. */
export async function* readDelimited<Desc extends DescMessage>(input: Readable, schema: Desc): AsyncGenerator<MessageShape<Desc>> {
  let buffered: Buffer = Buffer.alloc(0);
  for await (const chunk of input) {
    buffered = buffered.length === 0 ? (chunk as Buffer) : Buffer.concat([buffered, chunk as Buffer]);
    while (buffered.length >= 4) {
      const size = buffered.readUInt32BE(0);
      if (buffered.length < 4 + size) break;
      yield fromBinary(schema, buffered.subarray(4, 4 + size));
      buffered = buffered.subarray(4 + size);
    }
  }
  if (buffered.length > 0) throw new Error(`stdin ended inside a message (${buffered.length} bytes left over)`);
}

/** Writes one size-delimited message; resolves once it is handed to the OS. */
export function writeDelimited<Desc extends DescMessage>(output: Writable, schema: Desc, message: MessageShape<Desc>): Promise<void> {
  const bytes = toBinary(schema, message);
  const out = Buffer.allocUnsafe(4 + bytes.length);
  out.writeUInt32BE(bytes.length, 0);
  out.set(bytes, 4);
  return new Promise((resolve, reject) => output.write(out, (err) => (err ? reject(err) : resolve())));
}
