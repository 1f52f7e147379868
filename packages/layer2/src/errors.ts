/** Why a codec rejected its input; stable strings so callers can switch and count on them. */
export type CodecErrorCode =
  'truncated' | 'badEthertype' | 'unsupportedArp' | 'badIpVersion' | 'badPayloadLength' | 'notIcmpv6' | 'badChecksum' | 'badIcmpCode' | 'unknownNdpType' | 'badOption' | 'badAddress';

/** A typed decode/encode failure: decoders return it, encoders throw it on invalid arguments. */
export class CodecError extends Error {
  /** Machine-readable reason. */
  readonly code: CodecErrorCode;

  /** Builds an error with a reason code and a message naming the offending value. */
  constructor(code: CodecErrorCode, message: string) {
    super(message);
    this.name = 'CodecError';
    this.code = code;
  }
}

/** True when a decoder returned an error instead of a value. */
export function isCodecError(v: unknown): v is CodecError {
  return v instanceof CodecError;
}
