export type BedrockErrorCode =
  | 'ThrottlingException'
  | 'ServiceUnavailableException'
  | 'InternalServerException'
  | 'ModelTimeoutException'
  | 'ModelNotReadyException'
  | 'ValidationException'
  | 'ResourceNotFoundException'
  | 'AccessDeniedException'
  | 'ConflictException'
  | 'UnknownOperationException';

const STATUS: Record<BedrockErrorCode, number> = {
  ThrottlingException: 429,
  ServiceUnavailableException: 503,
  InternalServerException: 500,
  ModelTimeoutException: 408,
  ModelNotReadyException: 429,
  ValidationException: 400,
  ResourceNotFoundException: 404,
  AccessDeniedException: 403,
  ConflictException: 409,
  UnknownOperationException: 404,
};

/** An error answered exactly as Bedrock answers it: status, `x-amzn-errortype`, `{"message"}` body. */
export class BedrockError extends Error {
  readonly status: number;
  constructor(
    readonly code: BedrockErrorCode,
    message: string,
  ) {
    super(message);
    this.name = code;
    this.status = STATUS[code];
  }

  get errorTypeHeader(): string {
    return `${this.code}:http://internal.amazon.com/coral/com.amazon.bedrock/`;
  }
}

export const MESSAGES = {
  throttled: 'Too many requests, please wait before trying again.',
  unavailable: 'Bedrock is unable to process your request.',
  internal: 'The system encountered an unexpected error during processing. Try your request again.',
  timeout: 'Model has timed out in processing the request. Try your request again.',
  notReady:
    'Model is not ready to serve inference requests. The AWS SDK will automatically retry the operation up to 5 times.',
  streamError: 'The model encountered an error while streaming the response. Try your request again.',
  notFound: 'Could not resolve the foundation model from the provided model identifier.',
  accessDenied: "You don't have access to the model with the specified model ID.",
  asyncOnly: 'This model is served only through StartAsyncInvoke (asynchronous invocation).',
} as const;

export const malformedInput = (detail: string): BedrockError =>
  new BedrockError('ValidationException', `Malformed input request: ${detail}, please reformat your input and try again.`);
