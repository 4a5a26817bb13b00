import { connect as connectHttp2, constants } from "node:http2";
import { connect as connectNet } from "node:net";

/** A gRPC status as read from the trailers (or a trailers-only response). */
export interface RawStatus {
  httpStatus: number;
  grpcStatus: number | undefined;
  grpcMessage: string | undefined;
}

/**
 * Sends one gRPC request whose message bytes are exactly `payload` (one
 * length-prefixed frame), bypassing any client library, so malformed input
 * reaches the unit as is.
 */
export function sendRawGrpc(address: string, path: string, payload: Buffer): Promise<RawStatus> {
  const unixPath = address.startsWith("unix:") ? address.replace(/^unix:(\/\/)?/, "") : undefined;
  const session = unixPath
    ? connectHttp2("http://localhost", { createConnection: () => connectNet(unixPath) })
    : connectHttp2(`http://${address.replace(/^tcp:\/\//, "")}`);
  return new Promise((resolve, reject) => {
    session.once("error", reject);
    const frame = Buffer.alloc(5 + payload.length);
    frame.writeUInt8(0, 0);
    frame.writeUInt32BE(payload.length, 1);
    payload.copy(frame, 5);
    const stream = session.request({
      [constants.HTTP2_HEADER_METHOD]: "POST",
      [constants.HTTP2_HEADER_PATH]: path,
      [constants.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
      te: "trailers",
    });
    let httpStatus = 0;
    let status: Pick<RawStatus, "grpcStatus" | "grpcMessage"> = { grpcStatus: undefined, grpcMessage: undefined };
    const read = (headers: Record<string, unknown>) => {
      if (headers["grpc-status"] !== undefined) {
        status = {
          grpcStatus: Number(headers["grpc-status"]),
          grpcMessage: headers["grpc-message"] === undefined ? undefined : decodeURIComponent(String(headers["grpc-message"])),
        };
      }
    };
    stream.on("response", (headers) => {
      httpStatus = Number(headers[constants.HTTP2_HEADER_STATUS]);
      read(headers);
    });
    stream.on("trailers", read);
    stream.on("data", () => {});
    stream.once("error", reject);
    stream.once("close", () => {
      session.close();
      resolve({ httpStatus, ...status });
    });
    stream.end(frame);
  });
}
